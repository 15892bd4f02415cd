import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ChdbEngine } from "../src/analytics-store/chdb-engine.ts";
import { EVENTS_TABLE } from "../src/analytics-store/index.ts";
import { discoverAnalyticsMigrations } from "../src/analytics-store/migrations.ts";
import { eventRowJson } from "../src/features/analytics/events.ts";
import { benchPostgres, percentile, spawnBenchServer } from "./support.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CLIENTS = 8;
const BATCH = 100;

interface AnalyticsServer {
  port: number;
  projectId: string;
  adminKey: string;
  userId: string;
  accessToken: string;
}

const pageView = (i: number) => ({
  event_type: "$page-view",
  event_at_ms: Date.now() - i,
  data: {
    url: `https://app.example.com/pricing?ref=${i}`,
    path: "/pricing",
    referrer: "https://news.example.org/",
    title: "Pricing — Example",
    entry_type: "push",
    viewport_width: 1280,
    viewport_height: 720,
    screen_width: 1920,
    screen_height: 1080,
  },
});

/**
 * Events/s through `POST /analytics/events/batch` (batches of 100, 8 clients) next to raw inserts of
 * the same rows straight into the engine, in batches of 100 and of 10,000, plus the count check.
 */
export async function runIngestBench(): Promise<Record<string, unknown>> {
  const postgres = await benchPostgres();
  const events = Array.from({ length: BATCH }, (_, i) => pageView(i));
  let http: Record<string, unknown>;
  let stored: number;
  let acknowledged: number;
  try {
    const server = await spawnBenchServer<AnalyticsServer>("analytics.ts", { DATABASE_URL: postgres.url });
    try {
      const base = `http://127.0.0.1:${server.info.port}/api/v1`;
      const body = JSON.stringify({
        session_replay_segment_id: randomUUID(),
        batch_id: randomUUID(),
        sent_at_ms: Date.now(),
        events,
      });
      const headers = {
        "content-type": "application/json",
        "x-stack-project-id": server.info.projectId,
        "x-stack-access-type": "client",
        "x-stack-access-token": server.info.accessToken,
      };
      const url = `${base}/analytics/events/batch`;
      const warmup = await postBatches(url, headers, body, 2);
      const run = await postBatches(url, headers, body, SECONDS);
      acknowledged = (warmup.acknowledged + run.acknowledged) * BATCH;
      http = {
        eventsPerSecond: Math.round((run.acknowledged * BATCH) / run.seconds),
        requestsPerSecond: Math.round(run.acknowledged / run.seconds),
        latencyP50Ms: run.p50,
        latencyP99Ms: run.p99,
        refused: run.refused + warmup.refused,
      };
      const count = await fetch(`${base}/internal/analytics/query`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-stack-project-id": server.info.projectId,
          "x-stack-access-type": "admin",
          "x-stack-super-secret-admin-key": server.info.adminKey,
        },
        body: JSON.stringify({ query: "SELECT count() AS n FROM events WHERE event_type = '$page-view'" }),
      });
      stored = Number(((await count.json()) as { result: { n: string }[] }).result[0]!.n);
    } finally {
      await server.stop();
    }
  } finally {
    await postgres.stop();
  }

  const rows = events.map((event) =>
    eventRowJson({
      ...event,
      project_id: "bench-project",
      branch_id: "main",
      user_id: randomUUID(),
      is_anonymous: false,
      refresh_token_id: randomUUID(),
      session_replay_segment_id: randomUUID(),
    }),
  );
  const raw100 = await rawInsertRate(rows, 1, 1);
  const raw100Concurrent = await rawInsertRate(rows, 1, CLIENTS);
  const raw10k = await rawInsertRate(rows, 100, 1);

  const eventsPerSecond = http.eventsPerSecond as number;
  const results = {
    http,
    raw: {
      batchOf100RowsPerSecond: raw100,
      batchOf100With8ClientsRowsPerSecond: raw100Concurrent,
      batchOf10000RowsPerSecond: raw10k,
    },
    ratioToRaw100: round(eventsPerSecond / raw100),
    ratioToRaw100With8Clients: round(eventsPerSecond / raw100Concurrent),
    ratioToRaw10000: round(eventsPerSecond / raw10k),
    countCheck: { acknowledged, stored, equal: acknowledged === stored },
  };
  console.log(
    `POST /analytics/events/batch (100 events, ${CLIENTS} clients): ${eventsPerSecond} events/s, p50 ${http.latencyP50Ms} ms, p99 ${http.latencyP99Ms} ms`,
  );
  console.log(
    `raw chDB inserts, 100 rows:             ${raw100} rows/s  → ratio ${results.ratioToRaw100} (target ≥ 1.0)`,
  );
  console.log(
    `raw chDB inserts, 100 rows, ${CLIENTS} clients:  ${raw100Concurrent} rows/s  → ratio ${results.ratioToRaw100With8Clients}`,
  );
  console.log(`raw chDB inserts, 10,000 rows:          ${raw10k} rows/s  → ratio ${results.ratioToRaw10000}`);
  console.log(
    `count check: ${acknowledged} acknowledged, ${stored} stored${acknowledged === stored ? "" : "  ← MISMATCH"}`,
  );
  return results;
}

/**
 * `CLIENTS` loops posting the same batch back to back for `seconds`. Unlike a load generator that
 * stops mid-request, every request started is awaited, so the acknowledged count is exact.
 */
async function postBatches(url: string, headers: Record<string, string>, body: string, seconds: number) {
  const latencies: number[] = [];
  let acknowledged = 0;
  let refused = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < deadline) {
        const sent = performance.now();
        const response = await fetch(url, { method: "POST", headers, body });
        await response.arrayBuffer();
        latencies.push(performance.now() - sent);
        if (response.status === 200) acknowledged++;
        else refused++;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q: number) => percentile(latencies, q);
  return {
    acknowledged,
    refused,
    seconds: (performance.now() - started) / 1000,
    p50: at(0.5),
    p99: at(0.99),
  };
}

/** Rows/s inserting `rows` × `repeat` per INSERT from `clients` concurrent inserters, into a fresh store. */
async function rawInsertRate(rows: string[], repeat: number, clients: number): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "latchkey-bench-raw-"));
  const engine = ChdbEngine.open(dir);
  try {
    for (const migration of discoverAnalyticsMigrations()) {
      for (const statement of migration.statements) await engine.command(statement);
    }
    const payload = Array.from({ length: repeat }, () => rows.join("\n")).join("\n");
    const perInsert = rows.length * repeat;
    const deadline = performance.now() + SECONDS * 1000;
    let inserted = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (performance.now() < deadline) {
          await engine.insertJsonRows(EVENTS_TABLE, payload);
          inserted += perInsert;
        }
      }),
    );
    return Math.round(inserted / ((performance.now() - started) / 1000));
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const round = (value: number) => Math.round(value * 1000) / 1000;
