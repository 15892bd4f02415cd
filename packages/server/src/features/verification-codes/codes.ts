import { createHash } from "node:crypto";
import { type Kysely, sql } from "kysely";
import { deleteInBatches, type PruneOptions } from "../../db/batched-delete.ts";
import type { Database } from "../../db/database.ts";
import { KnownError } from "../../errors/index.ts";
import { randomSecret } from "../projects/keys.ts";
import type { Db } from "../users/records.ts";

export type CodePurpose = "contact_channel_verification" | "password_reset" | "otp_sign_in" | "mfa_sign_in";

export const DEFAULT_CODE_LIFETIME_MS = 7 * 24 * 3600 * 1000;
const MAX_ATTEMPTS = 20;
/**
 * How long an expired code is kept: a late use within it still hears VERIFICATION_CODE_EXPIRED
 * rather than not found. After it the code goes, with the address or user id its data names.
 */
export const EXPIRED_CODE_RETENTION_MS = 7 * 24 * 3600 * 1000;

const digest = (code: string) => createHash("sha256").update(code.toLowerCase()).digest();

/** Creates a single-use 45-character code; only its digest is stored. */
export async function createCode(
  db: Db,
  input: { tenancyId: string; purpose: CodePurpose; data: Record<string, unknown>; lifetimeMs?: number },
): Promise<string> {
  const code = randomSecret();
  await db
    .insertInto("verification_codes")
    .values({
      tenancy_id: input.tenancyId,
      purpose: input.purpose,
      code_hash: digest(code),
      data: JSON.stringify(input.data),
      expires_at: new Date(Date.now() + (input.lifetimeMs ?? DEFAULT_CODE_LIFETIME_MS)),
    })
    .execute();
  return code;
}

/**
 * Checks a code for one purpose and, when `consume`, marks it used in the same statement — two
 * concurrent uses cannot both succeed. Errors follow the contract: unknown or other purpose → 404,
 * expired, already used (409), too many attempts.
 */
export async function checkCode(
  db: Db,
  input: {
    tenancyId: string;
    purpose: CodePurpose;
    code: string;
    consume: boolean;
    /** This try already took one of the code's attempts ({@link admitAttempt}): the cap was checked then. */
    attemptAdmitted?: boolean;
  },
): Promise<Record<string, unknown>> {
  const admitted = input.attemptAdmitted ?? false;
  const { rows } = await sql<{
    purpose: string;
    data: Record<string, unknown>;
    expires_at: Date;
    used_at: Date | null;
    attempt_count: number;
    consumed: boolean;
  }>`
    WITH found AS (
      SELECT tenancy_id, id, purpose, data, expires_at, used_at, attempt_count FROM verification_codes
       WHERE tenancy_id = ${input.tenancyId} AND code_hash = ${digest(input.code)}
       FOR UPDATE
    ), consumed AS (
      UPDATE verification_codes v SET used_at = now(), attempt_count = v.attempt_count + 1
        FROM found f
       WHERE v.tenancy_id = f.tenancy_id AND v.id = f.id AND ${input.consume}
         AND f.purpose = ${input.purpose} AND f.used_at IS NULL AND f.expires_at > now()
         AND (${admitted} OR f.attempt_count < ${MAX_ATTEMPTS})
      RETURNING v.id
    )
    SELECT f.purpose, f.data, f.expires_at, f.used_at, f.attempt_count, EXISTS (SELECT 1 FROM consumed) AS consumed
      FROM found f`.execute(db);
  const row = rows[0];
  if (!row || row.purpose !== input.purpose) throw new KnownError("VERIFICATION_CODE_NOT_FOUND");
  // Upstream's order: an expired code is expired, used or not.
  if (new Date(row.expires_at).getTime() <= Date.now()) throw new KnownError("VERIFICATION_CODE_EXPIRED");
  if (row.used_at) throw new KnownError("VERIFICATION_CODE_ALREADY_USED");
  if (!admitted && row.attempt_count >= MAX_ATTEMPTS)
    throw new KnownError("VERIFICATION_CODE_MAX_ATTEMPTS_REACHED");
  if (input.consume && !row.consumed) throw new KnownError("VERIFICATION_CODE_ALREADY_USED");
  return row.data;
}

/** Adds the code to a callback URL, as the e-mailed link carries it. */
export function linkWithCode(callbackUrl: string, code: string): string {
  const url = new URL(callbackUrl);
  url.searchParams.set("code", code);
  return url.toString();
}

/**
 * Takes one of a code's 20 attempts for a try that is judged afterwards (a second factor checked against
 * the code's user), in a statement of its own that commits at once. Counting misses after the fact let
 * tries queued on the code's lock all read the count from before the others' misses: a burst got two to
 * three times the attempts. False when the code cannot be tried (unknown, other purpose, expired, used,
 * out of attempts): `checkCode` then says which.
 */
export async function admitAttempt(
  db: Db,
  input: { tenancyId: string; purpose: CodePurpose; code: string },
): Promise<boolean> {
  const admitted = await db
    .updateTable("verification_codes")
    .set((eb) => ({ attempt_count: eb("attempt_count", "+", 1) }))
    .where("tenancy_id", "=", input.tenancyId)
    .where("code_hash", "=", digest(input.code))
    .where("purpose", "=", input.purpose)
    .where("used_at", "is", null)
    .where("expires_at", ">", new Date())
    .where("attempt_count", "<", MAX_ATTEMPTS)
    .executeTakeFirst();
  return admitted.numUpdatedRows > 0n;
}

/** Drops codes that expired more than {@link EXPIRED_CODE_RETENTION_MS} ago (server housekeeping). */
export function pruneExpiredCodes(
  db: Kysely<Database>,
  { now = new Date(), signal }: PruneOptions = {},
): Promise<number> {
  const cutoff = new Date(now.getTime() - EXPIRED_CODE_RETENTION_MS);
  return deleteInBatches(db, "verification_codes", sql`expires_at < ${cutoff}`, signal);
}
