import pg from "pg";
import type { Migration } from "./discover.ts";

/**
 * Every runner, in every process, takes this session-level advisory lock before it reads or applies
 * anything, so concurrent start-ups apply each migration exactly once. Holding it on one dedicated
 * connection (rather than per transaction on pooled ones) means a waiting runner never needs a second
 * connection — the pool-exhaustion gap upstream documents cannot happen here.
 */
const MIGRATION_LOCK_KEY = 0x4c41_5443; // "LATC"

export const MIGRATIONS_TABLE = "latchkey_migrations";

export interface AppliedMigrationRow {
  name: string;
  checksum: string;
  started_at: Date;
  finished_at: Date | null;
}

export interface ApplyOptions {
  log?: (message: string) => void;
  /** Called right before a pending migration starts (per-migration data tests seed rows here). */
  onBeforeMigration?: (migration: Migration) => Promise<void>;
  /** Test hook: sleep inside each migration's transaction to widen race windows. */
  artificialDelayMs?: number;
}

export interface ApplyResult {
  newlyApplied: string[];
  alreadyApplied: string[];
}

export class MigrationChecksumError extends Error {
  constructor(readonly migrations: string[]) {
    super(
      `Refusing to start: ${migrations.length === 1 ? "migration" : "migrations"} ${migrations.join(", ")} ` +
        "changed after being applied to this database. Applied migrations must never be edited — restore the " +
        "original file and add a new migration with the change.",
    );
    this.name = "MigrationChecksumError";
  }
}

export class MigrationFailedError extends Error {
  constructor(
    readonly migration: string,
    readonly statement: string,
    readonly error: unknown,
  ) {
    super(
      `Migration ${migration}/migration.sql failed and was rolled back: ${errorText(error)}\n` +
        `Failing statement:\n${indent(statement)}`,
    );
    this.name = "MigrationFailedError";
  }
}

/**
 * Waits for the migration lock by polling rather than blocking in `pg_advisory_lock`: a runner blocked
 * inside a statement holds a snapshot, and `CREATE INDEX CONCURRENTLY` in the runner holding the lock
 * waits for every older snapshot — the two would deadlock.
 */
async function takeMigrationLock(client: pg.Client): Promise<void> {
  for (let pause = 20; ; pause = Math.min(pause * 2, 250)) {
    const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1) AS locked", [
      MIGRATION_LOCK_KEY,
    ]);
    if (rows[0]?.locked) return;
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

