import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import pg from "pg";
import { from as copyFrom, to as copyTo } from "pg-copy-streams";
import { startEmbeddedPostgres } from "../src/db/embedded-postgres.ts";
import { benchPostgres, percentile, spawnBenchServer } from "./support.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CHANGES_PER_SECOND = 1000;
const WRITERS = 4;
const BACKFILL_USERS = Number(process.env.BENCH_BACKFILL_USERS ?? 1_000_000);

interface SyncServer {
  port: number;
  projects: Record<"latency" | "backfill", { projectId: string; adminKey: string; tenancyId: string }>;
}

/**
 * Commit-to-visible latency at a steady 1,000 changes/s, and backfill throughput of 1,000,000 users
 * next to a raw COPY of the same rows between the same two PostgreSQL servers.
 */
export async function runSyncBench(): Promise<Record<string, unknown>> {
  const source = await benchPostgres();
  const targetDir = mkdtempSync(path.join(os.tmpdir(), "latchkey-bench-target-"));
  chmodSync(targetDir, 0o755);
  const targetServer = await startEmbeddedPostgres({
    dataDir: targetDir,
    port: 40000 + Math.floor(Math.random() * 10000),
  });
  const targetAdmin = new pg.Client({ connectionString: targetServer.connectionString });
  await targetAdmin.connect();
  await targetAdmin.query("CREATE DATABASE latency_target");
  await targetAdmin.query("CREATE DATABASE backfill_target");
  await targetAdmin.end();
  const targetUrl = (database: string) => {
    const url = new URL(targetServer.connectionString);
    url.pathname = `/${database}`;
    return url.toString();
  };
  const server = await spawnBenchServer<SyncServer>("sync.ts", { DATABASE_URL: source.url });
  const sourcePool = new pg.Pool({ connectionString: source.url, max: WRITERS + 2 });
  try {
    const base = `http://127.0.0.1:${server.info.port}/api/v1`;
    const configure = async (project: SyncServer["projects"]["latency"], url: string) => {
      const response = await fetch(`${base}/internal/config/override/environment`, {
        method: "PATCH",
        headers: {
          "content-type": "application/json",
          "x-stack-project-id": project.projectId,
          "x-stack-access-type": "admin",
          "x-stack-super-secret-admin-key": project.adminKey,
        },
        body: JSON.stringify({
          config_override_string: JSON.stringify({
            "dbSync.externalDatabases": { bench: { type: "postgres", connectionString: url } },
          }),
        }),
      });
      if (!response.ok) throw new Error(`configure: ${response.status} ${await response.text()}`);
    };
    const latency = await measureLatency(
      sourcePool,
      server.info.projects.latency,
      targetUrl("latency_target"),
      configure,
    );
    const backfill = await measureBackfill(
      sourcePool,
      server.info.projects.backfill,
      targetUrl("backfill_target"),
      configure,
    );
    const results = { latency, backfill };
    console.log(
      `commit → visible in target at ${latency.changesPerSecond} changes/s: p50 ${latency.p50Ms} ms, p99 ${latency.p99Ms} ms, max ${latency.maxMs} ms (targets p50 < 100, p99 < 500); ${latency.missing} missing`,
    );
    console.log(
      `backfill of ${BACKFILL_USERS} users: ${backfill.syncRowsPerSecond} rows/s (sequencing ${backfill.sequencingSeconds} s before it) vs raw COPY ${backfill.rawCopyRowsPerSecond} rows/s → ratio ${backfill.ratio} (target ≥ 0.5)`,
    );
    return results;
  } finally {
    await sourcePool.end();
    await server.stop();
    await targetServer.stop();
    rmSync(targetDir, { recursive: true, force: true });
    await source.stop();
  }
}

type Configure = (project: SyncServer["projects"]["latency"], url: string) => Promise<void>;

