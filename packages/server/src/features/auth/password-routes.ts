import { createHash, randomInt } from "node:crypto";
import Type from "typebox";
import { KnownError, StatusError } from "../../errors/index.ts";
import type { RequestAuth } from "../../http/authenticate.ts";
import { stackHeader } from "../../http/headers.ts";
import { requireUserSchema, tenancyContext } from "../../http/requirements.ts";
import { defineRoute, json, success } from "../../http/route.ts";
import { recordSignUp } from "../analytics/events.ts";
import { sendContactVerification } from "../contact-channels/verification.ts";
import { sendEmail } from "../emails/outbox.ts";
import { type Db, lockAuthEmail, lockUser } from "../users/records.ts";
import { EMAIL_MAX_LENGTH, emailAddress } from "../users/schemas.ts";
import { createOrUpgradeUser, normalizeEmail, withPasswordHashed } from "../users/service.ts";
import { admitAttempt, checkCode, createCode, linkWithCode } from "../verification-codes/codes.ts";
import { checkCodeRoute, codeBody } from "../verification-codes/routes.ts";
import { assessBotChallenge, botChallengeFields } from "./bot-challenge.ts";
import { clientIp, endUserOrigin } from "./end-user.ts";
import { signIn } from "./issue.ts";
import { assertPasswordRules, hashPassword, verifyAgainstDummy, verifyPassword } from "./passwords.ts";
import { rateLimited } from "./rate-limit.ts";
import { requireSecondFactor } from "./second-factor.ts";
import { revokeUserSessions, sessionIdOfRefreshToken } from "./sessions.ts";
import { checkSignUp } from "./sign-up-checks.ts";
import { recordSignUpAssessment } from "./sign-up-risk.ts";
import { verifyTotp } from "./totp.ts";
import { isTrustedUrl } from "./trusted-urls.ts";

/** A password hash as an MFA attempt code records it: enough to tell it changed, not the hash itself. */
const passwordDigest = (hash: string) => createHash("sha256").update(hash).digest("base64url");

/** The user's stored password hash, if any: read again wherever a concurrent change may have replaced it. */
const storedPasswordHash = (db: Db, tenancyId: string, userId: string) =>
  db
    .selectFrom("password_credentials")
    .select("password_hash")
    .where("tenancy_id", "=", tenancyId)
    .where("user_id", "=", userId)
    .executeTakeFirst();

const anyAccess = ["client", "server", "admin"] as const;
const tags = ["Password authentication"];
const tokenPair = Type.Object({
  access_token: Type.String(),
  refresh_token: Type.String(),
  user_id: Type.String(),
});

function assertPasswordAuthEnabled(auth: RequestAuth): void {
  if (!auth.tenancy.config.auth.password.allowSignIn)
    throw new KnownError("PASSWORD_AUTHENTICATION_NOT_ENABLED");
}

