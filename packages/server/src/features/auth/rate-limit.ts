import { type Expression, type Kysely, sql } from "kysely";
import { deleteInBatches } from "../../db/batched-delete.ts";
import type { Database } from "../../db/database.ts";
import { prepared } from "../../db/prepared-statements.ts";
import { StatusError } from "../../errors/index.ts";
import type { Db } from "../users/records.ts";

/**
 * Counts a hit in fixed windows shared by every process — several buckets, each with its own budget —
 * and refuses with 429 and `Retry-After` once any budget is spent (the SDK retries 429s after that
 * delay). The read the limit guards runs in the same statement, so a limited request costs no extra
 * round trip; its row is only handed back while the budgets last. The row travels as JSON: give it
 * columns that survive that (text, numbers, booleans — not bytea or timestamps).
 */
export async function rateLimited<Row>(
  db: Db,
  buckets: readonly { bucket: string; limit: number }[],
  windowSeconds: number,
  guardedRead: Expression<Row>,
): Promise<Row | undefined> {
  const windowMs = windowSeconds * 1000;
  const windowStart = new Date(Math.floor(Date.now() / windowMs) * windowMs);
  const hits = sql.join(buckets.map(({ bucket }) => sql`(${bucket}, ${windowStart}::timestamptz, 1)`));
  const budgets = sql.join(buckets.map(({ bucket, limit }) => sql`(${bucket}, ${limit}::bigint)`));
  // The guarded read is evaluated either way (a read, never shown when over budget): one plan, one row.
  const { rows } = await sql<{ over_budget: boolean; guarded: Row | null }>`
    ${prepared} WITH counted AS (
      INSERT INTO rate_limit_counters (bucket, window_start, count) VALUES ${hits}
      ON CONFLICT (bucket, window_start) DO UPDATE SET count = rate_limit_counters.count + 1
      RETURNING bucket, count
    )
    SELECT (SELECT bool_or(counted.count > budget.limit_per_window)
              FROM counted JOIN (VALUES ${budgets}) AS budget (bucket, limit_per_window) USING (bucket))
             AS over_budget,
           (SELECT to_jsonb(guarded) FROM (${guardedRead}) AS guarded LIMIT 1) AS guarded`.execute(db);
  const [{ over_budget, guarded }] = rows as [(typeof rows)[number]];
  if (over_budget) {
    const retryAfter = Math.max(1, Math.ceil((windowStart.getTime() + windowMs - Date.now()) / 1000));
    throw new StatusError(429, "Too many attempts. Please wait a moment and try again.", {
      "retry-after": String(retryAfter),
    });
  }
  return guarded ?? undefined;
}

/**
 * Finished windows are useless; the server drops them periodically so the table stays small. A window
 * is finished once its own length has passed since it started (kept an hour at least).
 */
export function pruneRateLimits(
  db: Kysely<Database>,
  windowSeconds: number,
  now = new Date(),
): Promise<number> {
  const finishedBefore = new Date(now.getTime() - Math.max(3600, windowSeconds) * 1000);
  return deleteInBatches(db, "rate_limit_counters", sql`window_start < ${finishedBefore}`);
}
