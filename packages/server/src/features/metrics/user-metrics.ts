import type { RenderedConfig } from "@latchkey/contracts";
import { sql } from "kysely";
import { listUsers } from "../users/list.ts";
import { type Db, selectUsers } from "../users/records.ts";
import { userView } from "../users/views.ts";
import { fillSeries, type MetricsWindow } from "./window.ts";

export interface MetricsScope {
  tenancyId: string;
  projectId: string;
  branchId: string;
  config: RenderedConfig;
  includeAnonymous: boolean;
}

interface UserCounts {
  regular: number;
  anonymous: number;
  verified: number;
  otp: number;
  passkey: number;
}

/**
 * The user counts of the tenancy. "Verified" = a non-anonymous user with a verified e-mail channel;
 * verified + unverified + anonymous is every user whatever the filter. Verified users are counted
 * from the verified-e-mail index (in user order, so distinct users come for free), less the rare
 * anonymous user holding one — never by joining a million channels to a million users.
 */
export async function userCounts(db: Db, tenancyId: string): Promise<UserCounts> {
  const { rows } = await sql<UserCounts>`
    SELECT count(*) FILTER (WHERE NOT is_anonymous)::int AS regular,
           count(*) FILTER (WHERE is_anonymous)::int AS anonymous,
           count(*) FILTER (WHERE otp_auth_enabled)::int AS otp,
           count(*) FILTER (WHERE passkey_auth_enabled)::int AS passkey,
           ((SELECT count(*) FROM (SELECT DISTINCT user_id FROM contact_channels
                                    WHERE tenancy_id = ${tenancyId} AND type = 'email' AND is_verified) v)
            - (SELECT count(*) FROM users a
                WHERE a.tenancy_id = ${tenancyId} AND a.is_anonymous
                  AND EXISTS (SELECT 1 FROM contact_channels c
                               WHERE c.tenancy_id = a.tenancy_id AND c.user_id = a.id
                                 AND c.type = 'email' AND c.is_verified)))::int AS verified
      FROM users
     WHERE tenancy_id = ${tenancyId}`.execute(db);
  return rows[0]!;
}

/**
 * Credentials per sign-in method: a user with a password and GitHub counts under both.
 * OAuth accounts count under their provider id.
 */
export async function credentialCounts(
  db: Db,
  tenancyId: string,
): Promise<{ method: string; count: number }[]> {
  const { rows } = await sql<{ method: string; count: number }>`
    SELECT 'password' AS method, count(*)::int AS count FROM password_credentials WHERE tenancy_id = ${tenancyId}
    UNION ALL
    SELECT lower(provider_config_id), count(*)::int FROM oauth_accounts WHERE tenancy_id = ${tenancyId}
     GROUP BY lower(provider_config_id)`.execute(db);
  return rows;
}

/** Every method in use, most used first: credentials, plus the OTP and passkey flags of users. */
export function loginMethods(
  credentials: { method: string; count: number }[],
  counts: UserCounts,
): { method: string; count: number }[] {
  const methods = [
    ...credentials,
    { method: "otp", count: counts.otp },
    { method: "passkey", count: counts.passkey },
  ];
  return methods
    .filter((entry) => entry.count > 0)
    .sort((a, b) => b.count - a.count || a.method.localeCompare(b.method));
}

/**
 * Sign-ups per UTC day of the window. Both counts are index-only walks: every sign-up of the window,
 * less (when they are left out) the anonymous ones from their partial index.
 */
export async function dailySignUps(db: Db, scope: MetricsScope, window: MetricsWindow) {
  const since = new Date(window.sinceMs);
  const until = new Date(window.untilExclusiveMs);
  const { rows } = await sql<{ day: string; users: number }>`
    WITH all_users AS (
      SELECT (signed_up_at AT TIME ZONE 'UTC')::date AS day, count(*) AS users FROM users
       WHERE tenancy_id = ${scope.tenancyId} AND signed_up_at >= ${since} AND signed_up_at < ${until}
       GROUP BY 1
    ), anonymous AS (
      SELECT (signed_up_at AT TIME ZONE 'UTC')::date AS day, count(*) AS users FROM users
       WHERE NOT ${scope.includeAnonymous} AND is_anonymous
         AND tenancy_id = ${scope.tenancyId} AND signed_up_at >= ${since} AND signed_up_at < ${until}
       GROUP BY 1
    )
    SELECT to_char(a.day, 'YYYY-MM-DD') AS day, (a.users - coalesce(n.users, 0))::int AS users
      FROM all_users a LEFT JOIN anonymous n ON n.day = a.day`.execute(db);
  return fillSeries(
    window,
    rows.map((row) => [row.day, row.users]),
  );
}

export async function teamCount(db: Db, tenancyId: string): Promise<number> {
  const { rows } = await sql<{ teams: number }>`
    SELECT count(*)::int AS teams FROM teams WHERE tenancy_id = ${tenancyId}`.execute(db);
  return rows[0]!.teams;
}

/** The 100 newest sign-ups, as the admin user list shows them. */
export async function recentlyRegistered(db: Db, scope: MetricsScope) {
  const { items } = await listUsers(db, scope.tenancyId, scope.config, {
    desc: "true",
    limit: 100,
    include_anonymous: scope.includeAnonymous ? "true" : undefined,
  });
  return items.map((user) => userView(user, scope.config, "server"));
}

/** The 5 users seen most recently (by their last token refresh). */
export async function recentlyActive(db: Db, scope: MetricsScope) {
  const users = await selectUsers(
    db,
    scope.tenancyId,
    scope.includeAnonymous ? sql`true` : sql`NOT u.is_anonymous`,
    sql`ORDER BY u.last_active_at DESC LIMIT 5`,
  );
  return users.map((user) => userView(user, scope.config, "server"));
}

/** Recorded browser sessions: all time, in the window, and their average length in the window. */
export async function replayStats(db: Db, tenancyId: string, window: MetricsWindow) {
  const { rows } = await sql<{ total: number; recent: number; avg_seconds: number | null }>`
    SELECT count(*)::int AS total,
           count(*) FILTER (WHERE started_at >= ${new Date(window.sinceMs)})::int AS recent,
           avg(greatest(0, extract(epoch FROM last_event_at - started_at)))
             FILTER (WHERE started_at >= ${new Date(window.sinceMs)})::float8 AS avg_seconds
      FROM session_replays WHERE tenancy_id = ${tenancyId}`.execute(db);
  return rows[0]!;
}
