import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { defaultMigrationsDir } from "../db/migrations/discover.ts";
import { splitSqlStatements } from "../db/sql-statements.ts";
import { type AnalyticsEngine, AnalyticsEngineError } from "./engine.ts";

/**
 * The analytics half of a migration folder: `<timestamp>_<name>/clickhouse.sql`, beside (or instead of)
 * its `migration.sql`. Both halves live in one folder so a feature's schema changes land together, and
 * both are applied by `latchkey start`/`migrate` with the same guarantees: in order, each once, edits
 * of applied files refused, the failing statement named.
 *
 * ClickHouse has no transactions, so every statement must be idempotent (`IF NOT EXISTS`, `OR
 * REPLACE`): a migration interrupted half-way is simply run again from the top.
 */
export interface AnalyticsMigration {
  name: string;
  statements: string[];
  checksum: string;
}

const ANALYTICS_FILE = "clickhouse.sql";
const BOOKKEEPING_TABLE = "analytics_internal.latchkey_migrations";
/** Distinct from the PostgreSQL runner's key: both may run at once, each only once across processes. */
const ANALYTICS_MIGRATION_LOCK_KEY = 0x4c41_5444;

export function discoverAnalyticsMigrations(dir: string = defaultMigrationsDir): AnalyticsMigration[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(path.join(dir, entry.name, ANALYTICS_FILE)))
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(path.join(dir, name, ANALYTICS_FILE), "utf8");
      return {
        name,
        statements: splitSqlStatements(sql),
        checksum: createHash("sha256").update(sql).digest("hex"),
      };
    });
}

export class AnalyticsMigrationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AnalyticsMigrationError";
  }
}

/**
 * Applies pending analytics migrations. The bookkeeping lives in the analytics store itself, so a
 * fresh (or wiped) store is rebuilt from the files even when PostgreSQL already has its schema; the
 * PostgreSQL advisory lock serialises runners of several processes sharing one ClickHouse server.
 */
export async function applyAnalyticsMigrations(
  engine: AnalyticsEngine,
  postgresUrl: string,
  migrations: readonly AnalyticsMigration[],
  log: (message: string) => void = () => {},
): Promise<string[]> {
  const lock = new pg.Client({
    connectionString: postgresUrl,
    application_name: "latchkey-migrate-analytics",
  });
  await lock.connect();
  try {
    await lock.query("SELECT pg_advisory_lock($1)", [ANALYTICS_MIGRATION_LOCK_KEY]);
    await engine.command("CREATE DATABASE IF NOT EXISTS analytics_internal");
    await engine.command(
      `CREATE TABLE IF NOT EXISTS ${BOOKKEEPING_TABLE} (name String, checksum String, applied_at DateTime64(3, 'UTC'))
       ENGINE = ReplacingMergeTree(applied_at) ORDER BY name`,
    );
    const applied = await readApplied(engine);
    const edited = migrations.filter((m) => applied.has(m.name) && applied.get(m.name) !== m.checksum);
    if (edited.length > 0) {
      throw new AnalyticsMigrationError(
        `Refusing to start: analytics migration(s) ${edited.map((m) => m.name).join(", ")} changed after being ` +
          "applied. Applied migrations must never be edited — add a new migration with the change.",
      );
    }
    const newlyApplied: string[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.name)) continue;
      log(`applying ${migration.name}/${ANALYTICS_FILE}`);
      for (const statement of migration.statements) {
        try {
          await engine.command(statement);
        } catch (error) {
          const reason = error instanceof AnalyticsEngineError ? error.message : String(error);
          throw new AnalyticsMigrationError(
            `Analytics migration ${migration.name}/${ANALYTICS_FILE} failed: ${reason}\nFailing statement:\n${statement}`,
            { cause: error },
          );
        }
      }
      await engine.insertJsonRows(
        BOOKKEEPING_TABLE,
        JSON.stringify({
          name: migration.name,
          checksum: migration.checksum,
          applied_at: new Date().toISOString(),
        }),
      );
      newlyApplied.push(migration.name);
    }
    return newlyApplied;
  } finally {
    await lock.query("SELECT pg_advisory_unlock($1)", [ANALYTICS_MIGRATION_LOCK_KEY]).catch(() => {});
    await lock.end();
  }
}

async function readApplied(engine: AnalyticsEngine): Promise<Map<string, string>> {
  const { text } = await engine.query(
    `SELECT name, argMax(checksum, applied_at) AS checksum FROM ${BOOKKEEPING_TABLE} GROUP BY name`,
  );
  const rows = text
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { name: string; checksum: string });
  return new Map(rows.map((row) => [row.name, row.checksum]));
}
