import { randomUUID } from "node:crypto";
import type { ConfigObject, RenderedConfig } from "@latchkey/contracts";
import { permissionExists } from "../teams/permissions.ts";
import type { AdminProjectView, ClientProjectView, LegacyConfigUpdate } from "./schemas.ts";
import type { ProjectSnapshot } from "./snapshot.ts";

// Upstream sorts these lists by UTF-16 code units, not by locale.
const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Default permissions as upstream lists them: only ids defined for the scope, in id order. */
const defaultPermissions = (
  config: RenderedConfig,
  record: Record<string, true>,
  scope: "team" | "project",
) =>
  Object.keys(record)
    .filter((id) => permissionExists(config, id, scope))
    .sort(byCodeUnits)
    .map((id) => ({ id }));

/** The legacy flat `config` object derived from the rendered config, as the SDK and dashboard read it. */
function clientConfig(config: RenderedConfig): ClientProjectView["config"] {
  return {
    sign_up_enabled: config.auth.allowSignUp,
    credential_enabled: config.auth.password.allowSignIn,
    magic_link_enabled: config.auth.otp.allowSignIn,
    passkey_enabled: config.auth.passkey.allowSignIn,
    client_team_creation_enabled: config.teams.allowClientTeamCreation,
    client_user_deletion_enabled: config.users.allowClientUserDeletion,
    allow_user_api_keys: config.apiKeys.enabled.user,
    allow_team_api_keys: config.apiKeys.enabled.team,
    enabled_oauth_providers: Object.values(config.auth.oauth.providers)
      .filter((provider) => provider.allowSignIn && provider.type)
      .map((provider) => ({ id: provider.type! }))
      .sort((a, b) => byCodeUnits(a.id, b.id)),
    domains: Object.values(config.domains.trustedDomains)
      .filter((domain) => domain.baseUrl)
      .map((domain) => ({ domain: domain.baseUrl!, handler_path: domain.handlerPath }))
      .sort((a, b) => byCodeUnits(a.domain, b.domain)),
  };
}

export function clientProjectView(project: ProjectSnapshot, config: RenderedConfig): ClientProjectView {
  return { id: project.id, display_name: project.row.display_name, config: clientConfig(config) };
}

export function adminProjectView(project: ProjectSnapshot, config: RenderedConfig): AdminProjectView {
  const row = project.row;
  const server = config.emails.server;
  return {
    id: project.id,
    display_name: row.display_name,
    description: row.description,
    logo_url: row.logo_url,
    logo_full_url: row.logo_full_url,
    logo_dark_mode_url: row.logo_dark_mode_url,
    logo_full_dark_mode_url: row.logo_full_dark_mode_url,
    created_at_millis: new Date(row.created_at).getTime(),
    is_production_mode: row.is_production_mode,
    owner_team_id: row.owner_team_id,
    onboarding_status: row.onboarding_status,
    config: {
      ...clientConfig(config),
      allow_localhost: config.domains.allowLocalhost,
      oauth_providers: Object.entries(config.auth.oauth.providers)
        .filter(([, provider]) => provider.type)
        .map(([providerConfigId, provider]) => ({
          provider_config_id: providerConfigId,
          id: provider.type!,
          type: provider.isShared ? "shared" : "standard",
          ...(provider.clientId !== undefined ? { client_id: provider.clientId } : {}),
          ...(provider.clientSecret !== undefined ? { client_secret: provider.clientSecret } : {}),
          ...(provider.facebookConfigId !== undefined
            ? { facebook_config_id: provider.facebookConfigId }
            : {}),
          ...(provider.microsoftTenantId !== undefined
            ? { microsoft_tenant_id: provider.microsoftTenantId }
            : {}),
          ...(provider.appleBundles
            ? { apple_bundle_ids: Object.values(provider.appleBundles).map((b) => b.bundleId) }
            : {}),
        }))
        .sort((a, b) => byCodeUnits(a.id, b.id)),
      email_config: server.isShared
        ? { type: "shared" }
        : {
            type: "standard",
            host: server.host,
            port: server.port,
            username: server.username,
            password: server.password,
            sender_name: server.senderName,
            sender_email: server.senderEmail,
          },
      email_theme: config.emails.selectedThemeId,
      create_team_on_sign_up: config.teams.createPersonalTeamOnSignUp,
      team_creator_default_permissions: defaultPermissions(
        config,
        config.rbac.defaultPermissions.teamCreator,
        "team",
      ),
      team_member_default_permissions: defaultPermissions(
        config,
        config.rbac.defaultPermissions.teamMember,
        "team",
      ),
      user_default_permissions: defaultPermissions(config, config.rbac.defaultPermissions.signUp, "project"),
      oauth_account_merge_strategy: config.auth.oauth.accountMergeStrategy,
    },
  };
}

