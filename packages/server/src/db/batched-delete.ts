import { type Kysely, type RawBuilder, sql } from "kysely";
import type { Database } from "./database.ts";

const BATCH = 10_000;

/** When a housekeeping deletion runs: `now` for its cut-off, `signal` to stop it between batches. */
export interface PruneOptions {
  now?: Date;
  signal?: AbortSignal;
}

/**
 * Deletes the rows of `table` that `where` matches, 10,000 a statement, so that a first clean-up of a
 * large backlog holds neither a long transaction nor millions of row locks. Returns how many went.
 * Once `signal` is aborted (a shutdown) it stops before the next batch; the rest waits for a next run.
 */
export async function deleteInBatches(
  db: Kysely<Database>,
  table: string,
  where: RawBuilder<unknown>,
  signal?: AbortSignal,
): Promise<number> {
  let total = 0;
  while (!signal?.aborted) {
    const result = await sql`DELETE FROM ${sql.table(table)} WHERE ctid = ANY(ARRAY(
      SELECT ctid FROM ${sql.table(table)} WHERE ${where} LIMIT ${BATCH}))`.execute(db);
    const deleted = Number(result.numAffectedRows ?? 0n);
    total += deleted;
    if (deleted < BATCH) break;
  }
  return total;
}
