import { ClickHouseEngine } from "../../analytics-store/clickhouse-engine.ts";
import type { Mapping } from "./mappings.ts";
import { type ChangePage, type SyncTarget, TARGET_TIMEOUT_MS, type TargetOptions } from "./target.ts";

const CURSORS = "_latchkey_sync_cursors";

const identifier = (name: string) => `\`${name.replace(/`/g, "")}\``;

/**
 * A customer's ClickHouse. Each table is a ReplacingMergeTree keyed by the mapping's primary key with
 * the sequence id as version and the tombstone flag as its `is_deleted` column: `FINAL` (or a merge)
 * keeps exactly the newest version and drops deleted rows. Tables are unpartitioned, so a tombstone
 * always lands beside the row it deletes. Writes are idempotent — a replayed page inserts the same
 * versions again — so the cursor row is simply written after the page.
 */
export class ClickHouseTarget implements SyncTarget {
  private readonly engine: ClickHouseEngine;

  constructor(connectionString: string, { timeoutMs }: TargetOptions = {}) {
    this.engine = new ClickHouseEngine(connectionString, {
      requestTimeoutMs: timeoutMs ?? TARGET_TIMEOUT_MS,
    });
  }

  async ensureTable(mapping: Mapping): Promise<void> {
    await this.engine.command(
      `CREATE TABLE IF NOT EXISTS ${CURSORS} (tenancy_id String, mapping_name String, last_synced_sequence_id UInt64,
        updated_at DateTime64(6, 'UTC') DEFAULT now64(6)) ENGINE = ReplacingMergeTree(updated_at) ORDER BY (tenancy_id, mapping_name)`,
    );
    const { text } = await this.engine.query(`EXISTS TABLE ${identifier(mapping.targetTable)}`, {
      format: "TabSeparatedRaw",
    });
    if (text.trim() === "1") return;
    const columns = mapping.columns.map((c) => `${identifier(c.name)} ${c.clickhouse}`);
    await this.engine.command(
      `CREATE TABLE IF NOT EXISTS ${identifier(mapping.targetTable)} (
        ${columns.join(", ")}, _latchkey_seq UInt64, _latchkey_is_deleted UInt8
      ) ENGINE = ReplacingMergeTree(_latchkey_seq, _latchkey_is_deleted)
      ORDER BY (${mapping.primaryKey.map(identifier).join(", ")})`,
    );
    await this.engine.command(
      `DELETE FROM ${CURSORS} WHERE mapping_name = '${mapping.name.replace(/'/g, "")}'`,
    );
  }

  async cursor(tenancyId: string, mapping: Mapping): Promise<string> {
    const { text } = await this.engine.query(
      `SELECT toString(argMax(last_synced_sequence_id, updated_at)) AS cursor, count() AS n FROM ${CURSORS}
       WHERE tenancy_id = {tenancy:String} AND mapping_name = {mapping:String}`,
      { params: { tenancy: tenancyId, mapping: mapping.name } },
    );
    const row = JSON.parse(text) as { cursor: string; n: number | string };
    return Number(row.n) > 0 ? row.cursor : "0";
  }

  async applyPage(tenancyId: string, mapping: Mapping, page: ChangePage) {
    const rows = await page.jsonRows();
    if (rows.length === 0) return null;
    await this.engine.insertJsonRows(mapping.targetTable, rows.join("\n"));
    const lastSeq = (JSON.parse(rows[rows.length - 1]!) as { _latchkey_seq: string })._latchkey_seq;
    await this.engine.insertJsonRows(
      CURSORS,
      JSON.stringify({ tenancy_id: tenancyId, mapping_name: mapping.name, last_synced_sequence_id: lastSeq }),
    );
    return { count: rows.length, lastSeq: String(lastSeq) };
  }

  async close(): Promise<void> {
    await this.engine.close();
  }
}
