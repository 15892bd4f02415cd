import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { type CompiledQuery, Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { openAnalyticsStore } from "../src/analytics-store/index.ts";
import { seedProject } from "../src/cli/seeder/index.ts";
import { readServerEnv } from "../src/config/env.ts";
import { openDatabase } from "../src/db/database.ts";
import { startEmbeddedPostgres } from "../src/db/embedded-postgres.ts";
import { discoverMigrations } from "../src/db/migrations/discover.ts";
import { applyMigrations } from "../src/db/migrations/runner.ts";
import type { Database } from "../src/db/schema.ts";
import { createProjectWithKeys, ProjectStore } from "../src/features/projects/index.ts";
import { listUsers } from "../src/features/users/list.ts";
import type { UserListQuery } from "../src/features/users/schemas.ts";
import { percentile, repoRoot, spawnBenchServer } from "./support.ts";

/** Seeded once, reused by later runs (delete the directory to reseed). */
const DATA_DIR = path.join(repoRoot, ".latchkey", "bench-metrics");
const SIZES = (process.env.BENCH_METRICS_SIZES ?? "100000,1000000").split(",").map(Number);
const EVENTS_PER_USER = Number(process.env.BENCH_METRICS_EVENTS_PER_USER ?? 10);
const SAMPLES = 30;

interface SeededProject {
  users: number;
  events: number;
  projectId: string;
  tenancyId: string;
  serverKey: string;
  adminKey: string;
}

/**
 * `GET /internal/metrics` cold and cached, and `GET /users` (first page in both orders, a search, a
 * page 10,000 rows deep) on projects of 100,000 and 1,000,000 users with 10 events each, side by side.
 */
export async function runMetricsBench(): Promise<Record<string, unknown>> {
  mkdirSync(DATA_DIR, { recursive: true });
  const postgres = await startEmbeddedPostgres({ dataDir: path.join(DATA_DIR, "postgres"), port: 45432 });
  const analyticsDir = path.join(DATA_DIR, "analytics");
  try {
    await applyMigrations(postgres.connectionString, discoverMigrations());
    const projects = await seedMissing(postgres.connectionString, analyticsDir);
    // Settled tables and fresh statistics, as autovacuum keeps them (a migration may just have
    // rewritten a column the plans depend on).
    await vacuumAnalyze(postgres.connectionString);
    const server = await spawnBenchServer<{ port: number }>("metrics.ts", {
      DATABASE_URL: postgres.connectionString,
      LATCHKEY_ANALYTICS_DIR: analyticsDir,
    });
    const pool = new pg.Pool({ connectionString: postgres.connectionString, max: 2 });
    try {
      const base = `http://127.0.0.1:${server.info.port}/api/v1`;
      const results: Record<string, unknown> = {};
      let slowest: { p50: number; label: string; project: SeededProject; query: UserListQuery } | null = null;
      for (const project of projects) {
        const label = `${project.users / 1000}k users`;
        console.log(`\n${label}, ${project.events.toLocaleString()} events`);
        const metrics = await measureMetrics(base, project, pool);
        const lists = await measureLists(base, project, pool);
        results[label] = { users: project.users, events: project.events, metrics, users_list: lists.figures };
        for (const [name, figure] of Object.entries(lists.figures)) {
          if (!slowest || figure.p50Ms > slowest.p50) {
            slowest = { p50: figure.p50Ms, label: `${label}: ${name}`, project, query: lists.queries[name]! };
          }
        }
      }
      if (slowest) {
        console.log(`\nSlowest list query (${slowest.label}, p50 ${slowest.p50} ms):`);
        const plan = await explainList(postgres.connectionString, slowest.project, slowest.query);
        console.log(plan);
        results.slowest_list_query = { case: slowest.label, p50Ms: slowest.p50, plan };
      }
      return results;
    } finally {
      await pool.end();
      await server.stop();
    }
  } finally {
    await postgres.stop();
  }
}

async function seedMissing(databaseUrl: string, analyticsDir: string): Promise<SeededProject[]> {
  const registry = path.join(DATA_DIR, "projects.json");
  const known: SeededProject[] = existsSync(registry) ? JSON.parse(readFileSync(registry, "utf8")) : [];
  const missing = SIZES.filter((size) => !known.some((p) => p.users === size));
  if (missing.length > 0) {
    const database = openDatabase(databaseUrl);
    const analytics = await openAnalyticsStore(
      { ...readServerEnv(), clickhouseUrl: null, analyticsDir },
      databaseUrl,
      () => {},
    );
    try {
      for (const users of missing) {
        const events = users * EVENTS_PER_USER;
        console.log(`Seeding ${users.toLocaleString()} users and ${events.toLocaleString()} events…`);
        const { projectId, keys } = await createProjectWithKeys(database, {
          displayName: `Metrics bench ${users}`,
        });
        const started = performance.now();
        await seedProject({
          databaseUrl,
          engine: analytics.engine,
          write: (line) => process.stdout.write(line),
          projectId,
          branchId: "main",
          users,
          events,
          days: 60,
        });
        console.log(`  seeded in ${((performance.now() - started) / 1000).toFixed(1)} s`);
        const tenancy = await database.db
          .selectFrom("tenancies")
          .select("id")
          .where("project_id", "=", projectId)
          .executeTakeFirstOrThrow();
        known.push({
          users,
          events,
          projectId,
          tenancyId: tenancy.id,
          serverKey: keys.secret_server_key!,
          adminKey: keys.super_secret_admin_key!,
        });
        writeFileSync(registry, JSON.stringify(known, null, 2));
      }
    } finally {
      await analytics.close();
      await database.close();
    }
  }
  return SIZES.map((size) => known.find((p) => p.users === size)!);
}

async function vacuumAnalyze(databaseUrl: string) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("VACUUM ANALYZE");
  } finally {
    await client.end();
  }
}

