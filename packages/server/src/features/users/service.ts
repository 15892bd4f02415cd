import type { RenderedConfig } from "@latchkey/contracts";
import { KnownError, StatusError } from "../../errors/index.ts";
import { assertImportablePasswordHash, assertPasswordRules, hashPassword } from "../auth/passwords.ts";
import { revokeUserSessions } from "../auth/sessions.ts";
import { permissionExists } from "../teams/permissions.ts";
import { addTeamMember, createTeamRow, isTeamMember } from "../teams/service.ts";
import { type Db, lockAuthEmail, lockUser } from "./records.ts";
import type { UserCreateInput, UserUpdateInput } from "./schemas.ts";

export interface TenancyContext {
  tenancyId: string;
  config: RenderedConfig;
}

export const normalizeEmail = (email: string) => email.trim().toLowerCase();

const emptyToNull = (value: string | null | undefined) => (value === "" ? null : value);
const jsonColumn = (value: unknown) => (value === undefined ? undefined : JSON.stringify(value ?? null));

function totpBytes(base64: string | null | undefined): Buffer | null | undefined {
  if (base64 === undefined || base64 === null) return base64;
  const bytes = Buffer.from(base64, "base64");
  if (bytes.length === 0) throw new StatusError(400, "totp_secret_base64 must be a non-empty base64 string");
  return bytes;
}

/** A plain password reaching a write means a caller skipped {@link withPasswordHashed}: a bug, not input. */
function assertPasswordHashed(input: { password?: string | null }): void {
  if (typeof input.password === "string")
    throw new Error("hash the password with withPasswordHashed before the transaction");
}

/**
 * The input with its plain `password` replaced by its argon2id hash. Call it before opening the write's
 * transaction: a hash waits for a free hashing slot, and a pooled connection held meanwhile is one the
 * rest of the server goes without.
 */
export async function withPasswordHashed<T extends { password?: string | null; password_hash?: string }>(
  input: T,
): Promise<T> {
  // Only null removes a password: an empty one is too short like any other.
  if (input.password === undefined || input.password === null) return input;
  if (input.password_hash !== undefined)
    throw new StatusError(400, "Cannot set both password and password_hash at the same time.");
  assertPasswordRules(input.password);
  return { ...input, password: undefined, password_hash: await hashPassword(input.password) };
}

const UNNAMED_PERSONAL_TEAM = "Personal Team";

function assertOtpEnabled(ctx: TenancyContext): void {
  if (!ctx.config.auth.otp.allowSignIn) throw new StatusError(400, "OTP auth not enabled in the project");
}

function personalTeamName(displayName: string | null | undefined, email: string | null | undefined): string {
  if (displayName) return `${displayName}'s Team`;
  if (email) return `${normalizeEmail(email)}'s Team`;
  return UNNAMED_PERSONAL_TEAM;
}

/**
 * Creates a user with its primary e-mail channel, credentials, OAuth accounts, default project
 * permissions and (when configured) a personal team. Runs inside the caller's transaction;
 * a plain `password` must have gone through {@link withPasswordHashed} first.
 */
