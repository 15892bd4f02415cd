import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import type { Mapping } from "./mappings.ts";
import {
  type BulkPage,
  type ChangePage,
  type SyncTarget,
  TARGET_TIMEOUT_MS,
  type TargetOptions,
} from "./target.ts";

const CURSORS = "_latchkey_sync_cursors";

/**
 * Counts the rows of a COPY text stream on its way through and remembers the last row's final field
 * (the sequence id). In COPY text, a newline byte only ever ends a row.
 */
class CopyTally extends Transform {
  rows = 0;
  private tail = Buffer.alloc(0);

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) this.rows++;
    this.tail = Buffer.concat([this.tail, chunk]).subarray(-256);
    done(null, chunk);
  }

  lastSeq(): string {
    const lastRow = this.tail.toString("latin1").replace(/\n$/, "");
    return lastRow.slice(lastRow.lastIndexOf("\t") + 1);
  }
}

/**
 * A customer's PostgreSQL. Tables are created when missing (and refilled: a dropped table's cursor
 * is reset). Every row carries the sequence id of the version it holds, and a write only ever replaces
 * an older version — a replayed or stale batch can never overwrite newer data. A page of changes and
 * the cursor move in one transaction.
 */
export class PostgresTarget implements SyncTarget {
  private readonly pool: pg.Pool;

  constructor(connectionString: string, { timeoutMs = TARGET_TIMEOUT_MS }: TargetOptions = {}) {
    this.pool = new pg.Pool({
      connectionString,
      max: 2,
      // A black-holed host must not pin a worker.
      connectionTimeoutMillis: 5000,
      statement_timeout: 30_000,
      // And neither may one that answers the login and then nothing: statement_timeout is the server's
      // to honour, this is ours.
      query_timeout: timeoutMs,
      idleTimeoutMillis: 30_000,
      application_name: "latchkey-db-sync",
    });
    // The customer's server going away must not crash the worker, whether the connection is idle
    // (the pool drops it) or checked out between two queries (the next query fails and is recorded).
    this.pool.on("error", () => {});
    this.pool.on("connect", (client) => client.on("error", () => {}));
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
   * Applies one page of changes and moves the cursor, in one transaction. A bulk page is first loaded
   * straight into the table (COPY); if any of its keys is already there, or tombstones belong to the
   * page, that is undone and the full page is merged instead. Returns how many changes the page held
   * and its last sequence id, or null when it was empty.
   */
  async applyPage(
    tenancyId: string,
    mapping: Mapping,
    changes: ChangePage,
  ): Promise<{ count: number; lastSeq: string } | null> {
    const client = await this.pool.connect();
    let failed = false;
    try {
      await client.query("BEGIN");
      const applied =
        (changes.bulk && (await loadBulk(client, mapping, changes.bulk))) ||
        (await merge(client, mapping, changes));
      if (!applied) {
        await client.query("ROLLBACK");
        return null;
      }
      await client.query(
        `INSERT INTO ${CURSORS} (tenancy_id, mapping_name, last_synced_sequence_id) VALUES ($1, $2, $3)
         ON CONFLICT (tenancy_id, mapping_name) DO UPDATE SET
           last_synced_sequence_id = GREATEST(${CURSORS}.last_synced_sequence_id, excluded.last_synced_sequence_id),
           updated_at = now()`,
        [tenancyId, mapping.name, applied.lastSeq],
      );
      await client.query("COMMIT");
      return applied;
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      // A failed page's connection is dropped, not rolled back: after a timeout it is still busy with
      // the query, and a ROLLBACK would wait behind it. Ending it rolls the transaction back all the same.
      client.release(failed);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

type Applied = { count: number; lastSeq: string };

/**
 * Loads a bulk page's rows straight into the table: as fast as a plain COPY, and correct exactly when
 * every row is new to the target (a unique violation says otherwise) and no tombstone belongs to the
 * page. Otherwise nothing is kept and null is returned.
 */
async function loadBulk(client: pg.PoolClient, mapping: Mapping, bulk: BulkPage): Promise<Applied | null> {
  const columns = [...mapping.columns.map((c) => pg.escapeIdentifier(c.name)), "_latchkey_seq"];
  await client.query("SAVEPOINT bulk_load");
  try {
    const tally = new CopyTally();
    await pipeline(
      bulk.copyLiveRows(),
      tally,
      client.query(
        copyFrom(`COPY ${pg.escapeIdentifier(mapping.targetTable)} (${columns.join(", ")}) FROM STDIN`),
      ),
    );
    if (tally.rows > 0 && !(await bulk.hasTombstonesUpTo(tally.lastSeq()))) {
      await client.query("RELEASE SAVEPOINT bulk_load");
      return { count: tally.rows, lastSeq: tally.lastSeq() };
    }
  } catch (error) {
    if ((error as { code?: string }).code !== "23505") throw error;
  }
  await client.query("ROLLBACK TO SAVEPOINT bulk_load");
  return null;
}

/**
 * Streams the page from Latchkey's database into a temporary table of the target (COPY out, COPY in:
 * no row is parsed on the way) and merges it: a row only ever replaces an older version of itself.
 */
async function merge(client: pg.PoolClient, mapping: Mapping, changes: ChangePage): Promise<Applied | null> {
  const table = pg.escapeIdentifier(mapping.targetTable);
  const names = mapping.columns.map((c) => pg.escapeIdentifier(c.name));
  const keys = mapping.primaryKey.map((k) => pg.escapeIdentifier(k));
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
  if (count === 0) return null;
  // A row deleted in the same page is deleted after its upsert.
  await client.query(
    `INSERT INTO ${table} (${names.join(", ")}, _latchkey_seq)
     SELECT ${names.join(", ")}, seq FROM latchkey_incoming WHERE NOT deleted
     ON CONFLICT (${keys.join(", ")}) DO UPDATE SET
       ${[...names.filter((n) => !keys.includes(n)).map((n) => `${n} = excluded.${n}`), "_latchkey_seq = excluded._latchkey_seq"].join(", ")}
     WHERE ${table}._latchkey_seq < excluded._latchkey_seq`,
  );
  // Most pages hold no tombstone: skip the join against the whole table then.
  if (page.rows[0]!.deletes !== "0") {
    await client.query(
      `DELETE FROM ${table} t USING latchkey_incoming d
       WHERE d.deleted AND ${keys.map((k) => `t.${k} = d.${k}`).join(" AND ")} AND t._latchkey_seq < d.seq`,
    );
  }
  return { count, lastSeq: page.rows[0]!.last_seq! };
}
