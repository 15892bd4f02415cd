import type { RenderedConfig } from "@latchkey/contracts";
import type { AccessType } from "../../http/authenticate.ts";
import { type AccessLevel, teamView } from "../teams/views.ts";
import { primaryChannel, type UserRecord } from "./records.ts";

export const accessLevel = (type: AccessType): AccessLevel => (type === "client" ? "client" : "server");

export type RestrictedReason = { type: "anonymous" | "email_not_verified" | "restricted_by_administrator" };

/**
 * Why a user may not use the app yet, or null. Anonymous users are always restricted; an unverified
 * e-mail is named before an administrator's restriction, as upstream does (the user can act on it).
 */
export function restrictedReason(user: UserRecord, config: RenderedConfig): RestrictedReason | null {
  if (user.is_anonymous) return { type: "anonymous" };
  if (config.onboarding.requireEmailVerification && !primaryChannel(user)?.is_verified) {
    return { type: "email_not_verified" };
  }
  if (user.restricted_by_admin) return { type: "restricted_by_administrator" };
  return null;
}

/** The user object of the API, filtered to what the caller's access level may see. */
export function userView(user: UserRecord, config: RenderedConfig, level: AccessLevel) {
  const primary = primaryChannel(user);
  const reason = restrictedReason(user, config);
  const client = {
    id: user.id,
    primary_email: primary?.value ?? null,
    primary_email_verified: primary?.is_verified ?? false,
    display_name: user.display_name,
    profile_image_url: user.profile_image_url,
    signed_up_at_millis: new Date(user.signed_up_at).getTime(),
    client_metadata: user.client_metadata ?? null,
    client_read_only_metadata: user.client_read_only_metadata ?? null,
    has_password: user.has_password,
    otp_auth_enabled: user.otp_auth_enabled,
    passkey_auth_enabled: user.passkey_auth_enabled,
    auth_with_email: user.has_password || user.otp_auth_enabled,
    requires_totp_mfa: user.has_totp,
    oauth_providers: user.oauth_accounts,
    selected_team_id: user.selected_team?.id ?? null,
    selected_team: user.selected_team ? teamView(user.selected_team, level) : null,
    is_anonymous: user.is_anonymous,
    is_restricted: reason !== null,
    restricted_reason: reason,
    restricted_by_admin: user.restricted_by_admin,
    restricted_by_admin_reason: user.restricted_by_admin_reason,
  };
  if (level === "client") return client;
  return {
    ...client,
    primary_email_auth_enabled: primary?.used_for_auth ?? false,
    last_active_at_millis: new Date(user.last_active_at).getTime(),
    server_metadata: user.server_metadata ?? null,
    restricted_by_admin_private_details: user.restricted_by_admin_private_details,
    country_code: user.country_code,
    risk_scores: {
      sign_up: { bot: user.risk_score_bot, free_trial_abuse: user.risk_score_free_trial_abuse },
    },
  };
}

export type UserView = ReturnType<typeof userView>;

/** The user part of an access token's claims. */
export function tokenClaimsOf(user: UserRecord, config: RenderedConfig) {
  const primary = primaryChannel(user);
  const reason = restrictedReason(user, config);
  return {
    sub: user.id,
    name: user.display_name,
    email: primary?.value ?? null,
    email_verified: primary?.is_verified ?? false,
    selected_team_id: user.selected_team?.id ?? null,
    signed_up_at: Math.floor(new Date(user.signed_up_at).getTime() / 1000),
    is_anonymous: user.is_anonymous,
    is_restricted: reason !== null,
    restricted_reason: reason,
    requires_totp_mfa: user.has_totp,
  };
}
