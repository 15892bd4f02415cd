import { createHash } from "node:crypto";
import { sql } from "kysely";
import Type from "typebox";
import { KnownError, StatusError } from "../../errors/index.ts";
import type { RequestAuth } from "../../http/authenticate.ts";
import { tenancyContext } from "../../http/requirements.ts";
import { defineRoute, json } from "../../http/route.ts";
import { recordSignUp } from "../analytics/events.ts";
import { sendEmail } from "../emails/outbox.ts";
import { type Db, lockAuthEmail, lockUser } from "../users/records.ts";
import { emailAddress } from "../users/schemas.ts";
import { createOrUpgradeUser, normalizeEmail } from "../users/service.ts";
import { checkCode, createCode, linkWithCode } from "../verification-codes/codes.ts";
import { checkCodeRoute, codeBody } from "../verification-codes/routes.ts";
import { assessBotChallenge, type BotChallengeAssessment, botChallengeFields } from "./bot-challenge.ts";
import { endUserOrigin } from "./end-user.ts";
import { signIn } from "./issue.ts";
import { requireSecondFactor } from "./second-factor.ts";
import { checkSignUp } from "./sign-up-checks.ts";
import { recordSignUpAssessment } from "./sign-up-risk.ts";
import { isTrustedUrl } from "./trusted-urls.ts";

const anyAccess = ["client", "server", "admin"] as const;
const tags = ["One-time codes"];
const OTP_LENGTH = 6;
const nonceDigest = (nonce: string) => createHash("sha256").update(nonce.toLowerCase()).digest("hex");

function assertOtpEnabled(auth: RequestAuth): void {
  if (!auth.tenancy.config.auth.otp.allowSignIn)
    throw new StatusError(403, "OTP sign-in is not enabled for this project");
}

/**
 * A wrong one-time code for a known nonce counts against that nonce, so the six characters cannot be
 * guessed: after 20 misses the code is dead.
 */
async function countWrongOtpGuess(auth: RequestAuth, db: Db, fullCode: string) {
  await sql`UPDATE verification_codes SET attempt_count = attempt_count + 1
             WHERE tenancy_id = ${auth.tenancy.id} AND purpose = 'otp_sign_in' AND used_at IS NULL
               AND data->>'nonce_digest' = ${nonceDigest(fullCode.slice(OTP_LENGTH))}`.execute(db);
}

type OtpOutcome =
  | {
      tokens: { access_token: string; refresh_token: string; user_id: string; is_new_user: boolean };
      /** A new user, not an anonymous one upgraded: the sign-up analytics count. */
      signedUp: boolean;
    }
  | { secondFactorFor: string };

/**
 * The account a code for `email` signs in to, if one has the address for signing in. Only a verified
 * address lets a code in: anyone may sign an unverified address up with a password, and a code sent to
 * its real owner must not open that account (whose password its creator keeps). Signing in with a code
 * adds the method to the account. Call it holding the address's lock.
 */
async function otpAccount(
  trx: Db,
  auth: RequestAuth,
  email: string,
): Promise<{ userId: string; hasTotp: boolean } | null> {
  const channel = await trx
    .selectFrom("contact_channels")
    .select(["user_id", "is_verified"])
    .where("tenancy_id", "=", auth.tenancy.id)
    .where("type", "=", "email")
    .where("value", "=", email)
    .where("used_for_auth", "=", true)
    .executeTakeFirst();
  // A user deleted since it was found leaves the address free: the code signs up anew.
  if (!channel || !(await lockUser(trx, auth.tenancy.id, channel.user_id))) return null;
  if (!channel.is_verified) throw new KnownError("USER_EMAIL_ALREADY_EXISTS", email, true);
  const user = await trx
    .selectFrom("users")
    .select(["otp_auth_enabled", sql<boolean>`totp_secret IS NOT NULL`.as("has_totp")])
    .where("tenancy_id", "=", auth.tenancy.id)
    .where("id", "=", channel.user_id)
    .executeTakeFirstOrThrow();
  if (!user.otp_auth_enabled) {
    await trx
      .updateTable("users")
      .set({ otp_auth_enabled: true, updated_at: new Date() })
      .where("tenancy_id", "=", auth.tenancy.id)
      .where("id", "=", channel.user_id)
      .execute();
  }
  return { userId: channel.user_id, hasTotp: user.has_totp };
}

