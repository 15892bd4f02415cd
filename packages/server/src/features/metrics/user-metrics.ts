import type { RenderedConfig } from "@latchkey/contracts";
import { sql } from "kysely";
import { listUsers } from "../users/list.ts";
import { type Db, selectUsers } from "../users/records.ts";
import { userView } from "../users/views.ts";
import { fillSeries, isoDay, type MetricsWindow } from "./window.ts";

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
 * The user counts of the tenancy, summed from its tallies (see the user_tallies migration: every write
 * appends a signed delta, so this reads a few rows per sign-up day, not a row per user). "Verified" =
 * a non-anonymous user with a verified e-mail channel; verified + unverified + anonymous is every user
 * whatever the filter.
 */
export async function userCounts(db: Db, tenancyId: string): Promise<UserCounts> {
  const { rows } = await sql<UserCounts>`
    SELECT coalesce(sum(users) FILTER (WHERE NOT is_anonymous), 0)::int AS regular,
           coalesce(sum(users) FILTER (WHERE is_anonymous), 0)::int AS anonymous,
           coalesce(sum(otp), 0)::int AS otp,
           coalesce(sum(passkey), 0)::int AS passkey,
           coalesce(sum(verified), 0)::int AS verified
      FROM user_tallies
     WHERE tenancy_id = ${tenancyId}`.execute(db);
  return rows[0]!;
}

/**
 * Credentials per sign-in method, from their tallies: a user with a password and GitHub counts under
 * both. OAuth accounts count under their provider id.
 */
export async function credentialCounts(
  db: Db,
  tenancyId: string,
): Promise<{ method: string; count: number }[]> {
  const { rows } = await sql<{ method: string; count: number }>`
    SELECT method, sum(credentials)::int AS count FROM credential_tallies
     WHERE tenancy_id = ${tenancyId}
     GROUP BY method
    HAVING sum(credentials) > 0`.execute(db);
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

/** Sign-ups per UTC day of the window, from the tallies (kept per sign-up day). */
export async function dailySignUps(db: Db, scope: MetricsScope, window: MetricsWindow) {
  const { rows } = await sql<{ day: string; users: number }>`
    SELECT to_char(signed_up_on, 'YYYY-MM-DD') AS day, sum(users)::int AS users
      FROM user_tallies
     WHERE tenancy_id = ${scope.tenancyId}
       AND signed_up_on >= ${isoDay(window.sinceMs)}::date AND signed_up_on < ${isoDay(window.untilExclusiveMs)}::date
       AND (${scope.includeAnonymous} OR NOT is_anonymous)
     GROUP BY signed_up_on`.execute(db);
  return fillSeries(
    window,
    rows.map((row) => [row.day, row.users]),
  );
}

/** Merges the tallies' deltas (run by the server's housekeeping; reads are right before and after). */
export async function mergeTallies(db: Db): Promise<void> {
  await sql`SELECT merge_tallies()`.execute(db);
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
    { tail: sql`ORDER BY u.last_active_at DESC LIMIT 5` },
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