async function count(url: string, table = "users"): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return Number((await client.query(`SELECT count(*)::text AS n FROM ${table}`)).rows[0].n);
  } catch {
    return 0;
  } finally {
    await client.end();
  }
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function measureLatency(
  sourcePool: pg.Pool,
  project: SyncServer["projects"]["latency"],
  targetUrl: string,
  configure: Configure,
) {
  const users = 1000;
  const { rows } = await sourcePool.query<{ id: string }>(
    "INSERT INTO users (tenancy_id, display_name) SELECT $1, 'user ' || g FROM generate_series(1, $2::int) g RETURNING id",
    [project.tenancyId, users],
  );
  const ids = rows.map((row) => row.id);
  await configure(project, targetUrl);
  await waitFor(async () => (await count(targetUrl)) === users, 120_000);

  // The target tells us when a change became visible there: a trigger of ours (we are the customer).
  const listener = new pg.Client({ connectionString: targetUrl });
  await listener.connect();
  await listener.query(`CREATE FUNCTION bench_seen() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_notify('bench_seen', NEW.display_name); RETURN NEW; END $$`);
  await listener.query(
    "CREATE TRIGGER bench_seen AFTER INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION bench_seen()",
  );
  const committedAt = new Map<string, number>();
  const latencies: number[] = [];
  listener.on("notification", (message) => {
    const sent = committedAt.get(message.payload ?? "");
    if (sent !== undefined) latencies.push(Math.max(0, performance.now() - sent));
  });
  await listener.query("LISTEN bench_seen");

  const total = CHANGES_PER_SECOND * SECONDS;
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      for (;;) {
        const index = next++;
        if (index >= total) return;
        const due = started + (index * 1000) / CHANGES_PER_SECOND;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        const name = `change ${index}`;
        await sourcePool.query("UPDATE users SET display_name = $2 WHERE id = $1", [
          ids[index % users],
          name,
        ]);
        committedAt.set(name, performance.now());
      }
    }),
  );
  const achieved = Math.round(total / ((performance.now() - started) / 1000));
  // Changes to one user within a sync cycle are coalesced (state sync): each user's last change (the
  // highest index for that user) is what the target must end on.
  const expected = new Set(Array.from({ length: users }, (_, i) => `change ${total - users + i}`));
  await waitFor(async () => latencies.length >= expected.size, 30_000).catch(() => {});
  const at = (q: number) => percentile(latencies, q);
  // The target must end on each user's last change; wait (bounded) for stragglers, then count misses.
  const finalNames = async () => {
    const client = new pg.Client({ connectionString: targetUrl });
    await client.connect();
    try {
      return new Set(
        (await client.query<{ display_name: string }>("SELECT display_name FROM users")).rows.map(
          (r) => r.display_name,
        ),
      );
    } finally {
      await client.end();
    }
  };
  const missingNow = async () => {
    const names = await finalNames();
    return [...expected].filter((name) => !names.has(name)).length;
  };
  await waitFor(async () => (await missingNow()) === 0, 10_000).catch(() => {});
  const missing = await missingNow();
  await listener.end();
  latencies.sort((a, b) => a - b);
  return {
    changesPerSecond: achieved,
    changes: total,
    changesSeenInTarget: latencies.length,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: Math.round(latencies[latencies.length - 1]! * 10) / 10,
    missing,
  };
}

