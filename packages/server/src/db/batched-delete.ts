import { type Kysely, type RawBuilder, sql } from "kysely";
import type { Database } from "./database.ts";

const BATCH = 10_000;

/**
 * Deletes the rows of `table` that `where` matches, 10,000 a statement, so that a first clean-up of a
 * large backlog holds neither a long transaction nor millions of row locks. Returns how many went.
 */
export async function deleteInBatches(
  db: Kysely<Database>,
  table: string,
  where: RawBuilder<unknown>,
): Promise<number> {
  let total = 0;
  for (;;) {
    const result = await sql`DELETE FROM ${sql.table(table)} WHERE ctid = ANY(ARRAY(
      SELECT ctid FROM ${sql.table(table)} WHERE ${where} LIMIT ${BATCH}))`.execute(db);
    const deleted = Number(result.numAffectedRows ?? 0n);
    total += deleted;
    if (deleted < BATCH) return total;
  }
}