async function timed(
  run: () => Promise<Response>,
): Promise<{ ms: number; response: Response; body: string }> {
  const started = performance.now();
  const response = await run();
  const body = await response.text();
  if (!response.ok) throw new Error(`${response.url}: ${response.status} ${body}`);
  return { ms: performance.now() - started, response, body };
}

const p50 = (values: number[]) => percentile(values, 0.5);

async function measureMetrics(base: string, project: SeededProject, pool: pg.Pool) {
  const headers = {
    "x-stack-project-id": project.projectId,
    "x-stack-access-type": "admin",
    "x-stack-super-secret-admin-key": project.adminKey,
  };
  const get = () => fetch(`${base}/internal/metrics`, { headers });
  const cold: number[] = [];
  for (let i = 0; i < 3; i++) {
    await pool.query("DELETE FROM cache_entries WHERE namespace = 'metrics' AND tenancy_id = $1", [
      project.tenancyId,
    ]);
    const { ms, response } = await timed(get);
    if (response.headers.get("x-latchkey-cache") !== "miss") throw new Error("expected a cold computation");
    cold.push(ms);
  }
  const cached: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const { ms, response } = await timed(get);
    if (response.headers.get("x-latchkey-cache") !== "hit") throw new Error("expected a cached answer");
    cached.push(ms);
  }
  const figures = { coldP50Ms: p50(cold), coldRunsMs: cold.map(Math.round), cachedP50Ms: p50(cached) };
  console.log(
    `  GET /internal/metrics  cold p50 ${figures.coldP50Ms} ms   cached p50 ${figures.cachedP50Ms} ms`,
  );
  return figures;
}

async function measureLists(base: string, project: SeededProject, pool: pg.Pool) {
  const headers = {
    "x-stack-project-id": project.projectId,
    "x-stack-access-type": "server",
    "x-stack-secret-server-key": project.serverKey,
  };
  // A search for one user by a fragment of their e-mail, and the id 10,000 rows into the list.
  const { rows: sample } = await pool.query<{ value: string }>(
    `SELECT value FROM contact_channels WHERE tenancy_id = $1 ORDER BY user_id LIMIT 1 OFFSET 4321`,
    [project.tenancyId],
  );
  const emailFragment = sample[0]!.value.split("@")[0]!;
  const { rows: deep } = await pool.query<{ id: string }>(
    `SELECT id FROM users WHERE tenancy_id = $1 AND NOT is_anonymous AND NOT restricted_by_admin
      ORDER BY signed_up_at, id OFFSET 10000 LIMIT 1`,
    [project.tenancyId],
  );
  const queries: Record<string, UserListQuery> = {
    "first page, oldest first": { limit: 100 },
    "first page, newest first": { limit: 100, desc: "true" },
    "search by e-mail fragment": { limit: 100, query: emailFragment },
    "search by common name": { limit: 100, query: "smith" },
    "page 10,000 rows deep": { limit: 100, cursor: deep[0]!.id },
  };
  const figures: Record<string, { p50Ms: number; items: number }> = {};
  for (const [name, query] of Object.entries(queries)) {
    const url = `${base}/users?${new URLSearchParams(query as Record<string, string>)}`;
    const times: number[] = [];
    let items = 0;
    for (let i = 0; i < SAMPLES; i++) {
      const { ms, body } = await timed(() => fetch(url, { headers }));
      times.push(ms);
      if (i === 0) items = (JSON.parse(body) as { items: unknown[] }).items.length;
    }
    figures[name] = { p50Ms: p50(times), items };
    console.log(`  GET /users ${name.padEnd(28)} p50 ${figures[name].p50Ms} ms`);
  }
  return { figures, queries };
}

/** EXPLAIN (ANALYZE, BUFFERS) of exactly the SQL the user list runs for a query. */
async function explainList(
  databaseUrl: string,
  project: SeededProject,
  query: UserListQuery,
): Promise<string> {
  const captured: CompiledQuery[] = [];
  const database = openDatabase(databaseUrl, { maxConnections: 1 });
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: database.pool }),
    log: (event) => {
      if (event.level === "query") captured.push(event.query);
    },
  });
  try {
    const snapshot = await new ProjectStore(database, 1_000, null).get(project.projectId);
    await listUsers(db, project.tenancyId, snapshot!.branches.get("main")!.config, query);
    const listQuery = captured.at(-1)!;
    const plan = await database.pool.query(`EXPLAIN (ANALYZE, BUFFERS) ${listQuery.sql}`, [
      ...listQuery.parameters,
    ]);
    return plan.rows.map((row) => row["QUERY PLAN"]).join("\n");
  } finally {
    await database.close();
  }
}