export const otpRoutes = [
  defineRoute({
    method: "POST",
    path: "/auth/otp/send-sign-in-code",
    summary: "E-mail a sign-in code and magic link",
    tags,
    access: anyAccess,
    schemas: {
      body: Type.Object(
        {
          email: emailAddress,
          callback_url: Type.String(),
          ...botChallengeFields,
        },
        { additionalProperties: false },
      ),
    },
    handler: async ({ auth, body, app, raw }) => {
      assertOtpEnabled(auth);
      if (!isTrustedUrl(auth.tenancy.config, body.callback_url))
        throw new KnownError("REDIRECT_URL_NOT_WHITELISTED");
      const email = normalizeEmail(body.email);
      // Whether the address has an account, and whether that account would take a code, is only said
      // when a code is used (upstream says it here): asking for a code must not tell a stranger which
      // addresses are registered.
      // Checked when the code is asked for; it counts if the code then creates an account.
      const challenge = await assessBotChallenge(
        app,
        auth.tenancy.config,
        body,
        "send_magic_link_email",
        endUserOrigin(app, raw).ip,
      );
      // The nonce is chosen first so the code row can be found (and attempts counted) by it.
      const fullCode = await createCode(app.database.db, {
        tenancyId: auth.tenancy.id,
        purpose: "otp_sign_in",
        data: { email, bot_challenge: challenge },
        // A quarter of an hour (upstream: a week): a six-character code must not stay guessable long.
        lifetimeMs: 15 * 60 * 1000,
      });
      const nonce = fullCode.slice(OTP_LENGTH);
      await sql`UPDATE verification_codes SET data = data || jsonb_build_object('nonce_digest', ${nonceDigest(nonce)}::text)
                 WHERE tenancy_id = ${auth.tenancy.id} AND code_hash = ${createHash("sha256").update(fullCode).digest()}`.execute(
        app.database.db,
      );
      await sendEmail(app, {
        tenancyId: auth.tenancy.id,
        to: email,
        subject: `Your sign-in code for ${auth.project.row.display_name}: ${fullCode.slice(0, OTP_LENGTH).toUpperCase()}`,
        text: `Your code is ${fullCode.slice(0, OTP_LENGTH).toUpperCase()}.\n\nOr sign in with this link: ${linkWithCode(body.callback_url, fullCode)}\n`,
      });
      return json({ nonce });
    },
  }),
  defineRoute({
    method: "POST",
    path: "/auth/otp/sign-in",
    summary: "Sign in (or up) with an e-mailed code",
    tags,
    access: anyAccess,
    schemas: { body: codeBody },
    handler: async ({ auth, body, app, raw }) => {
      assertOtpEnabled(auth);
      const origin = endUserOrigin(app, raw);
      const signedIn = app.database.db.transaction().execute(async (trx): Promise<OtpOutcome> => {
        const data = await checkCode(trx, {
          tenancyId: auth.tenancy.id,
          purpose: "otp_sign_in",
          code: body.code,
          consume: true,
        });
        const email = String(data.email);
        await lockAuthEmail(trx, auth.tenancy.id, email);
        const account = await otpAccount(trx, auth, email);
        if (account?.hasTotp) return { secondFactorFor: account.userId };
        if (account) {
          const tokens = await signIn(app, trx, auth, account.userId, { origin });
          return { tokens: { ...tokens, is_new_user: false }, signedUp: false };
        }
        if (!auth.tenancy.config.auth.allowSignUp) throw new KnownError("SIGN_UP_NOT_ENABLED");
        const { restriction, assessment } = await checkSignUp(app, trx, auth, {
          email,
          origin,
          authMethod: "otp",
          // Codes sent before bot challenges were recorded passed none: they are scored as passed.
          challenge: (data.bot_challenge as BotChallengeAssessment | undefined) ?? { status: "ok" },
        });
        // An anonymous user signing in with a new address becomes its account.
        const { userId, upgraded } = await createOrUpgradeUser(trx, tenancyContext(auth), auth.user, {
          primary_email: email,
          primary_email_verified: true,
          primary_email_auth_enabled: true,
          otp_auth_enabled: true,
          ...restriction,
        });
        await recordSignUpAssessment(trx, auth.tenancy.id, userId, assessment);
        const tokens = await signIn(app, trx, auth, userId, { origin });
        return { tokens: { ...tokens, is_new_user: true }, signedUp: !upgraded };
      });
      // Counted once the transaction is over: the guess must outlive its rollback, and a second
      // connection taken while the first is held lets a burst of wrong guesses starve the pool.
      const outcome = await signedIn.catch(async (error) => {
        if (error instanceof KnownError && error.code === "VERIFICATION_CODE_NOT_FOUND")
          await countWrongOtpGuess(auth, app.database.db, body.code);
        throw error;
      });
      // The code is used either way; a user with TOTP still has that step to take.
      if ("secondFactorFor" in outcome)
        return requireSecondFactor(app.database.db, auth.tenancy.id, { user_id: outcome.secondFactorFor });
      if (outcome.signedUp) recordSignUp(app, auth, outcome.tokens.user_id, "otp");
      return json(outcome.tokens);
    },
  }),
  checkCodeRoute(
    "/auth/otp/sign-in/check-code",
    "otp_sign_in",
    "Check a sign-in code without using it",
    tags,
    // Guesses here count like guesses at sign-in: otherwise the six characters could be found here.
    countWrongOtpGuess,
  ),
];
