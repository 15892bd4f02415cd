import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import {
  type BrowserEvent,
  enableAnalytics,
  pageView,
  postEvents,
  queryAnalytics,
} from "../../../test/analytics.ts";
import { type ClickHouseHttp, startClickHouseHttp } from "../../../test/clickhouse-http.ts";
import {
  createTestProject,
  signUpWithPassword,
  startTestServer,
  type TestProject,
  type TestServer,
} from "../../../test/server.ts";
import { startKillableServer } from "../../../test/server-process.ts";

const EVENTS_PER_BATCH = 50;
const batchOf = (marker: string): BrowserEvent[] =>
  Array.from({ length: EVENTS_PER_BATCH }, (_, i) => pageView(`/${marker}/${i}`));

describe("an acknowledged batch survives kill -9", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  });

  it("finds every acknowledged batch after the server is killed mid-stream and restarted", async () => {
    const killable = await startKillableServer("Kill test");
    cleanups.push(() => killable.cleanup());
    const { project } = killable;
    let server = killable.server;
    const target = { url: server.url } as TestServer;
    await enableAnalytics(target, project);
    const user = await signUpWithPassword(target, project);

    const acknowledged: string[] = [];
    let streaming = true;
    const clients = Array.from({ length: 4 }, async () => {
      while (streaming) {
        const segment = randomUUID();
        try {
          const res = await postEvents(target, project, user.access_token, batchOf(segment), segment);
          if (res.status === 200) acknowledged.push(segment);
        } catch {
          // The server died under this request: it was never acknowledged.
        }
      }
    });
    while (acknowledged.length < 20) await new Promise((resolve) => setTimeout(resolve, 20));
    await server.kill("SIGKILL");
    streaming = false;
    await Promise.all(clients);

    server = await killable.restart();
    const stored = await queryAnalytics(
      { url: server.url } as TestServer,
      project,
      `SELECT session_replay_segment_id AS segment, count() AS n FROM events
       WHERE event_type = '$page-view' GROUP BY segment`,
    );
    expect(stored.status).toBe(200);
    const counts = new Map<string, number>(
      stored.body.result.map((row: { segment: string; n: string }) => [row.segment, Number(row.n)]),
    );
    const missing = acknowledged.filter((segment) => counts.get(segment) !== EVENTS_PER_BATCH);
    expect(acknowledged.length).toBeGreaterThanOrEqual(20);
    expect(missing).toEqual([]);
  }, 120_000);
});

describe("an analytics store outage", () => {
  let clickhouse: ClickHouseHttp;
  let test: TestServer;
  let project: TestProject;
  afterAll(async () => {
    await test?.close();
    await clickhouse?.close();
  });

  it("answers 503 with Retry-After while the store is down, and a retry lands once", async () => {
    clickhouse = await startClickHouseHttp();
    test = await startTestServer({ clickhouseUrl: clickhouse.url });
    project = await createTestProject(test);
    await enableAnalytics(test, project);
    const user = await signUpWithPassword(test, project);

    await clickhouse.stop();
    const segment = randomUUID();
    const body = { batch_id: randomUUID(), sent_at_ms: Date.now() };
    const refused = await postEvents(test, project, user.access_token, batchOf(segment), segment, body);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("5");

    await clickhouse.restart();
    const retried = await postEvents(test, project, user.access_token, batchOf(segment), segment, body);
    expect(retried.status).toBe(200);
    const stored = await queryAnalytics(
      test,
      project,
      "SELECT count() AS n FROM events WHERE session_replay_segment_id = {s:String}",
      {
        params: { s: segment },
      },
    );
    expect(stored.body.result).toEqual([{ n: String(EVENTS_PER_BATCH) }]);
  }, 60_000);
});