/** Translates the legacy `config` of a project update into environment-level config override keys. */
export function legacyConfigToOverride(update: LegacyConfigUpdate): ConfigObject {
  const out: ConfigObject = {};
  const set = (key: string, value: ConfigObject[string] | undefined) => {
    if (value !== undefined) out[key] = value;
  };
  set("auth.allowSignUp", update.sign_up_enabled);
  set("auth.password.allowSignIn", update.credential_enabled);
  set("auth.otp.allowSignIn", update.magic_link_enabled);
  set("auth.passkey.allowSignIn", update.passkey_enabled);
  set("teams.allowClientTeamCreation", update.client_team_creation_enabled);
  set("users.allowClientUserDeletion", update.client_user_deletion_enabled);
  set("domains.allowLocalhost", update.allow_localhost);
  set("apiKeys.enabled.user", update.allow_user_api_keys);
  set("apiKeys.enabled.team", update.allow_team_api_keys);
  set("teams.createPersonalTeamOnSignUp", update.create_team_on_sign_up);
  set("onboarding.requireEmailVerification", update.require_email_verification);
  set("auth.oauth.accountMergeStrategy", update.oauth_account_merge_strategy);
  set("emails.selectedThemeId", update.email_theme);
  if (update.email_config) {
    const email = update.email_config;
    out["emails.server"] =
      email.type === "shared"
        ? { isShared: true }
        : {
            isShared: false,
            provider: "smtp",
            host: email.host,
            port: email.port,
            username: email.username,
            password: email.password,
            senderName: email.sender_name,
            senderEmail: email.sender_email,
          };
  }
  if (update.domains) {
    out["domains.trustedDomains"] = Object.fromEntries(
      update.domains.map((domain) => [
        randomUUID(),
        { baseUrl: domain.domain, handlerPath: domain.handler_path },
      ]),
    );
  }
  if (update.oauth_providers) {
    out["auth.oauth.providers"] = Object.fromEntries(
      update.oauth_providers.map((provider) => {
        const entry: ConfigObject = {
          type: provider.id,
          isShared: provider.type === "shared",
          allowSignIn: true,
          allowConnectedAccounts: true,
        };
        if (provider.client_id !== undefined) entry.clientId = provider.client_id;
        if (provider.client_secret !== undefined) entry.clientSecret = provider.client_secret;
        if (provider.facebook_config_id !== undefined) entry.facebookConfigId = provider.facebook_config_id;
        if (provider.microsoft_tenant_id !== undefined)
          entry.microsoftTenantId = provider.microsoft_tenant_id;
        if (provider.apple_bundle_ids) {
          entry.appleBundles = Object.fromEntries(
            provider.apple_bundle_ids.map((bundleId, i) => [`bundle${i}`, { bundleId }]),
          );
        }
        return [provider.provider_config_id ?? provider.id, entry];
      }),
    );
  }
  const permissions = (list: { id: string }[] | undefined) =>
    list ? Object.fromEntries(list.map(({ id }) => [id, true as const])) : undefined;
  set("rbac.defaultPermissions.teamCreator", permissions(update.team_creator_default_permissions));
  set("rbac.defaultPermissions.teamMember", permissions(update.team_member_default_permissions));
  set("rbac.defaultPermissions.signUp", permissions(update.user_default_permissions));
  return out;
}
