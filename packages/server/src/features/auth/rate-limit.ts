import { sql } from "kysely";
import { prepared } from "../../db/prepared-statements.ts";
import { StatusError } from "../../errors/index.ts";
import type { Db } from "../users/records.ts";

/**
 * Counts a hit in fixed windows shared by every process — several buckets, each with its own budget,
 * in one upsert — and refuses with 429 and `Retry-After` once any budget is spent. The SDK retries
 * 429s after that delay.
 */
export async function rateLimit(
  db: Db,
  buckets: readonly { bucket: string; limit: number }[],
  windowSeconds: number,
): Promise<void> {
  const windowMs = windowSeconds * 1000;
  const windowStart = new Date(Math.floor(Date.now() / windowMs) * windowMs);
  const values = sql.join(buckets.map(({ bucket }) => sql`(${bucket}, ${windowStart}::timestamptz, 1)`));
  const { rows } = await sql<{ bucket: string; count: number }>`
    ${prepared} INSERT INTO rate_limit_counters (bucket, window_start, count) VALUES ${values}
    ON CONFLICT (bucket, window_start) DO UPDATE SET count = rate_limit_counters.count + 1
    RETURNING bucket, count`.execute(db);
  const exceeded = rows.some(
    (row) => row.count > (buckets.find((b) => b.bucket === row.bucket)?.limit ?? Number.POSITIVE_INFINITY),
  );
  if (exceeded) {
    const retryAfter = Math.max(1, Math.ceil((windowStart.getTime() + windowMs - Date.now()) / 1000));
    throw new StatusError(429, "Too many attempts. Please wait a moment and try again.", {
      "retry-after": String(retryAfter),
    });
  }
}

/** Finished windows are useless; the server drops them periodically so the table stays small. */
export async function pruneRateLimits(
  db: Db,
  olderThan = new Date(Date.now() - 3600 * 1000),
): Promise<number> {
  const result = await db
    .deleteFrom("rate_limit_counters")
    .where("window_start", "<", olderThan)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
