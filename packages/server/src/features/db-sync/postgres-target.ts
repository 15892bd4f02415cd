import { pipeline } from "node:stream/promises";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import type { Mapping } from "./mappings.ts";
import type { ChangePage, SyncTarget } from "./target.ts";

const CURSORS = "_latchkey_sync_cursors";

/**
 * A customer's PostgreSQL. Tables are created when missing (and refilled: a dropped table's cursor
 * is reset). Every row carries the sequence id of the version it holds, and a write only ever replaces
 * an older version — a replayed or stale batch can never overwrite newer data. A page of changes and
 * the cursor move in one transaction.
 */
export class PostgresTarget implements SyncTarget {
  private readonly pool: pg.Pool;

  constructor(connectionString: string) {
    this.pool = new pg.Pool({
      connectionString,
      max: 2,
      // A black-holed host must not pin a worker.
      connectionTimeoutMillis: 5000,
      statement_timeout: 30_000,
      idleTimeoutMillis: 30_000,
      application_name: "latchkey-db-sync",
    });
    this.pool.on("error", () => {});
  }

  async ensureTable(mapping: Mapping): Promise<void> {
    const client = await this.pool.connect();
    try {
      const existing = await client.query("SELECT to_regclass($1) IS NOT NULL AS present", [
        `public.${mapping.targetTable}`,
      ]);
      if (existing.rows[0].present) return;
      const columns = mapping.columns.map((c) => `${pg.escapeIdentifier(c.name)} ${c.postgres}`);
      await client.query("BEGIN");
      await client.query(`CREATE TABLE IF NOT EXISTS ${CURSORS} (
        tenancy_id uuid NOT NULL, mapping_name text NOT NULL, last_synced_sequence_id bigint NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (tenancy_id, mapping_name))`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${pg.escapeIdentifier(mapping.targetTable)} (
        ${columns.join(",\n        ")},
        _latchkey_seq bigint NOT NULL,
        PRIMARY KEY (${mapping.primaryKey.map((k) => pg.escapeIdentifier(k)).join(", ")}))`);
      // Readers of the customer's database may read, never write, what Latchkey owns.
      await client.query(`REVOKE ALL ON ${pg.escapeIdentifier(mapping.targetTable)} FROM PUBLIC`);
      await client.query(`GRANT SELECT ON ${pg.escapeIdentifier(mapping.targetTable)} TO PUBLIC`);
      // A new (or re-created) table is filled from the beginning, for every tenancy syncing into it.
      await client.query(`DELETE FROM ${CURSORS} WHERE mapping_name = $1`, [mapping.name]);
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      // Two workers creating the same table at once: the loser finds it there.
      const again = await client.query("SELECT to_regclass($1) IS NOT NULL AS present", [
        `public.${mapping.targetTable}`,
      ]);
      if (!again.rows[0].present) throw error;
    } finally {
      client.release();
    }
  }

  async cursor(tenancyId: string, mapping: Mapping): Promise<string> {
    const { rows } = await this.pool.query(
      `SELECT last_synced_sequence_id::text AS cursor FROM ${CURSORS} WHERE tenancy_id = $1 AND mapping_name = $2`,
      [tenancyId, mapping.name],
    );
    return rows[0]?.cursor ?? "0";
  }

  /**
   * Applies one page of changes, streamed straight from Latchkey's database into a temporary table of
   * the target (COPY out, COPY in: no row is parsed on the way), then merged in one transaction with
   * the cursor. Returns how many changes the page held and the last sequence id, or null when empty.
   */
  async applyPage(
    tenancyId: string,
    mapping: Mapping,
    changes: ChangePage,
  ): Promise<{ count: number; lastSeq: string } | null> {
    const table = pg.escapeIdentifier(mapping.targetTable);
    const names = mapping.columns.map((c) => pg.escapeIdentifier(c.name));
    const keys = mapping.primaryKey.map((k) => pg.escapeIdentifier(k));
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      await client.query(
        `CREATE TEMP TABLE latchkey_incoming (${mapping.columns
          .map((c) => `${pg.escapeIdentifier(c.name)} ${c.postgres.split(" ")[0]}`)
          .join(", ")}, seq bigint, deleted boolean) ON COMMIT DROP`,
      );
      await pipeline(changes.copyOut(), client.query(copyFrom("COPY latchkey_incoming FROM STDIN")));
      const page = await client.query<{ count: string; deletes: string; last_seq: string | null }>(
        `SELECT count(*)::text AS count, count(*) FILTER (WHERE deleted)::text AS deletes,
                max(seq)::text AS last_seq FROM latchkey_incoming`,
      );
      const count = Number(page.rows[0]!.count);
      if (count === 0) {
        await client.query("ROLLBACK");
        return null;
      }
      // Only ever replace an older version; a row deleted in the same page is deleted afterwards.
      await client.query(
        `INSERT INTO ${table} (${names.join(", ")}, _latchkey_seq)
         SELECT ${names.join(", ")}, seq FROM latchkey_incoming WHERE NOT deleted
         ON CONFLICT (${keys.join(", ")}) DO UPDATE SET
           ${[...names.filter((n) => !keys.includes(n)).map((n) => `${n} = excluded.${n}`), "_latchkey_seq = excluded._latchkey_seq"].join(", ")}
         WHERE ${table}._latchkey_seq < excluded._latchkey_seq`,
      );
      // Most pages (a backfill's all) hold no tombstone: skip the join against the whole table then.
      if (page.rows[0]!.deletes !== "0") {
        await client.query(
          `DELETE FROM ${table} t USING latchkey_incoming d
         WHERE d.deleted AND ${keys.map((k) => `t.${k} = d.${k}`).join(" AND ")} AND t._latchkey_seq < d.seq`,
        );
      }
      const lastSeq = page.rows[0]!.last_seq!;
      await client.query(
        `INSERT INTO ${CURSORS} (tenancy_id, mapping_name, last_synced_sequence_id) VALUES ($1, $2, $3)
         ON CONFLICT (tenancy_id, mapping_name) DO UPDATE SET
           last_synced_sequence_id = GREATEST(${CURSORS}.last_synced_sequence_id, excluded.last_synced_sequence_id),
           updated_at = now()`,
        [tenancyId, mapping.name, lastSeq],
      );
      await client.query("COMMIT");
      return { count, lastSeq };
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
