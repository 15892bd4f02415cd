import type { Readable } from "node:stream";
import type { Mapping } from "./mappings.ts";

/** One page of changes, readable as COPY text (PostgreSQL targets) or as JSON rows (ClickHouse). */
export interface ChangePage {
  copyOut(): Readable;
  jsonRows(): Promise<string[]>;
  /** Offered while a mapping is being filled in bulk (first sync, or after a full page). */
  bulk?: BulkPage;
}

/**
 * The same page as bare live rows (`<columns…>, seq` COPY text, no tombstones), which a target can
 * load straight into its table when every row is new to it.
 */
export interface BulkPage {
  copyLiveRows(): Readable;
  /**
   * Whether a tombstone has a sequence id in (the page's cursor, `lastSeq`]: the bare rows up to
   * `lastSeq` are then not the whole page, and the target must take the full one.
   */
  hasTombstonesUpTo(lastSeq: string): Promise<boolean>;
}

/**
 * How long one call to a customer's database may take before it counts as failed: a page of 50,000
 * rows loads in a few seconds, and a server that stops answering must not hold a sync slot for good.
 */
export const TARGET_TIMEOUT_MS = 60_000;

export interface TargetOptions {
  /** Bound on each call to the target (default {@link TARGET_TIMEOUT_MS}). */
  timeoutMs?: number;
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
