import { sql } from "kysely";
import { StatusError } from "../../errors/index.ts";
import type { Db } from "../users/records.ts";

/**
 * Counts a hit in a fixed window shared by every process (one upsert), and refuses with 429 and
 * `Retry-After` once the window's budget is spent. The SDK retries 429s after that delay.
 */
export async function rateLimit(db: Db, bucket: string, limit: number, windowSeconds: number): Promise<void> {
  const windowMs = windowSeconds * 1000;
  const windowStart = new Date(Math.floor(Date.now() / windowMs) * windowMs);
  const { rows } = await sql<{ count: number }>`
    INSERT INTO rate_limit_counters (bucket, window_start, count) VALUES (${bucket}, ${windowStart}, 1)
    ON CONFLICT (bucket, window_start) DO UPDATE SET count = rate_limit_counters.count + 1
    RETURNING count`.execute(db);
  if ((rows[0]?.count ?? 0) > limit) {
    const retryAfter = Math.max(1, Math.ceil((windowStart.getTime() + windowMs - Date.now()) / 1000));
    throw new StatusError(429, "Too many attempts. Please wait a moment and try again.", {
      "retry-after": String(retryAfter),
    });
  }
}

/** Old windows are useless; drop them now and then so the table stays small. */
export async function pruneRateLimits(db: Db): Promise<void> {
  await sql`DELETE FROM rate_limit_counters WHERE window_start < now() - interval '1 day'`.execute(db);
}
