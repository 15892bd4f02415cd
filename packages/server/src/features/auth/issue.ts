import type { AppContext } from "../../app-context.ts";
import { KnownError } from "../../errors/index.ts";
import type { ProjectSnapshot, TenancySnapshot } from "../projects/index.ts";
import { type Db, selectUser, type UserRecord } from "../users/records.ts";
import { tokenClaimsOf } from "../users/views.ts";
import { createSession } from "./sessions.ts";

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
  const { sessionId, refreshToken } = await createSession(db, {
    tenancyId: ref.tenancy.id,
    userId,
    expiresInMs: options.expiresInMs,
    isImpersonation: options.isImpersonation,
    ip: options.ip,
  });
  const user = await selectUser(db, ref.tenancy.id, userId);
  if (!user) throw new KnownError("USER_NOT_FOUND");
  return {
    access_token: await accessTokenFor(app, ref, user, sessionId),
    refresh_token: refreshToken,
    user_id: userId,
  };
}
