import type { Readable } from "node:stream";
import type { Mapping } from "./mappings.ts";

/** One page of changes, readable as COPY text (PostgreSQL targets) or as JSON rows (ClickHouse). */
export interface ChangePage {
  copyOut(): Readable;
  jsonRows(): Promise<string[]>;
}

/** A customer's database that mappings are synced into. */
export interface SyncTarget {
  /** Creates the mapping's table when missing; a new (or re-created) table is refilled from the start. */
  ensureTable(mapping: Mapping): Promise<void>;
  /** The last sequence id of the tenancy's changes applied for the mapping ("0": none). */
  cursor(tenancyId: string, mapping: Mapping): Promise<string>;
  /** Applies one page and moves the cursor; null when the page was empty. */
  applyPage(
    tenancyId: string,
    mapping: Mapping,
    page: ChangePage,
  ): Promise<{ count: number; lastSeq: string } | null>;
  close(): Promise<void>;
}
