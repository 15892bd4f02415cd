import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { splitSqlStatements } from "../sql-statements.ts";

/** One folder of `packages/server/migrations`: `<timestamp>_<name>/migration.sql`. */
export interface Migration {
  /** The folder name; it orders migrations and is what the bookkeeping table records. */
  name: string;
  folder: string;
  sql: string;
  statements: string[];
  /** SHA-256 of `migration.sql`, so that an edit after it was applied is caught. */
  checksum: string;
  /**
   * False when the file carries a `-- latchkey:no-transaction` line: its statements then run one by one
   * in autocommit mode, which `CREATE INDEX CONCURRENTLY` needs. Such a migration must be idempotent,
   * because a crash can leave it half done and it is then run again from the top.
   */
  transactional: boolean;
}

export const NO_TRANSACTION_MARKER = /^\s*--\s*latchkey:no-transaction\s*$/m;

/**
 * `packages/server/migrations`, unless `LATCHKEY_MIGRATIONS_DIR` points elsewhere — the migration
 * compatibility gate uses that to run this code against another release's migrations.
 */
export const defaultMigrationsDir = path.resolve(
  process.env.LATCHKEY_MIGRATIONS_DIR ??
    path.join(path.dirname(fileURLToPath(import.meta.url)), "../../../migrations"),
);

export function discoverMigrations(dir: string = defaultMigrationsDir): Migration[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(path.join(dir, entry.name, "migration.sql")))
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const folder = path.join(dir, name);
      const sql = readFileSync(path.join(folder, "migration.sql"), "utf8");
      return {
        name,
        folder,
        sql,
        statements: splitSqlStatements(sql),
        checksum: createHash("sha256").update(sql).digest("hex"),
        transactional: !NO_TRANSACTION_MARKER.test(sql),
      };
    });
}