export const passwordRoutes = [
  defineRoute({
    method: "POST",
    path: "/auth/password/sign-up",
    summary: "Sign up with e-mail and password",
    tags,
    access: anyAccess,
    schemas: {
      body: Type.Object(
        {
          email: emailAddress,
          password: Type.String({ maxLength: 70 }),
          verification_callback_url: Type.Optional(Type.String()),
          ...botChallengeFields,
        },
        { additionalProperties: false },
      ),
      response: tokenPair,
    },
    handler: async ({ auth, body, app, raw }) => {
      const config = auth.tenancy.config;
      assertPasswordAuthEnabled(auth);
      if (
        body.verification_callback_url !== undefined &&
        !isTrustedUrl(config, body.verification_callback_url)
      ) {
        throw new KnownError("REDIRECT_URL_NOT_WHITELISTED");
      }
      // Upgrading an anonymous user is a sign-up too: it needs sign-ups on (anonymous ones do not).
      if (!config.auth.allowSignUp) throw new KnownError("SIGN_UP_NOT_ENABLED");
      assertPasswordRules(body.password);
      const email = normalizeEmail(body.email);
      const origin = endUserOrigin(app, raw);
      const challenge = await assessBotChallenge(app, config, body, "sign_up_with_credential", origin.ip);
      const { restriction, assessment } = await checkSignUp(app, app.database.db, auth, {
        email,
        origin,
        authMethod: "password",
        challenge,
      });
      const ctx = tenancyContext(auth);
      const credentials = await withPasswordHashed({ password: body.password });
      const { tokens, upgraded } = await app.database.db.transaction().execute(async (trx) => {
        // The address first, then the user, in the order OTP sign-in takes them: a code for this address
        // waits for the user made or upgraded here.
        await lockAuthEmail(trx, auth.tenancy.id, email);
        const { userId, upgraded } = await createOrUpgradeUser(trx, ctx, auth.user, {
          primary_email: email,
          primary_email_auth_enabled: true,
          primary_email_verified: false,
          ...credentials,
          ...restriction,
        });
        await recordSignUpAssessment(trx, auth.tenancy.id, userId, assessment);
        return { tokens: await signIn(app, trx, auth, userId, { origin }), upgraded };
      });
      if (!upgraded) recordSignUp(app, auth, tokens.user_id, "password");
      if (body.verification_callback_url) {
        await sendContactVerification(app, auth, tokens.user_id, null, body.verification_callback_url);
      }
      return json(tokens);
    },
  }),
  defineRoute({
    method: "POST",
    path: "/auth/password/sign-in",
    summary: "Sign in with e-mail and password",
    tags,
    access: anyAccess,
    schemas: {
      body: Type.Object(
        { email: Type.String({ minLength: 1, maxLength: EMAIL_MAX_LENGTH }), password: Type.String() },
        { additionalProperties: false },
      ),
      response: tokenPair,
    },
    handler: async ({ auth, body, app, raw }) => {
      assertPasswordAuthEnabled(auth);
      const email = normalizeEmail(body.email);
      const { signInRateLimit: limit, signInRateLimitWindowSeconds: window } = app.env;
      const credential = await rateLimited(
        app.database.db,
        [
          { bucket: `sign-in:email:${auth.tenancy.id}:${email}`, limit },
          // An IP may try more addresses than one address may be tried (offices, NAT).
          { bucket: `sign-in:ip:${clientIp(raw)}`, limit: limit * 10 },
        ],
        window,
        app.database.db
          .selectFrom("contact_channels as c")
          .innerJoin("password_credentials as p", (join) =>
            join.onRef("p.tenancy_id", "=", "c.tenancy_id").onRef("p.user_id", "=", "c.user_id"),
          )
          .innerJoin("users as u", (join) =>
            join.onRef("u.tenancy_id", "=", "c.tenancy_id").onRef("u.id", "=", "c.user_id"),
          )
          .select(["c.user_id", "p.password_hash"])
          .select((eb) => eb("u.totp_secret", "is not", null).as("has_totp"))
          .where("c.tenancy_id", "=", auth.tenancy.id)
          .where("c.type", "=", "email")
          .where("c.value", "=", email)
          .where("c.used_for_auth", "=", true),
      );
      if (!credential) {
        await verifyAgainstDummy(body.password);
        throw new KnownError("EMAIL_PASSWORD_MISMATCH");
      }
      const { ok, needsRehash } = await verifyPassword(credential.password_hash, body.password);
      if (!ok) throw new KnownError("EMAIL_PASSWORD_MISMATCH");
      let passwordHash = credential.password_hash;
      if (needsRehash) {
        const rehashed = await hashPassword(body.password);
        // Over the hash just checked only: a password changed meanwhile stays changed.
        const updated = await app.database.db
          .updateTable("password_credentials")
          .set({ password_hash: rehashed, updated_at: new Date() })
          .where("tenancy_id", "=", auth.tenancy.id)
          .where("user_id", "=", credential.user_id)
          .where("password_hash", "=", passwordHash)
          .executeTakeFirst();
        if (updated.numUpdatedRows > 0n) passwordHash = rehashed;
        else {
          // Changed meanwhile: by a concurrent sign-in's rehash of this same password, or by a new
          // password. The password is checked once more against what is stored now.
          const now = await storedPasswordHash(app.database.db, auth.tenancy.id, credential.user_id);
          if (!now || !(await verifyPassword(now.password_hash, body.password)).ok)
            throw new KnownError("EMAIL_PASSWORD_MISMATCH");
          passwordHash = now.password_hash;
        }
      }
      if (credential.has_totp) {
        // Which password this step proved, as a digest: the second step opens a session only while it
        // is still the user's.
        await requireSecondFactor(app.database.db, auth.tenancy.id, {
          user_id: credential.user_id,
          password_digest: passwordDigest(passwordHash),
        });
      }
      return json(
        await signIn(app, app.database.db, auth, credential.user_id, {
          origin: endUserOrigin(app, raw),
          passwordHash,
        }),
      );
    },
  }),
  defineRoute({
    method: "POST",
    path: "/auth/password/update",
    summary: "Change the signed-in user's password",
    tags,
    access: anyAccess,
    schemas: {
      body: Type.Object(
        { old_password: Type.String(), new_password: Type.String({ maxLength: 70 }) },
        { additionalProperties: false },
      ),
    },
    handler: async ({ auth, body, app, raw }) => {
      const user = requireUserSchema(auth, raw);
      assertPasswordAuthEnabled(auth);
      assertPasswordRules(body.new_password);
      const storedHash = (db: Db) => storedPasswordHash(db, auth.tenancy.id, user.id);
      const confirmed = async (hash: string | undefined) => {
        if (hash === undefined) throw new KnownError("USER_DOES_NOT_HAVE_PASSWORD");
        if (!(await verifyPassword(hash, body.old_password)).ok)
          throw new KnownError("PASSWORD_CONFIRMATION_MISMATCH");
      };
      const stored = await storedHash(app.database.db);
      await confirmed(stored?.password_hash);
      const refreshToken = stackHeader(raw.headers, "refresh-token");
      const keep = refreshToken
        ? await sessionIdOfRefreshToken(app.database.db, auth.tenancy.id, refreshToken)
        : null;
      const passwordHash = await hashPassword(body.new_password);
      await app.database.db.transaction().execute(async (trx) => {
        await lockUser(trx, auth.tenancy.id, user.id);
        // Password writers queue on the user's lock: one that landed since the check is checked again.
        const current = await storedHash(trx);
        if (current?.password_hash !== stored?.password_hash) await confirmed(current?.password_hash);
        await trx
          .updateTable("password_credentials")
          .set({ password_hash: passwordHash, updated_at: new Date() })
          .where("tenancy_id", "=", auth.tenancy.id)
          .where("user_id", "=", user.id)
          .execute();
        // Every other session is signed out; the one making the change stays.
        await revokeUserSessions(trx, auth.tenancy.id, user.id, keep ?? auth.token?.refresh_token_id);
      });
      return success();
    },
  }),
  defineRoute({
    method: "POST",
    path: "/auth/password/set",
    summary: "Set a password for a user who has none",
    tags,
    access: anyAccess,
    schemas: {
      body: Type.Object({ password: Type.String({ maxLength: 70 }) }, { additionalProperties: false }),
    },
    handler: async ({ auth, body, app, raw }) => {
      const user = requireUserSchema(auth, raw);
      assertPasswordAuthEnabled(auth);
      assertPasswordRules(body.password);
      const alreadySet = () => new StatusError(400, "User already has a password set.");
      if (user.has_password) throw alreadySet();
      const inserted = await app.database.db
        .insertInto("password_credentials")
        .values({
          tenancy_id: auth.tenancy.id,
          user_id: user.id,
          password_hash: await hashPassword(body.password),
        })
        .onConflict((oc) => oc.doNothing())
        .executeTakeFirst();
      // Another request set one while this one hashed.
      if (inserted.numInsertedOrUpdatedRows === 0n) throw alreadySet();
      return success();
    },
  }),
  defineRoute({
    method: "POST",
    path: "/auth/password/send-reset-code",
    summary: "E-mail a password reset link (answers the same whether or not the user exists)",
    tags,
    access: anyAccess,
    schemas: {
      body: Type.Object(
        { email: emailAddress, callback_url: Type.String() },
        { additionalProperties: false },
      ),
    },
    handler: async ({ auth, body, app }) => {
      assertPasswordAuthEnabled(auth);
      if (!isTrustedUrl(auth.tenancy.config, body.callback_url))
        throw new KnownError("REDIRECT_URL_NOT_WHITELISTED");
      const started = Date.now();
      const email = normalizeEmail(body.email);
      const owner = await app.database.db
        .selectFrom("contact_channels")
        .select("user_id")
        .where("tenancy_id", "=", auth.tenancy.id)
        .where("type", "=", "email")
        .where("value", "=", email)
        .where("used_for_auth", "=", true)
        .executeTakeFirst();
      if (owner) {
        const resetCode = await createCode(app.database.db, {
          tenancyId: auth.tenancy.id,
          purpose: "password_reset",
          data: { user_id: owner.user_id, email },
          // An hour, not upstream's week: a reset link is a key to the account, and a stale one in an
          // old inbox should not stay one.
          lifetimeMs: 3600 * 1000,
        });
        await sendEmail(app, {
          tenancyId: auth.tenancy.id,
          to: email,
          subject: `Reset your password for ${auth.project.row.display_name}`,
          text: `Someone asked to reset the password of your ${auth.project.row.display_name} account.\n\nReset it here: ${linkWithCode(body.callback_url, resetCode)}\n\nIf this was not you, ignore this e-mail.`,
        });
      }
      // Answer after a similar delay either way, so timing does not tell whether the account exists.
      const floorMs = 250 + randomInt(100);
      const elapsed = Date.now() - started;
      if (elapsed < floorMs) await new Promise((resolve) => setTimeout(resolve, floorMs - elapsed));
      return json({ success: "maybe, only if user with e-mail exists" });
    },
  }),
  defineRoute({
    method: "POST",
    path: "/auth/password/reset",
    summary: "Set a new password with an e-mailed reset code",
    tags,
    access: anyAccess,
    schemas: {
      body: Type.Object(
        { ...codeBody.properties, password: Type.String({ maxLength: 70 }) },
        { additionalProperties: false },
      ),
    },
    handler: async ({ auth, body, app }) => {
      assertPasswordAuthEnabled(auth);
      // Before the code is checked (upstream checks the code first, and uses it up): a too-short
      // password leaves the link working for a better one.
      assertPasswordRules(body.password);
      const hash = await hashPassword(body.password);
      await app.database.db.transaction().execute(async (trx) => {
        const data = await checkCode(trx, {
          tenancyId: auth.tenancy.id,
          purpose: "password_reset",
          code: body.code,
          consume: true,
        });
        const userId = String(data.user_id);
        if (!(await lockUser(trx, auth.tenancy.id, userId)))
          throw new KnownError("VERIFICATION_CODE_NOT_FOUND");
        await trx
          .insertInto("password_credentials")
          .values({ tenancy_id: auth.tenancy.id, user_id: userId, password_hash: hash })
          .onConflict((oc) =>
            oc
              .columns(["tenancy_id", "user_id"])
              .doUpdateSet({ password_hash: hash, updated_at: new Date() }),
          )
          .execute();
        // Proving control of the address verifies it.
        await trx
          .updateTable("contact_channels")
          .set({ is_verified: true })
          .where("tenancy_id", "=", auth.tenancy.id)
          .where("user_id", "=", userId)
          .where("value", "=", String(data.email))
          .execute();
        await revokeUserSessions(trx, auth.tenancy.id, userId);
      });
      return success();
    },
  }),
  checkCodeRoute(
    "/auth/password/reset/check-code",
    "password_reset",
    "Check a password reset code without using it",
    tags,
  ),
  defineRoute({
    method: "POST",
    path: "/auth/mfa/sign-in",
    summary: "Finish a password sign-in with the user's TOTP code",
    tags,
    access: anyAccess,
    schemas: {
      body: Type.Object(
        {
          type: Type.Literal("totp"),
          // Any text: a code of the wrong shape is a wrong code (and a counted attempt), as upstream.
          totp: Type.String({ maxLength: 64 }),
          code: codeBody.properties.code,
        },
        { additionalProperties: false },
      ),
    },
    handler: async ({ auth, body, app, raw }) => {
      const attempt = { tenancyId: auth.tenancy.id, purpose: "mfa_sign_in", code: body.code } as const;
      // Counted before it is judged, and committed: every try takes one of the code's attempts.
      const attemptAdmitted = await admitAttempt(app.database.db, attempt);
      const tokens = await app.database.db.transaction().execute(async (trx) => {
        const data = await checkCode(trx, { ...attempt, consume: false, attemptAdmitted });
        const userId = String(data.user_id);
        const user = await trx
          .selectFrom("users")
          .select("totp_secret")
          .where("tenancy_id", "=", auth.tenancy.id)
          .where("id", "=", userId)
          .executeTakeFirst();
        if (!user?.totp_secret || !verifyTotp(user.totp_secret, body.totp))
          throw new KnownError("INVALID_TOTP_CODE");
        await checkCode(trx, { ...attempt, consume: true, attemptAdmitted });
        // A code sign-in proved no password; codes from before the digest was recorded carry none
        // either (they expire within five minutes).
        if (typeof data.password_digest !== "string")
          return signIn(app, trx, auth, userId, { origin: endUserOrigin(app, raw) });
        // A password changed since the first step: that step's password no longer signs in.
        const current = await storedPasswordHash(trx, auth.tenancy.id, userId);
        if (!current || passwordDigest(current.password_hash) !== data.password_digest)
          throw new KnownError("EMAIL_PASSWORD_MISMATCH");
        return signIn(app, trx, auth, userId, {
          origin: endUserOrigin(app, raw),
          passwordHash: current.password_hash,
        });
      });
      // Nobody with a second factor is new: it was set up on an existing account.
      return json({ ...tokens, is_new_user: false });
    },
  }),
];
