import { sql } from "kysely";
import type { AppContext } from "../../app-context.ts";
import { KnownError } from "../../errors/index.ts";
import type { ProjectSnapshot, TenancySnapshot } from "../projects/index.ts";
import { type Db, selectUsers, type UserRecord } from "../users/records.ts";
import { tokenClaimsOf } from "../users/views.ts";
import { newSession } from "./sessions.ts";

export interface TenancyRef {
  project: ProjectSnapshot;
  tenancy: TenancySnapshot;
}

export async function accessTokenFor(
  app: AppContext,
  ref: TenancyRef,
  user: UserRecord,
  sessionId: string,
): Promise<string> {
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
  options: { expiresInMs?: number; isImpersonation?: boolean; ip?: string | null } = {},
): Promise<{ access_token: string; refresh_token: string; user_id: string }> {
  const session = newSession({
    tenancyId: ref.tenancy.id,
    userId,
    expiresInMs: options.expiresInMs,
    isImpersonation: options.isImpersonation,
    ip: options.ip,
  });
  // One statement opens the session and reads the user the access token describes.
  const [user] = await selectUsers(db, ref.tenancy.id, sql`u.id = ${userId}`, sql``, session.insertClause);
  if (!user) throw new KnownError("USER_NOT_FOUND");
  const { sessionId, refreshToken } = session;
  return {
    access_token: await accessTokenFor(app, ref, user, sessionId),
    refresh_token: refreshToken,
    user_id: userId,
  };
}