async function measureBackfill(
  sourcePool: pg.Pool,
  project: SyncServer["projects"]["backfill"],
  targetUrl: string,
  configure: Configure,
) {
  const insertStarted = performance.now();
  for (let offset = 0; offset < BACKFILL_USERS; offset += 100_000) {
    await sourcePool.query(
      `INSERT INTO users (tenancy_id, display_name, client_metadata)
       SELECT $1, 'backfill ' || g, jsonb_build_object('n', g) FROM generate_series($2::int, $3::int) g`,
      [project.tenancyId, offset + 1, Math.min(offset + 100_000, BACKFILL_USERS)],
    );
  }
  const insertSeconds = (performance.now() - insertStarted) / 1000;
  const sequencingStarted = performance.now();
  await waitFor(
    async () =>
      Number(
        (
          await sourcePool.query(
            "SELECT count(*)::text AS n FROM users WHERE tenancy_id = $1 AND sync_dirty",
            [project.tenancyId],
          )
        ).rows[0].n,
      ) === 0,
    600_000,
  );
  const sequencingSeconds = (performance.now() - sequencingStarted) / 1000;
  // Both copies below read the same settled table: a backfill meets a table in its steady state, not
  // one still being vacuumed after a million fresh inserts and their sequencing.
  await sourcePool.query("VACUUM ANALYZE users");
  await sourcePool.query("CHECKPOINT");

  const lastSeq = BigInt(
    (
      await sourcePool.query("SELECT max(sync_seq)::text AS s FROM users WHERE tenancy_id = $1", [
        project.tenancyId,
      ])
    ).rows[0].s,
  );
  const settle = new pg.Client({ connectionString: targetUrl });
  await settle.connect();
  await settle.query("CHECKPOINT");
  await settle.end();
  const syncStarted = performance.now();
  await configure(project, targetUrl);
  // Done when the target's cursor reached the last row (cheap to poll, unlike counting the table).
  const cursorReached = async () => {
    const client = new pg.Client({ connectionString: targetUrl });
    await client.connect();
    try {
      const { rows } = await client.query(
        "SELECT last_synced_sequence_id::text AS c FROM _latchkey_sync_cursors WHERE tenancy_id = $1 AND mapping_name = 'users'",
        [project.tenancyId],
      );
      return rows.length > 0 && BigInt(rows[0].c) >= lastSeq;
    } catch {
      return false;
    } finally {
      await client.end();
    }
  };
  await waitFor(cursorReached, 1_800_000);
  const syncSeconds = (performance.now() - syncStarted) / 1000;
  const synced = await count(targetUrl);
  if (synced !== BACKFILL_USERS)
    throw new Error(`backfill: ${synced} rows in the target, expected ${BACKFILL_USERS}`);

  // The raw baseline: the same rows and columns, COPY out of one server and COPY into the other.
  const target = new pg.Client({ connectionString: targetUrl });
  await target.connect();
  const reader = await sourcePool.connect();
  let rawSeconds: number;
  try {
    await target.query("CREATE TABLE users_raw (LIKE users INCLUDING ALL)");
    await target.query("CHECKPOINT");
    const rawStarted = performance.now();
    await pipeline(
      reader.query(
        copyTo(`COPY (SELECT u.id, u.display_name, u.profile_image_url, NULL::text, false, u.signed_up_at,
                  coalesce(u.client_metadata, '{}'), coalesce(u.client_read_only_metadata, '{}'),
                  coalesce(u.server_metadata, '{}'), u.is_anonymous, u.sync_seq
                FROM users u WHERE u.tenancy_id = '${project.tenancyId}') TO STDOUT`),
      ),
      target.query(copyFrom("COPY users_raw FROM STDIN")),
    );
    rawSeconds = (performance.now() - rawStarted) / 1000;
  } finally {
    reader.release();
    await target.end();
  }
  const syncRowsPerSecond = Math.round(BACKFILL_USERS / syncSeconds);
  const rawCopyRowsPerSecond = Math.round(BACKFILL_USERS / rawSeconds);
  return {
    users: BACKFILL_USERS,
    insertSeconds: Math.round(insertSeconds * 10) / 10,
    sequencingSeconds: Math.round(sequencingSeconds * 10) / 10,
    syncSeconds: Math.round(syncSeconds * 10) / 10,
    syncRowsPerSecond,
    rawCopySeconds: Math.round(rawSeconds * 10) / 10,
    rawCopyRowsPerSecond,
    ratio: Math.round((syncRowsPerSecond / rawCopyRowsPerSecond) * 1000) / 1000,
  };
}
