import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../test/server.ts";
import type { AnalyticsEngine } from "./engine.ts";
import { GroupCommitInserter } from "./group-commit.ts";
import { EVENTS_TABLE } from "./index.ts";

/** Group commit against the real analytics store, counting the inserts it makes. */
let test: TestServer;

beforeAll(async () => {
  test = await startTestServer();
});
afterAll(() => test?.close());

function countingEngine() {
  const engine = test.server.app.analytics.engine;
  const inserts: number[] = [];
  const counting: AnalyticsEngine = {
    kind: engine.kind,
    command: (sql) => engine.command(sql),
    query: (sql, options) => engine.query(sql, options),
    close: () => engine.close(),
    insertJsonRows: (table, ndjson) => {
      inserts.push(ndjson.split("\n").length);
      return engine.insertJsonRows(table, ndjson);
    },
  };
  return { engine: counting, inserts };
}

const eventRow = (projectId: string) =>
  JSON.stringify({
    event_type: "$token-refresh",
    event_at: new Date().toISOString(),
    data: {},
    project_id: projectId,
    branch_id: "main",
    user_id: randomUUID(),
  });

async function storedRows(projectId: string): Promise<number> {
  const { text } = await test.server.app.analytics.engine.query(
    `SELECT count() AS n FROM ${EVENTS_TABLE} WHERE project_id = {project:String}`,
    { params: { project: projectId }, format: "JSONEachRow" },
  );
  return Number(JSON.parse(text).n);
}

describe("GroupCommitInserter", () => {
  it("writes a lone caller at once and settles each caller after its rows are stored", async () => {
    const projectId = randomUUID();
    const { engine, inserts } = countingEngine();
    const inserter = new GroupCommitInserter(engine, EVENTS_TABLE);
    await inserter.write([eventRow(projectId)]);
    expect(await storedRows(projectId)).toBe(1);
    // Callers arriving while an insert runs share the next one.
    await Promise.all(Array.from({ length: 20 }, () => inserter.write([eventRow(projectId)])));
    expect(await storedRows(projectId)).toBe(21);
    expect(inserts.length).toBeLessThan(21);
  });

  it("with a linger, gathers writes that come within it into one insert; flush waits for them", async () => {
    const projectId = randomUUID();
    const { engine, inserts } = countingEngine();
    // Ten writes 5 ms apart take some 50 ms: a second's linger leaves a loaded machine room to spare.
    const inserter = new GroupCommitInserter(engine, EVENTS_TABLE, { lingerMs: 1000 });
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 10; i++) {
      writes.push(inserter.write([eventRow(projectId)]));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(await storedRows(projectId)).toBe(0);
    await inserter.flush();
    expect(await storedRows(projectId)).toBe(10);
    expect(inserts).toEqual([10]);
    await Promise.all(writes);
  });

  it("with a linger, a steady stream of writes makes one insert per linger, not one per arrival", async () => {
    const projectId = randomUUID();
    const { engine, inserts } = countingEngine();
    const lingerMs = 150;
    const inserter = new GroupCommitInserter(engine, EVENTS_TABLE, { lingerMs });
    const writes: Promise<void>[] = [];
    const started = performance.now();
    while (performance.now() - started < 6 * lingerMs) {
      writes.push(inserter.write([eventRow(projectId)]));
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    await inserter.flush();
    await Promise.all(writes);
    expect(await storedRows(projectId)).toBe(writes.length);
    expect(inserts.reduce((sum, rows) => sum + rows, 0)).toBe(writes.length);
    // Six lingers of writing, plus the one the last writes wait out.
    expect(inserts.length).toBeLessThanOrEqual(7);
  });

  it("finds the one refused write among many by halving: the rest land, in a few inserts", async () => {
    const { engine, inserts } = countingEngine();
    const inserter = new GroupCommitInserter(engine, EVENTS_TABLE, { lingerMs: 200 });
    const projectId = randomUUID();
    const writes = Array.from({ length: 16 }, (_, i) =>
      inserter.write([i === 11 ? '{"event_type": "$broken", "event_at": ' : eventRow(projectId)]),
    );
    const settled = await Promise.allSettled(writes);
    expect(settled.filter((s) => s.status === "rejected")).toHaveLength(1);
    expect(settled[11]!.status).toBe("rejected");
    expect(await storedRows(projectId)).toBe(15);
    // 1 + 2 per level of halving (4 levels for 16), where one insert per caller would be 17.
    expect(inserts.length).toBeLessThanOrEqual(9);
  });

  it("refuses new writes as 'store unavailable' once too many rows wait, and lands those that waited", async () => {
    const { engine } = countingEngine();
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const stalled: typeof engine = {
      ...engine,
      insertJsonRows: async (table, ndjson) => {
        await gate;
        return engine.insertJsonRows(table, ndjson);
      },
    };
    const inserter = new GroupCommitInserter(stalled, EVENTS_TABLE, { maxQueuedRows: 5 });
    const projectId = randomUUID();
    const inFlight = inserter.write([eventRow(projectId)]);
    const waiting = inserter.write(Array.from({ length: 5 }, () => eventRow(projectId)));
    await expect(inserter.write([eventRow(projectId)])).rejects.toMatchObject({
      name: "AnalyticsEngineError",
      unavailable: true,
    });
    release();
    await Promise.all([inFlight, waiting]);
    expect(await storedRows(projectId)).toBe(6);
    // Room again once the queue drained.
    await inserter.write([eventRow(projectId)]);
    expect(await storedRows(projectId)).toBe(7);
  });
});
