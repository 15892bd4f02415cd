import { sql } from "kysely";
import type { AppContext } from "../../app-context.ts";
import { KnownError } from "../../errors/index.ts";
import { recordServerEvent } from "../analytics/events.ts";
import type { ProjectSnapshot, TenancySnapshot } from "../projects/index.ts";
import { type Db, selectUsers, type UserRecord } from "../users/records.ts";
import { tokenClaimsOf } from "../users/views.ts";
import { type EndUserOrigin, ipInfoOf } from "./end-user.ts";
import { newSession } from "./sessions.ts";

export interface TenancyRef {
  project: ProjectSnapshot;
  tenancy: TenancySnapshot;
}

/**
 * Mints an access token for a session and records the `$token-refresh` analytics event every issued
 * token produces (sign-ins and refreshes alike): daily active users and countries are counted from it.
 */
export async function accessTokenFor(
  app: AppContext,
  ref: TenancyRef,
  user: UserRecord,
  sessionId: string,
  origin: EndUserOrigin,
): Promise<string> {
  recordServerEvent(app, {
    event_type: "$token-refresh",
    event_at_ms: Date.now(),
    data: {
      refresh_token_id: sessionId,
      is_anonymous: user.is_anonymous,
      ip_info: ipInfoOf(origin),
    },
    project_id: ref.project.id,
    branch_id: ref.tenancy.branchId,
    user_id: user.id,
    // Team activity in the metrics counts the team the user works in when the token is issued.
    team_id: user.selected_team?.id ?? null,
    is_anonymous: user.is_anonymous,
    refresh_token_id: sessionId,
  });
  return app.tokens.issue({
    projectId: ref.project.id,
    branchId: ref.tenancy.branchId,
    sessionId,
    user: tokenClaimsOf(user, ref.tenancy.config),
  });
}

/** Opens a session for a user and returns the token pair the sign-in endpoints answer with. */
export async function signIn(
  app: AppContext,
  db: Db,
  ref: TenancyRef,
  userId: string,
  options: {
    origin: EndUserOrigin;
    expiresInMs?: number;
    isImpersonation?: boolean;
    /** For a password sign-in: the hash the password matched (see `newSession`). */
    passwordHash?: string;
  },
): Promise<{ access_token: string; refresh_token: string; user_id: string }> {
  const session = newSession({
    tenancyId: ref.tenancy.id,
    userId,
    expiresInMs: options.expiresInMs,
    isImpersonation: options.isImpersonation,
    ip: options.origin.ip,
    passwordHash: options.passwordHash,
  });
  const checked = options.passwordHash !== undefined;
  // One statement opens the session and reads the user the access token describes.
  const [user] = await selectUsers(
    db,
    ref.tenancy.id,
    checked ? sql`u.id = ${userId} AND EXISTS (SELECT 1 FROM new_session)` : sql`u.id = ${userId}`,
    { withClause: session.insertClause, prepared: true },
  );
  // The password changed (or the user went) since it was checked: as if it had been before.
  if (!user) throw new KnownError(checked ? "EMAIL_PASSWORD_MISMATCH" : "USER_NOT_FOUND");
  const { sessionId, refreshToken } = session;
  return {
    access_token: await accessTokenFor(app, ref, user, sessionId, options.origin),
    refresh_token: refreshToken,
    user_id: userId,
  };
}
