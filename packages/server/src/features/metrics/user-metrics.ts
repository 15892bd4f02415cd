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
 * The user counts of the tenancy in one pass over its users. "Verified" = a non-anonymous user with a
 * verified e-mail channel; verified + unverified + anonymous is every user whatever the filter.
 */
export async function userCounts(db: Db, tenancyId: string): Promise<UserCounts> {
  const { rows } = await sql<UserCounts>`
    SELECT count(*) FILTER (WHERE NOT u.is_anonymous)::int AS regular,
           count(*) FILTER (WHERE u.is_anonymous)::int AS anonymous,
           count(*) FILTER (WHERE NOT u.is_anonymous AND v.user_id IS NOT NULL)::int AS verified,
           count(*) FILTER (WHERE u.otp_auth_enabled)::int AS otp,
           count(*) FILTER (WHERE u.passkey_auth_enabled)::int AS passkey
      FROM users u
      LEFT JOIN (SELECT DISTINCT c.user_id FROM contact_channels c
                  WHERE c.tenancy_id = ${tenancyId} AND c.type = 'email' AND c.is_verified) v
        ON v.user_id = u.id
     WHERE u.tenancy_id = ${tenancyId}`.execute(db);
  return rows[0]!;
}

/**
 * Sign-in methods, one count per method a user has (a user with a password and GitHub counts twice).
 * OAuth accounts count under their provider id.
 */
export async function loginMethods(
  db: Db,
  tenancyId: string,
  counts: UserCounts,
): Promise<{ method: string; count: number }[]> {
  const { rows } = await sql<{ method: string; count: number }>`
    SELECT 'password' AS method, count(*)::int AS count FROM password_credentials WHERE tenancy_id = ${tenancyId}
    UNION ALL
    SELECT lower(provider_config_id), count(*)::int FROM oauth_accounts WHERE tenancy_id = ${tenancyId}
     GROUP BY lower(provider_config_id)`.execute(db);
  const methods = [
    ...rows,
    { method: "otp", count: counts.otp },
    { method: "passkey", count: counts.passkey },
  ];
  return methods
    .filter((entry) => entry.count > 0)
    .sort((a, b) => b.count - a.count || a.method.localeCompare(b.method));
}

/** Sign-ups per UTC day of the window. */
export async function dailySignUps(db: Db, scope: MetricsScope, window: MetricsWindow) {
  const { rows } = await sql<{ day: string; users: number }>`
    SELECT to_char(signed_up_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*)::int AS users
      FROM users
     WHERE tenancy_id = ${scope.tenancyId}
       AND signed_up_at >= ${new Date(window.sinceMs)} AND signed_up_at < ${new Date(window.untilExclusiveMs)}
       AND (${scope.includeAnonymous} OR NOT is_anonymous)
     GROUP BY 1`.execute(db);
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
