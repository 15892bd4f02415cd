import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/database.ts";
import { discoverMigrations } from "./discover.ts";
import { applyMigrations, MigrationChecksumError, MigrationFailedError, migrationStatus } from "./runner.ts";

const serverRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const repoRoot = path.resolve(serverRoot, "../..");
const fixtures: string[] = [];
let database: TestDatabase;

beforeEach(async () => {
  database = await createTestDatabase({ empty: true });
});
afterEach(async () => {
  await database?.drop();
});
afterAll(() => {
  for (const dir of fixtures) rmSync(dir, { recursive: true, force: true });
});

/** Writes migration folders into a fresh directory and returns it. */
function fixture(migrations: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "latchkey-migrations-"));
  fixtures.push(dir);
  for (const [name, sql] of Object.entries(migrations)) {
    mkdirSync(path.join(dir, name), { recursive: true });
    writeFileSync(path.join(dir, name, "migration.sql"), sql);
  }
  return dir;
}

async function query<T extends pg.QueryResultRow = pg.QueryResultRow>(
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

const basic = {
  "20260101000000_create_test": "CREATE TABLE test (id serial PRIMARY KEY, name text);",
  "20260102000000_add_age": "ALTER TABLE test ADD COLUMN age integer NOT NULL DEFAULT 0;",
};

describe("applying migrations", () => {
  it("applies every folder in name order, records it, and applies nothing the second time", async () => {
    const dir = fixture({ ...basic, "20250101000000_first": "CREATE TABLE first_one (x int);" });
    const migrations = discoverMigrations(dir);
    expect(migrations.map((m) => m.name)).toEqual(["20250101000000_first", ...Object.keys(basic)]);
    const first = await applyMigrations(database.url, migrations);
    expect(first.newlyApplied).toEqual(migrations.map((m) => m.name));
    const rows = await query<{ name: string; checksum: string; started_at: Date; finished_at: Date }>(
      "SELECT * FROM latchkey_migrations ORDER BY name",
    );
    expect(rows.map((r) => r.name)).toEqual(migrations.map((m) => m.name));
    expect(rows.map((r) => r.checksum)).toEqual(migrations.map((m) => m.checksum));
    expect(rows.every((r) => r.started_at <= r.finished_at)).toBe(true);
    await query("INSERT INTO test (name) VALUES ('a')");
    expect((await query("SELECT age FROM test"))[0]).toEqual({ age: 0 });
    const second = await applyMigrations(database.url, migrations);
    expect(second).toEqual({ newlyApplied: [], alreadyApplied: migrations.map((m) => m.name) });
  });

  it("applies the rest after a partial run", async () => {
    const migrations = discoverMigrations(fixture(basic));
    expect((await applyMigrations(database.url, migrations.slice(0, 1))).newlyApplied).toEqual([
      migrations[0]!.name,
    ]);
    expect((await applyMigrations(database.url, migrations)).newlyApplied).toEqual([migrations[1]!.name]);
  });

  it("rolls back a failing migration whole, keeps earlier ones, skips later ones, and resumes once fixed", async () => {
    const broken = {
      "20260101000000_first": "CREATE TABLE first_table (x int);",
      "20260102000000_second": "CREATE TABLE from_failing (x int);\nSELECT 1 / 0;",
      "20260103000000_third": "CREATE TABLE third_table (x int);",
    };
    const error = await applyMigrations(database.url, discoverMigrations(fixture(broken))).catch((e) => e);
    expect(error).toBeInstanceOf(MigrationFailedError);
    expect(error.message).toContain("20260102000000_second/migration.sql");
    expect(error.message).toContain("division by zero");
    expect(error.message).toContain("SELECT 1 / 0");
    const tables = async () =>
      (
        await query<{ table_name: string }>(
          "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
        )
      )
        .map((r) => r.table_name)
        .sort();
    expect(await tables()).toEqual(["first_table", "latchkey_migrations"]);
    const fixed = { ...broken, "20260102000000_second": "CREATE TABLE from_failing (x int);" };
    const resumed = await applyMigrations(database.url, discoverMigrations(fixture(fixed)));
    expect(resumed.newlyApplied).toEqual(["20260102000000_second", "20260103000000_third"]);
    expect(await tables()).toEqual(["first_table", "from_failing", "latchkey_migrations", "third_table"]);
  });

  it("ignores migrations the database knows but the code does not (rolled-back deploy)", async () => {
    await applyMigrations(database.url, discoverMigrations(fixture(basic)));
    await query("INSERT INTO test (name, age) VALUES ('kept', 3)");
    const older = discoverMigrations(
      fixture({ "20260101000000_create_test": basic["20260101000000_create_test"] }),
    );
    expect((await applyMigrations(database.url, older)).newlyApplied).toEqual([]);
    expect(await query("SELECT name, age FROM test")).toEqual([{ name: "kept", age: 3 }]);
    const status = await migrationStatus(database.url, older);
    expect(status.map((s) => [s.name, s.state])).toEqual([
      ["20260101000000_create_test", "applied"],
      ["20260102000000_add_age", "unknown"],
    ]);
  });

  it("refuses to run when an applied migration was edited", async () => {
    await applyMigrations(database.url, discoverMigrations(fixture(basic)));
    const edited = discoverMigrations(
      fixture({
        ...basic,
        "20260101000000_create_test": "CREATE TABLE test (id bigserial PRIMARY KEY);",
        "20260103000000_more": "SELECT 1;",
      }),
    );
    const error = await applyMigrations(database.url, edited).catch((e) => e);
    expect(error).toBeInstanceOf(MigrationChecksumError);
    expect(error.message).toContain("20260101000000_create_test");
    expect(error.message).toContain("must never be edited");
    expect((await query("SELECT count(*)::int AS n FROM latchkey_migrations"))[0]).toEqual({ n: 2 });
    const status = await migrationStatus(database.url, edited);
    expect(status.find((s) => s.name === "20260101000000_create_test")?.state).toBe("edited");
    expect(status.find((s) => s.name === "20260103000000_more")?.state).toBe("pending");
  });

  it("repeats a batched backfill until it reports it is done, committing each round", async () => {
    const dir = fixture({
      "20260101000000_rows":
        "CREATE TABLE items (id int PRIMARY KEY, done boolean NOT NULL DEFAULT false);\nINSERT INTO items SELECT g FROM generate_series(1, 25) g;\nCREATE TABLE rounds (n int);\nCREATE TABLE after_loop (n int);",
      "20260102000000_backfill": `
        INSERT INTO rounds VALUES (1);
        UPDATE items SET done = true WHERE id IN (SELECT id FROM items WHERE NOT done ORDER BY id LIMIT 10);
        SELECT EXISTS (SELECT 1 FROM items WHERE NOT done) AS should_repeat_migration;
        INSERT INTO after_loop VALUES (1);`,
    });
    const result = await applyMigrations(database.url, discoverMigrations(dir));
    expect(result.newlyApplied).toEqual(["20260101000000_rows", "20260102000000_backfill"]);
    expect((await query("SELECT count(*)::int AS n FROM rounds"))[0]).toEqual({ n: 3 });
    expect((await query("SELECT count(*)::int AS n FROM items WHERE NOT done"))[0]).toEqual({ n: 0 });
    expect((await query("SELECT count(*)::int AS n FROM after_loop"))[0]).toEqual({ n: 1 });
    expect(
      (await query("SELECT count(*)::int AS n FROM latchkey_migrations WHERE name LIKE '%backfill'"))[0],
    ).toEqual({ n: 1 });
  });

  it("repeats a batched backfill in a no-transaction migration too, each batch committed as it goes", async () => {
    const dir = fixture({
      "20260101000000_rows":
        "CREATE TABLE items (id int PRIMARY KEY, done boolean NOT NULL DEFAULT false);\nINSERT INTO items SELECT g FROM generate_series(1, 25) g;\nCREATE TABLE rounds (n int);\nCREATE TABLE after_loop (n int);",
      "20260102000000_backfill": `-- latchkey:no-transaction
        INSERT INTO rounds VALUES (1);
        UPDATE items SET done = true WHERE id IN (SELECT id FROM items WHERE NOT done ORDER BY id LIMIT 10);
        SELECT EXISTS (SELECT 1 FROM items WHERE NOT done) AS should_repeat_migration;
        INSERT INTO after_loop VALUES (1);`,
    });
    const migrations = discoverMigrations(dir);
    expect(migrations[1]!.transactional).toBe(false);
    await applyMigrations(database.url, migrations);
    expect((await query("SELECT count(*)::int AS n FROM rounds"))[0]).toEqual({ n: 3 });
    expect((await query("SELECT count(*)::int AS n FROM items WHERE NOT done"))[0]).toEqual({ n: 0 });
    expect((await query("SELECT count(*)::int AS n FROM after_loop"))[0]).toEqual({ n: 1 });
    const row = await query<{ finished_at: Date | null }>(
      "SELECT finished_at FROM latchkey_migrations WHERE name = '20260102000000_backfill'",
    );
    expect(row[0]!.finished_at).not.toBeNull();
  });

  it("rejects a repeat check that is not a boolean", async () => {
    const dir = fixture({ "20260101000000_bad_repeat": "SELECT 'yes' AS should_repeat_migration;" });
    const error = await applyMigrations(database.url, discoverMigrations(dir)).catch((e) => e);
    expect(error).toBeInstanceOf(MigrationFailedError);
    expect(error.message).toContain("should_repeat_migration must be a boolean");
  });

  it("runs a no-transaction migration statement by statement (CREATE INDEX CONCURRENTLY)", async () => {
    const dir = fixture({
      "20260101000000_table": "CREATE TABLE big (id int, email text);",
      "20260102000000_index":
        "-- latchkey:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS big_email_idx ON big (email);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS big_id_idx ON big (id);",
    });
    const migrations = discoverMigrations(dir);
    expect(migrations[1]!.transactional).toBe(false);
    expect((await applyMigrations(database.url, migrations)).newlyApplied).toHaveLength(2);
    const indexes = await query<{ indexname: string }>(
      "SELECT indexname FROM pg_indexes WHERE tablename = 'big' ORDER BY 1",
    );
    expect(indexes.map((i) => i.indexname)).toEqual(["big_email_idx", "big_id_idx"]);
    const row = await query<{ finished_at: Date | null }>(
      "SELECT finished_at FROM latchkey_migrations WHERE name = '20260102000000_index'",
    );
    expect(row[0]!.finished_at).not.toBeNull();
  });
});

describe("concurrent runners", () => {
  it("applies each migration exactly once when eight runners start together", async () => {
    const migrations = discoverMigrations(fixture(basic));
    const results = await Promise.all(
      Array.from({ length: 8 }, () => applyMigrations(database.url, migrations, { artificialDelayMs: 200 })),
    );
    expect(results.flatMap((r) => r.newlyApplied).sort()).toEqual(migrations.map((m) => m.name).sort());
    expect((await query("SELECT count(*)::int AS n FROM latchkey_migrations"))[0]).toEqual({ n: 2 });
  });

  it("applies the real migrations exactly once when four CLI processes start at the same moment", async () => {
    const real = discoverMigrations();
    const runs = await Promise.all(
      Array.from(
        { length: 4 },
        () =>
          new Promise<{ code: number | null; output: string }>((resolve) => {
            const child = spawn(
              process.execPath,
              ["--import", "tsx", path.join(serverRoot, "src/cli/main.ts"), "migrate"],
              {
                cwd: repoRoot,
                env: { ...process.env, DATABASE_URL: database.url, LATCHKEY_MIGRATION_DELAY_MS: "300" },
              },
            );
            let output = "";
            child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
            child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
            child.on("exit", (code) => resolve({ code, output }));
          }),
      ),
    );
    for (const run of runs) expect(run.code, run.output).toBe(0);
    const appliedCounts = runs.map((run) => Number(/Applied (\d+) migration/.exec(run.output)?.[1] ?? 0));
    expect(appliedCounts.reduce((a, b) => a + b, 0)).toBe(real.length);
    const rows = await query<{ name: string }>("SELECT name FROM latchkey_migrations ORDER BY name");
    expect(rows.map((r) => r.name)).toEqual(real.map((m) => m.name));
  }, 60_000);
});