export async function createUser(trx: Db, ctx: TenancyContext, input: UserCreateInput): Promise<string> {
  if (input.password !== undefined && input.password !== null && input.password_hash !== undefined) {
    throw new StatusError(400, "Cannot set both password and password_hash at the same time.");
  }
  if (input.otp_auth_enabled) assertOtpEnabled(ctx);
  if ((input.primary_email_auth_enabled || input.primary_email_verified) && !input.primary_email) {
    throw new StatusError(
      400,
      "primary_email_auth_enabled and primary_email_verified require a primary_email.",
    );
  }
  assertPasswordHashed(input);
  if (input.password_hash !== undefined) assertImportablePasswordHash(input.password_hash);
  const passwordHash = input.password_hash;
  // An OTP sign-in with the same new address waits for this user and signs it in, instead of making a
  // second one (see `lockAuthEmail`). Callers that lock a user too take the address first, as the OTP
  // route does; taking it again here is then a no-op.
  if (input.primary_email && input.primary_email_auth_enabled)
    await lockAuthEmail(trx, ctx.tenancyId, normalizeEmail(input.primary_email));

  const user = await trx
    .insertInto("users")
    .values({
      tenancy_id: ctx.tenancyId,
      display_name: emptyToNull(input.display_name) ?? null,
      profile_image_url: input.profile_image_url ?? null,
      client_metadata: jsonColumn(input.client_metadata),
      client_read_only_metadata: jsonColumn(input.client_read_only_metadata),
      server_metadata: jsonColumn(input.server_metadata),
      is_anonymous: input.is_anonymous ?? false,
      otp_auth_enabled: input.otp_auth_enabled ?? false,
      // Passkeys are registered, not declared: a create that claims one has none (as upstream).
      passkey_auth_enabled: false,
      totp_secret: totpBytes(input.totp_secret_base64) ?? null,
      restricted_by_admin: input.restricted_by_admin ?? false,
      restricted_by_admin_reason: input.restricted_by_admin_reason ?? null,
      restricted_by_admin_private_details: input.restricted_by_admin_private_details ?? null,
      country_code: input.country_code ?? null,
      risk_score_bot: input.risk_scores?.sign_up.bot ?? 0,
      risk_score_free_trial_abuse: input.risk_scores?.sign_up.free_trial_abuse ?? 0,
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  const userId = user.id;

  if (input.primary_email) {
    await insertChannel(trx, ctx.tenancyId, userId, {
      value: normalizeEmail(input.primary_email),
      isPrimary: true,
      isVerified: input.primary_email_verified ?? false,
      usedForAuth: input.primary_email_auth_enabled ?? false,
    });
  }
  if (passwordHash) {
    await trx
      .insertInto("password_credentials")
      .values({ tenancy_id: ctx.tenancyId, user_id: userId, password_hash: passwordHash })
      .execute();
  }
  for (const account of input.oauth_providers ?? []) {
    await trx
      .insertInto("oauth_accounts")
      .values({
        tenancy_id: ctx.tenancyId,
        user_id: userId,
        provider_config_id: account.id,
        provider_account_id: account.account_id,
        email: account.email ?? null,
      })
      .execute()
      .catch((error) => {
        const pgError = error as { code?: string; constraint?: string };
        // Another user signs in with that account already, or the list names it twice.
        if (pgError.code === "23505" && pgError.constraint === "oauth_accounts_provider_account")
          throw new KnownError("OAUTH_PROVIDER_ACCOUNT_ID_ALREADY_USED_FOR_SIGN_IN");
        throw error;
      });
  }
  // A default naming a definition since deleted grants nothing.
  const signUpPermissions = Object.keys(ctx.config.rbac.defaultPermissions.signUp).filter((id) =>
    permissionExists(ctx.config, id, "project"),
  );
  if (signUpPermissions.length > 0) {
    await trx
      .insertInto("user_permissions")
      .values(
        signUpPermissions.map((permission_id) => ({
          tenancy_id: ctx.tenancyId,
          user_id: userId,
          permission_id,
        })),
      )
      .execute();
  }
  // Anonymous users get theirs too (named by the fallback): it is renamed when they sign up for real.
  if (ctx.config.teams.createPersonalTeamOnSignUp) {
    const name = personalTeamName(input.display_name, input.primary_email);
    const teamId = await createTeamRow(trx, ctx.tenancyId, { display_name: name });
    await addTeamMember(trx, ctx, teamId, userId, { creator: true, select: true });
  }
  return userId;
}

/** What a sign-up makes an account of, whether the user is new or an anonymous one upgraded. */
export type NewAccount = Omit<UserCreateInput, "is_anonymous" | "oauth_providers">;

/**
 * Makes the account a sign-up asks for: the requester's anonymous user upgraded in place (keeping its
 * id), else a new user. A concurrent sign-up may have upgraded that user meanwhile: this one then signs
 * up anew, as it would have had it come second. Call it holding the address's lock (`lockAuthEmail`),
 * with any plain password already hashed.
 */
export async function createOrUpgradeUser(
  trx: Db,
  ctx: TenancyContext,
  requester: { id: string; is_anonymous: boolean } | null,
  account: NewAccount,
): Promise<{ userId: string; upgraded: boolean }> {
  if (requester?.is_anonymous && (await lockUser(trx, ctx.tenancyId, requester.id))?.is_anonymous) {
    await updateUser(trx, ctx, requester.id, { ...account, is_anonymous: false });
    return { userId: requester.id, upgraded: true };
  }
  return { userId: await createUser(trx, ctx, account), upgraded: false };
}

/**
 * Applies an update to a user (server fields included; routes restrict what clients may send, and
 * turn an inline profile image into its URL first: see `profileImageField`).
 */
export async function updateUser(
  trx: Db,
  ctx: TenancyContext,
  userId: string,
  input: UserUpdateInput,
): Promise<void> {
  if (input.password !== undefined && input.password !== null && input.password_hash !== undefined) {
    throw new StatusError(400, "Cannot set both password and password_hash at the same time.");
  }
  assertPasswordHashed(input);
  if (input.password_hash !== undefined) assertImportablePasswordHash(input.password_hash);

  const current = await lockUser(trx, ctx.tenancyId, userId);
  if (!current) throw new KnownError("USER_NOT_FOUND");
  // A method already on stays on whatever the project says now; a new one needs the project to allow it.
  if (input.otp_auth_enabled && !current.otp_auth_enabled) assertOtpEnabled(ctx);
  if (input.passkey_auth_enabled) {
    throw new StatusError(
      400,
      "Cannot manually enable passkey auth, it is enabled iff there is a passkey auth method",
    );
  }
  const columns = {
    ...(input.display_name !== undefined ? { display_name: emptyToNull(input.display_name) } : {}),
    ...(input.profile_image_url !== undefined ? { profile_image_url: input.profile_image_url } : {}),
    ...(input.client_metadata !== undefined ? { client_metadata: jsonColumn(input.client_metadata) } : {}),
    ...(input.client_read_only_metadata !== undefined
      ? { client_read_only_metadata: jsonColumn(input.client_read_only_metadata) }
      : {}),
    ...(input.server_metadata !== undefined ? { server_metadata: jsonColumn(input.server_metadata) } : {}),
    ...(input.otp_auth_enabled !== undefined ? { otp_auth_enabled: input.otp_auth_enabled } : {}),
    ...(input.passkey_auth_enabled !== undefined ? { passkey_auth_enabled: input.passkey_auth_enabled } : {}),
    ...(input.totp_secret_base64 !== undefined ? { totp_secret: totpBytes(input.totp_secret_base64) } : {}),
    // Signing an anonymous user up for real is its sign-up, as upstream dates it (lists, metrics).
    ...(input.is_anonymous === false && current.is_anonymous
      ? { is_anonymous: false, signed_up_at: new Date() }
      : {}),
    ...(input.restricted_by_admin !== undefined ? { restricted_by_admin: input.restricted_by_admin } : {}),
    ...(input.restricted_by_admin === false
      ? { restricted_by_admin_reason: null, restricted_by_admin_private_details: null }
      : {}),
    ...(input.restricted_by_admin_reason !== undefined
      ? { restricted_by_admin_reason: input.restricted_by_admin_reason }
      : {}),
    ...(input.restricted_by_admin_private_details !== undefined
      ? { restricted_by_admin_private_details: input.restricted_by_admin_private_details }
      : {}),
    ...(input.country_code !== undefined ? { country_code: input.country_code } : {}),
    ...(input.risk_scores
      ? {
          risk_score_bot: input.risk_scores.sign_up.bot,
          risk_score_free_trial_abuse: input.risk_scores.sign_up.free_trial_abuse,
        }
      : {}),
  };
  await trx
    .updateTable("users")
    .set({ ...columns, updated_at: new Date() })
    .where("tenancy_id", "=", ctx.tenancyId)
    .where("id", "=", userId)
    .execute();

  if (current.is_anonymous && input.is_anonymous === false) {
    // Signed up for real: the personal team an anonymous user got is named after who they now are.
    await trx
      .updateTable("teams")
      .set({ display_name: personalTeamName(input.display_name, input.primary_email) })
      .where("tenancy_id", "=", ctx.tenancyId)
      .where("display_name", "=", UNNAMED_PERSONAL_TEAM)
      .where("id", "in", (eb) =>
        eb
          .selectFrom("team_members")
          .select("team_id")
          .where("tenancy_id", "=", ctx.tenancyId)
          .where("user_id", "=", userId),
      )
      .execute();
  }
  if (input.primary_email !== undefined)
    await changePrimaryEmail(trx, ctx.tenancyId, userId, input.primary_email);
  if (input.primary_email_verified !== undefined || input.primary_email_auth_enabled !== undefined) {
    const updated = await trx
      .updateTable("contact_channels")
      .set({
        ...(input.primary_email_verified !== undefined ? { is_verified: input.primary_email_verified } : {}),
        ...(input.primary_email_auth_enabled !== undefined
          ? { used_for_auth: input.primary_email_auth_enabled }
          : {}),
      })
      .where("tenancy_id", "=", ctx.tenancyId)
      .where("user_id", "=", userId)
      .where("is_primary", "=", true)
      .returning("value")
      .executeTakeFirst()
      .catch((error) => rethrowEmailConflict(error, "?"));
    if (!updated && (input.primary_email_verified || input.primary_email_auth_enabled)) {
      throw new StatusError(
        400,
        "primary_email_auth_enabled and primary_email_verified require a primary_email.",
      );
    }
  }
  if (input.selected_team_id !== undefined)
    await selectTeam(trx, ctx.tenancyId, userId, input.selected_team_id);

  if (input.password !== undefined || input.password_hash !== undefined) {
    const hash = input.password_hash ?? null;
    if (hash && !ctx.config.auth.password.allowSignIn) {
      // Where password sign-in is off, a user's password may still change, but none is added.
      const changed = await trx
        .updateTable("password_credentials")
        .set({ password_hash: hash, updated_at: new Date() })
        .where("tenancy_id", "=", ctx.tenancyId)
        .where("user_id", "=", userId)
        .executeTakeFirst();
      if (changed.numUpdatedRows === 0n)
        throw new StatusError(400, "Password authentication is not enabled for this project.");
    } else if (hash) {
      await trx
        .insertInto("password_credentials")
        .values({ tenancy_id: ctx.tenancyId, user_id: userId, password_hash: hash })
        .onConflict((oc) =>
          oc.columns(["tenancy_id", "user_id"]).doUpdateSet({ password_hash: hash, updated_at: new Date() }),
        )
        .execute();
    } else {
      await trx
        .deleteFrom("password_credentials")
        .where("tenancy_id", "=", ctx.tenancyId)
        .where("user_id", "=", userId)
        .execute();
    }
    // A new password signs the user out everywhere.
    await revokeUserSessions(trx, ctx.tenancyId, userId);
  }
}

/**
 * The old primary address stays as a non-primary channel; the new one becomes primary — keeping its
 * verification if the user already had it, unverified otherwise. `null` only demotes.
 */
async function changePrimaryEmail(
  trx: Db,
  tenancyId: string,
  userId: string,
  email: string | null,
): Promise<void> {
  const previous = await trx
    .updateTable("contact_channels")
    .set({ is_primary: false })
    .where("tenancy_id", "=", tenancyId)
    .where("user_id", "=", userId)
    .where("is_primary", "=", true)
    .returning(["value", "used_for_auth"])
    .executeTakeFirst();
  if (email === null) return;
  const value = normalizeEmail(email);
  // The primary address signs in or not as the one it replaces did (upstream), whether it is new or one
  // of the user's other channels; a request naming primary_email_auth_enabled sets it after this.
  const usedForAuth = previous?.used_for_auth ?? false;
  const existing = await trx
    .updateTable("contact_channels")
    .set({ is_primary: true, used_for_auth: usedForAuth })
    .where("tenancy_id", "=", tenancyId)
    .where("user_id", "=", userId)
    .where("type", "=", "email")
    .where("value", "=", value)
    .returning("id")
    .executeTakeFirst()
    .catch((error) => rethrowEmailConflict(error, value));
  if (!existing) {
    await insertChannel(trx, tenancyId, userId, {
      value,
      isPrimary: true,
      isVerified: false,
      usedForAuth,
    });
  }
}

export async function insertChannel(
  trx: Db,
  tenancyId: string,
  userId: string,
  channel: { value: string; isPrimary: boolean; isVerified: boolean; usedForAuth: boolean },
): Promise<string> {
  if (channel.usedForAuth) {
    const taken = await trx
      .selectFrom("contact_channels")
      .select("user_id")
      .where("tenancy_id", "=", tenancyId)
      .where("type", "=", "email")
      .where("value", "=", channel.value)
      .where("used_for_auth", "=", true)
      .where("user_id", "<>", userId)
      .executeTakeFirst();
    if (taken) throw new KnownError("USER_EMAIL_ALREADY_EXISTS", channel.value, false);
  }
  const row = await trx
    .insertInto("contact_channels")
    .values({
      tenancy_id: tenancyId,
      user_id: userId,
      type: "email",
      value: channel.value,
      is_primary: channel.isPrimary,
      is_verified: channel.isVerified,
      used_for_auth: channel.usedForAuth,
    })
    .returning("id")
    .executeTakeFirstOrThrow()
    .catch((error) => rethrowEmailConflict(error, channel.value));
  return row.id;
}

/** Two concurrent sign-ups with one address: the unique index decides, the loser gets the contract's 409. */
export function rethrowEmailConflict(error: unknown, email: string): never {
  const pgError = error as { code?: string; constraint?: string };
  if (pgError.code === "23505" && pgError.constraint === "contact_channels_auth_value") {
    throw new KnownError("USER_EMAIL_ALREADY_EXISTS", email, false);
  }
  throw error;
}

async function selectTeam(trx: Db, tenancyId: string, userId: string, teamId: string | null): Promise<void> {
  if (teamId !== null && !(await isTeamMember(trx, tenancyId, teamId, userId)))
    throw new KnownError("TEAM_MEMBERSHIP_NOT_FOUND", teamId, userId);
  // Two statements: the unique "one selected team" index is checked row by row.
  await trx
    .updateTable("team_members")
    .set({ is_selected: false })
    .where("tenancy_id", "=", tenancyId)
    .where("user_id", "=", userId)
    .where("is_selected", "=", true)
    .execute();
  if (teamId !== null) {
    await trx
      .updateTable("team_members")
      .set({ is_selected: true })
      .where("tenancy_id", "=", tenancyId)
      .where("user_id", "=", userId)
      .where("team_id", "=", teamId)
      .execute();
  }
}
