import { KnownError } from "../../errors/index.ts";
import type { Db } from "../users/records.ts";
import { createCode } from "../verification-codes/codes.ts";

/** How long the second step of a sign-in may wait for the user's TOTP code. */
const ATTEMPT_LIFETIME_MS = 5 * 60 * 1000;

/**
 * Ends the first step of a sign-in for a user with TOTP: answers MULTI_FACTOR_AUTHENTICATION_REQUIRED
 * with an attempt code, which `POST /auth/mfa/sign-in` takes with the TOTP code to open the session.
 * `attempt` is what that step needs to know of this one (the user, and for a password sign-in a digest
 * of the password it proved).
 */
export async function requireSecondFactor(
  db: Db,
  tenancyId: string,
  attempt: { user_id: string; password_digest?: string },
): Promise<never> {
  const attemptCode = await createCode(db, {
    tenancyId,
    purpose: "mfa_sign_in",
    data: attempt,
    lifetimeMs: ATTEMPT_LIFETIME_MS,
  });
  throw new KnownError("MULTI_FACTOR_AUTHENTICATION_REQUIRED", attemptCode);
}
