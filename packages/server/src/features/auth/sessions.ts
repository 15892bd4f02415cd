import { createHash, randomUUID } from "node:crypto";
import { type RawBuilder, sql } from "kysely";
import { prepared } from "../../db/prepared-statements.ts";
import { KnownError } from "../../errors/index.ts";
import { randomSecret } from "../projects/keys.ts";
import type { Db } from "../users/records.ts";

export const DEFAULT_SESSION_MS = 365 * 24 * 3600 * 1000;
export const MAX_SESSION_MS = 31_708_800_000; // 367 days

const digest = (refreshToken: string) => createHash("sha256").update(refreshToken).digest();

export interface SessionRow {
  tenancy_id: string;
  id: string;
  user_id: string;
  is_impersonation: boolean;
  created_at: Date;
  last_used_at: Date;
  expires_at: Date | null;
}

export interface NewSession {
  sessionId: string;
  /** Shown to the client once; only its digest is stored. */
  refreshToken: string;
  /** The INSERT, as a `WITH` clause, so opening a session can share a statement with reading the user. */
  insertClause: RawBuilder<unknown>;
}

export function newSession(input: {
  tenancyId: string;
  userId: string;
  expiresInMs?: number;
  isImpersonation?: boolean;
  ip?: string | null;
  /**
   * The password hash a sign-in verified: the session opens only while that is still the user's
   * password. A change that committed meanwhile revoked only the sessions it could see; this one then
   * opens none (and a change still running is waited for). The user row is locked first, as every
   * writer of a user locks it, so a concurrent delete cannot deadlock with it.
   */
  passwordHash?: string;
}): NewSession {
  const sessionId = randomUUID();
  const refreshToken = randomSecret();
  const expiresAt = new Date(Date.now() + (input.expiresInMs ?? DEFAULT_SESSION_MS));
  const row = sql`${input.tenancyId}::uuid, ${sessionId}::uuid, ${input.userId}::uuid, ${digest(refreshToken)}::bytea,
    ${input.isImpersonation ?? false}::boolean, ${expiresAt}::timestamptz, ${input.ip ?? null}::text`;
  const source =
    input.passwordHash === undefined
      ? sql`VALUES (${row})`
      : sql`SELECT ${row} FROM users u JOIN password_credentials p ON p.tenancy_id = u.tenancy_id AND p.user_id = u.id
          WHERE u.tenancy_id = ${input.tenancyId} AND u.id = ${input.userId} AND p.password_hash = ${input.passwordHash}
          FOR KEY SHARE OF u FOR SHARE OF p`;
  return {
    sessionId,
    refreshToken,
    insertClause: sql`WITH new_session AS (
      INSERT INTO sessions (tenancy_id, id, user_id, refresh_token_hash, is_impersonation, expires_at, last_used_ip)
      ${source}
      RETURNING id)`,
  };
}

/**
 * Finds the live session of a refresh token within a tenancy and records its use (session and user
 * "last active"). Unknown, expired or revoked tokens — and tokens of deleted users, whose sessions are
 * deleted with them — fail with `REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED`.
 *
 * The user's "last active" is skipped while another transaction holds the user row: that one (a
 * password change, a delete) locks the user and then the user's sessions, this one the session and then
 * the user, and waiting here would deadlock the two. The next refresh records it.
 */
export async function useRefreshToken(
  db: Db,
  tenancyId: string,
  refreshToken: string,
  ip: string | null,
): Promise<SessionRow> {
  const { rows } = await sql<SessionRow>`
    ${prepared} WITH used AS (
      UPDATE sessions SET last_used_at = now(), last_used_ip = ${ip}
       WHERE refresh_token_hash = ${digest(refreshToken)} AND tenancy_id = ${tenancyId}
         AND (expires_at IS NULL OR expires_at > now())
      RETURNING tenancy_id, id, user_id, is_impersonation, created_at, last_used_at, expires_at
    ), free_user AS (
      SELECT tenancy_id, id FROM users
       WHERE (tenancy_id, id) IN (SELECT tenancy_id, user_id FROM used)
         FOR NO KEY UPDATE SKIP LOCKED
    ), touched AS (
      UPDATE users SET last_active_at = now() WHERE (tenancy_id, id) IN (SELECT tenancy_id, id FROM free_user)
    )
    SELECT * FROM used`.execute(db);
  const session = rows[0];
  if (!session) throw new KnownError("REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
  return session;
}

export async function deleteSession(
  db: Db,
  tenancyId: string,
  sessionId: string,
  userId?: string,
): Promise<boolean> {
  let query = db.deleteFrom("sessions").where("tenancy_id", "=", tenancyId).where("id", "=", sessionId);
  if (userId) query = query.where("user_id", "=", userId);
  const result = await query.executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** Signs a user out everywhere, optionally keeping one session (the one changing the password). */
export async function revokeUserSessions(
  db: Db,
  tenancyId: string,
  userId: string,
  keepSessionId?: string,
): Promise<void> {
  let query = db.deleteFrom("sessions").where("tenancy_id", "=", tenancyId).where("user_id", "=", userId);
  if (keepSessionId) query = query.where("id", "<>", keepSessionId);
  await query.execute();
}

export async function sessionIdOfRefreshToken(
  db: Db,
  tenancyId: string,
  refreshToken: string,
): Promise<string | null> {
  const row = await db
    .selectFrom("sessions")
    .select("id")
    .where("tenancy_id", "=", tenancyId)
    .where("refresh_token_hash", "=", digest(refreshToken))
    .executeTakeFirst();
  return row?.id ?? null;
}