export async function applyMigrations(
  connectionString: string,
  migrations: readonly Migration[],
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  const log = options.log ?? (() => {});
  const client = new pg.Client({ connectionString, application_name: "latchkey-migrate" });
  await client.connect();
  try {
    await takeMigrationLock(client);
    try {
      await ensureMigrationsTable(client);
      const applied = await readApplied(client);
      assertNoEditedMigrations(migrations, applied);

      const result: ApplyResult = { newlyApplied: [], alreadyApplied: [] };
      for (const migration of migrations) {
        if (applied.get(migration.name)?.finished_at) {
          result.alreadyApplied.push(migration.name);
          continue;
        }
        await options.onBeforeMigration?.(migration);
        log(`applying ${migration.name}`);
        const started = Date.now();
        if (migration.transactional) await runInTransaction(client, migration, options, log);
        else await runWithoutTransaction(client, migration, log);
        log(`applied ${migration.name} in ${Date.now() - started} ms`);
        result.newlyApplied.push(migration.name);
      }
      return result;
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await client.end();
  }
}

export type MigrationState = "applied" | "pending" | "edited" | "incomplete" | "unknown";

export interface MigrationStatusRow {
  name: string;
  state: MigrationState;
  finishedAt: Date | null;
}

/** What `latchkey migrate status` prints: every migration known to the code or to the database. */
export async function migrationStatus(
  connectionString: string,
  migrations: readonly Migration[],
): Promise<MigrationStatusRow[]> {
  const client = new pg.Client({ connectionString, application_name: "latchkey-migrate-status" });
  await client.connect();
  try {
    const exists = await client.query("SELECT to_regclass($1) IS NOT NULL AS present", [MIGRATIONS_TABLE]);
    const applied = exists.rows[0].present
      ? await readApplied(client)
      : new Map<string, AppliedMigrationRow>();
    const rows: MigrationStatusRow[] = migrations.map((migration) => {
      const row = applied.get(migration.name);
      const state: MigrationState = !row
        ? "pending"
        : !row.finished_at
          ? "incomplete"
          : row.checksum !== migration.checksum
            ? "edited"
            : "applied";
      return { name: migration.name, state, finishedAt: row?.finished_at ?? null };
    });
    const known = new Set(migrations.map((m) => m.name));
    for (const row of applied.values()) {
      if (!known.has(row.name)) rows.push({ name: row.name, state: "unknown", finishedAt: row.finished_at });
    }
    return rows.sort((a, b) => a.name.localeCompare(b.name));
  } finally {
    await client.end();
  }
}

async function ensureMigrationsTable(client: pg.Client): Promise<void> {
  await client.query(`
    CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (
      name        text PRIMARY KEY,
      checksum    text NOT NULL,
      started_at  timestamptz NOT NULL,
      finished_at timestamptz
    )`);
}

async function readApplied(client: pg.Client): Promise<Map<string, AppliedMigrationRow>> {
  const { rows } = await client.query<AppliedMigrationRow>(
    `SELECT name, checksum, started_at, finished_at FROM ${MIGRATIONS_TABLE}`,
  );
  return new Map(rows.map((row) => [row.name, row]));
}

function assertNoEditedMigrations(
  migrations: readonly Migration[],
  applied: Map<string, AppliedMigrationRow>,
): void {
  const edited = migrations
    .filter((m) => {
      const row = applied.get(m.name);
      return row?.finished_at && row.checksum !== m.checksum;
    })
    .map((m) => m.name);
  if (edited.length > 0) throw new MigrationChecksumError(edited);
}

/**
 * Runs a migration in one transaction. A statement that returns a boolean column
 * `should_repeat_migration` set to true makes the runner commit the work done so far and run the file
 * again from the top: that is how a backfill over millions of rows is done in bounded batches. The
 * statements after such a check therefore run only in the final round, and the ones before it must be
 * idempotent.
 */
async function runInTransaction(
  client: pg.Client,
  migration: Migration,
  options: ApplyOptions,
  log: (message: string) => void,
): Promise<void> {
  for (let round = 1; ; round++) {
    const startedAt = new Date();
    await client.query("BEGIN");
    let current = "";
    try {
      let repeat = false;
      for (const statement of migration.statements) {
        current = statement;
        const result = await client.query(statement);
        if (shouldRepeat(result, migration.name)) {
          repeat = true;
          break;
        }
      }
      if (repeat) {
        await client.query("COMMIT");
        log(`${migration.name} asked to run another round (round ${round} committed)`);
        continue;
      }
      current = "";
      if (options.artificialDelayMs)
        await client.query("SELECT pg_sleep($1)", [options.artificialDelayMs / 1000]);
      await client.query(
        `INSERT INTO ${MIGRATIONS_TABLE} (name, checksum, started_at, finished_at)
         VALUES ($1, $2, $3, clock_timestamp())
         ON CONFLICT (name) DO UPDATE SET checksum = excluded.checksum, started_at = excluded.started_at,
           finished_at = excluded.finished_at`,
        [migration.name, migration.checksum, startedAt],
      );
      await client.query("COMMIT");
      return;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      if (error instanceof MigrationFailedError) throw error;
      throw new MigrationFailedError(migration.name, current || "(bookkeeping)", error);
    }
  }
}

/**
 * Runs a `no-transaction` migration statement by statement, each committing on its own. A
 * `should_repeat_migration` check runs the file again from the top, as in a transaction: a backfill
 * without one commits every batch as it goes.
 */
async function runWithoutTransaction(
  client: pg.Client,
  migration: Migration,
  log: (message: string) => void,
): Promise<void> {
  await client.query(
    `INSERT INTO ${MIGRATIONS_TABLE} (name, checksum, started_at, finished_at) VALUES ($1, $2, clock_timestamp(), NULL)
     ON CONFLICT (name) DO UPDATE SET checksum = excluded.checksum, started_at = excluded.started_at`,
    [migration.name, migration.checksum],
  );
  for (let round = 1; ; round++) {
    let repeat = false;
    for (const statement of migration.statements) {
      let result: pg.QueryResult | pg.QueryResult[];
      try {
        result = await client.query(statement);
      } catch (error) {
        throw new MigrationFailedError(migration.name, statement, error);
      }
      if (shouldRepeat(result, migration.name)) {
        repeat = true;
        break;
      }
    }
    if (!repeat) break;
    log(`${migration.name} asked to run another round (round ${round} done)`);
  }
  await client.query(`UPDATE ${MIGRATIONS_TABLE} SET finished_at = clock_timestamp() WHERE name = $1`, [
    migration.name,
  ]);
}

function shouldRepeat(result: pg.QueryResult | pg.QueryResult[], migrationName: string): boolean {
  const last = Array.isArray(result) ? result.at(-1) : result;
  if (!last?.fields?.some((field) => field.name === "should_repeat_migration")) return false;
  if (last.rows.length === 0) return false;
  const value = last.rows[0].should_repeat_migration;
  if (typeof value !== "boolean") {
    throw new MigrationFailedError(
      migrationName,
      "(repeat check)",
      new Error(`should_repeat_migration must be a boolean, got ${JSON.stringify(value)}`),
    );
  }
  return value;
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const pgError = error as Error & { code?: string; detail?: string };
    return [pgError.message, pgError.code && `(SQLSTATE ${pgError.code})`, pgError.detail]
      .filter(Boolean)
      .join(" ");
  }
  return String(error);
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((line) => `    ${line}`)
    .join("\n");
}
