import { type Expression, type Kysely, sql } from "kysely";
import { deleteInBatches, type PruneOptions } from "../../db/batched-delete.ts";
import type { Database } from "../../db/database.ts";
import { prepared } from "../../db/prepared-statements.ts";
import { StatusError } from "../../errors/index.ts";
import type { Db } from "../users/records.ts";

export interface RateLimitBucket {
  bucket: string;
  /** Hits allowed in any window-long stretch of time. */
  limit: number;
}

interface BucketCounts {
  /** Hits in the current fixed window, this one included. */
  current: number;
  /** Hits in the window before it. */
  previous: number;
}

/**
 * Counts a hit against several buckets, each with its own budget, shared by every process, and refuses
 * with 429 and `Retry-After` once any budget is spent (the SDK retries 429s after that delay). The read
 * the limit guards runs in the same statement, so a limited request costs no extra round trip; its row
 * is only handed back while the budgets last. The row travels as JSON: give it columns that survive
 * that (text, numbers, booleans — not bytea or timestamps).
 *
 * Counts are kept per fixed window, but a budget holds over a sliding one: the previous window's hits
 * count in proportion to how much of it the sliding window still covers. Fixed windows alone let a
 * caller spend a budget at the end of one window and again at the start of the next — twice the
 * budget in a moment.
 */
export async function rateLimited<Row>(
  db: Db,
  buckets: readonly RateLimitBucket[],
  windowSeconds: number,
  guardedRead: Expression<Row>,
  now = Date.now(),
): Promise<Row | undefined> {
  const windowMs = windowSeconds * 1000;
  const windowStart = Math.floor(now / windowMs) * windowMs;
  const hits = sql.join(
    buckets.map(({ bucket }) => sql`(${bucket}, ${new Date(windowStart)}::timestamptz, 1)`),
  );
  // The guarded read is evaluated either way (a read, never shown when over budget): one plan, one row.
  const { rows } = await sql<{ counts: Record<string, BucketCounts>; guarded: Row | null }>`
    ${prepared} WITH counted AS (
      INSERT INTO rate_limit_counters (bucket, window_start, count) VALUES ${hits}
      ON CONFLICT (bucket, window_start) DO UPDATE SET count = rate_limit_counters.count + 1
      RETURNING bucket, count
    )
    SELECT (SELECT jsonb_object_agg(counted.bucket,
                     jsonb_build_object('current', counted.count, 'previous', coalesce(previous.count, 0)))
              FROM counted
              LEFT JOIN rate_limit_counters AS previous
                ON previous.bucket = counted.bucket
               AND previous.window_start = ${new Date(windowStart - windowMs)}::timestamptz)
             AS counts,
           (SELECT to_jsonb(guarded) FROM (${guardedRead}) AS guarded LIMIT 1) AS guarded`.execute(db);
  const [{ counts, guarded }] = rows as [(typeof rows)[number]];
  const elapsed = (now - windowStart) / windowMs;
  // Whole milliseconds, so float dust never rounds a whole second up to the next one.
  const waitMs = Math.round(
    Math.max(...buckets.map(({ bucket, limit }) => waitFor(counts[bucket]!, limit, elapsed) * windowMs)),
  );
  if (waitMs > 0) {
    throw new StatusError(429, "Too many attempts. Please wait a moment and try again.", {
      "retry-after": String(Math.max(1, Math.ceil(waitMs / 1000))),
    });
  }
  return guarded ?? undefined;
}

/**
 * How long, in windows, until a hit would fit the budget again — 0 if this one did. `elapsed` is the
 * part of the current window gone by. A sliding window's count is the current window's hits plus the
 * previous window's, weighted by how much of that window it still covers.
 */
export function waitFor({ current, previous }: BucketCounts, limit: number, elapsed: number): number {
  if (current + previous * (1 - elapsed) <= limit) return 0;
  // The next hit makes `current + 1`. Within this window the previous one's weight keeps shrinking…
  if (current + 1 <= limit) return Math.max(0, 1 - (limit - current - 1) / previous - elapsed);
  // …otherwise not before the next window, where this window's hits weigh in as the previous ones.
  return 1 - elapsed + Math.max(0, 1 - (limit - 1) / current);
}

/**
 * Windows a sliding count no longer reads are useless; the server drops them periodically so the table
 * stays small. A window is read until the one after it ends: two window lengths after it started (an
 * hour at least). All budgets share the table, so `windowSeconds` is the longest window in use.
 */
export function pruneRateLimits(
  db: Kysely<Database>,
  windowSeconds: number,
  { now = new Date(), signal }: PruneOptions = {},
): Promise<number> {
  const unreadBefore = new Date(now.getTime() - Math.max(3600, 2 * windowSeconds) * 1000);
  return deleteInBatches(db, "rate_limit_counters", sql`window_start < ${unreadBefore}`, signal);
}
