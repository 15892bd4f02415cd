import { sql } from "kysely";
import { KnownError, StatusError } from "../../errors/index.ts";
import type { RequestAuth } from "../../http/authenticate.ts";
import type { Db, UserRecord } from "../users/records.ts";

/**
 * The checks both ingestion routes make, in upstream's order: analytics switched on for the project,
 * a signed-in (possibly anonymous) user, and a session (refresh token) to tie the data to.
 */
export function assertIngestionAllowed(
  auth: RequestAuth,
  what: "analytics events" | "session replays",
): { user: UserRecord; refreshTokenId: string } {
  if (!auth.tenancy.config.apps.installed.analytics?.enabled) throw new KnownError("ANALYTICS_NOT_ENABLED");
  if (!auth.user) throw new KnownError("USER_AUTHENTICATION_REQUIRED");
  const refreshTokenId = auth.token?.refresh_token_id;
  if (!refreshTokenId) throw new StatusError(400, `A refresh token is required for ${what}`);
  return { user: auth.user, refreshTokenId };
}

/** A replay stays open while uploads keep coming (server time) and for at most 12 hours (its own time). */
export const REPLAY_IDLE_TIMEOUT = "3 minutes";
export const REPLAY_MAX_DURATION = "12 hours";

/** The replay the session is recording right now, if any. */
export async function recentReplayId(
  db: Db,
  tenancyId: string,
  refreshTokenId: string,
): Promise<string | null> {
  const row = await db
    .selectFrom("session_replays")
    .select("id")
    .where("tenancy_id", "=", tenancyId)
    .where("refresh_token_id", "=", refreshTokenId)
    .where("updated_at", ">=", sql<Date>`now() - ${REPLAY_IDLE_TIMEOUT}::interval`)
    .where("started_at", ">=", sql<Date>`now() - ${REPLAY_MAX_DURATION}::interval`)
    .orderBy("updated_at", "desc")
    .limit(1)
    .executeTakeFirst();
  return row?.id ?? null;
}
