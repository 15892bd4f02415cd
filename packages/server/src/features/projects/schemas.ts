import Type, { type Static } from "typebox";

const idList = Type.Array(Type.Object({ id: Type.String() }, { additionalProperties: false }));
const nullableUrl = Type.Union([Type.String(), Type.Null()]);
/** A logo: a web address or an image inlined as a `data:` URL, at most 1 MB as upstream allows. */
const logoInput = Type.Union([
  Type.String({ format: "uri", maxLength: 1_000_000, pattern: "^(https?://|data:image/)" }),
  Type.Null(),
]);

export const onboardingStatuses = [
  "config_choice",
  "apps_selection",
  "auth_setup",
  "domain_setup",
  "email_theme_setup",
  "payments_setup",
  "welcome",
  "completed",
] as const;

const oauthProviderInput = Type.Object(
  {
    id: Type.String(),
    type: Type.Union([Type.Literal("shared"), Type.Literal("standard")]),
    provider_config_id: Type.Optional(Type.String()),
    client_id: Type.Optional(Type.String()),
    client_secret: Type.Optional(Type.String()),
    facebook_config_id: Type.Optional(Type.String()),
    microsoft_tenant_id: Type.Optional(Type.String()),
    apple_bundle_ids: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: false },
);

const smtpPort = Type.Number({ minimum: 0, maximum: 65535 });
const smtpPassword = Type.String({ maxLength: 70 });
/** Upstream's rules: a standard server needs every field, non-empty; a shared one may carry them too. */
const emailConfigInput = Type.Union([
  Type.Object(
    {
      type: Type.Literal("shared"),
      host: Type.Optional(Type.String()),
      port: Type.Optional(smtpPort),
      username: Type.Optional(Type.String()),
      password: Type.Optional(smtpPassword),
      sender_name: Type.Optional(Type.String()),
      sender_email: Type.Optional(Type.String({ format: "email" })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal("standard"),
      host: Type.String({ minLength: 1 }),
      port: smtpPort,
      username: Type.String({ minLength: 1 }),
      password: Type.String({ minLength: 1, maxLength: 70 }),
      sender_name: Type.String({ minLength: 1 }),
      sender_email: Type.String({ minLength: 1, format: "email" }),
    },
    { additionalProperties: false },
  ),
]);

/** The legacy `config` fields of a project update; they become environment-level config overrides. */
export const legacyConfigUpdate = Type.Object(
  {
    sign_up_enabled: Type.Optional(Type.Boolean()),
    credential_enabled: Type.Optional(Type.Boolean()),
    magic_link_enabled: Type.Optional(Type.Boolean()),
    passkey_enabled: Type.Optional(Type.Boolean()),
    client_team_creation_enabled: Type.Optional(Type.Boolean()),
    client_user_deletion_enabled: Type.Optional(Type.Boolean()),
    allow_localhost: Type.Optional(Type.Boolean()),
    allow_user_api_keys: Type.Optional(Type.Boolean()),
    allow_team_api_keys: Type.Optional(Type.Boolean()),
    email_config: Type.Optional(emailConfigInput),
    email_theme: Type.Optional(Type.String()),
    domains: Type.Optional(
      Type.Array(
        Type.Object(
          {
            domain: Type.String({ format: "uri", pattern: "^https?://[^ ]*$" }),
            handler_path: Type.String({ pattern: "^/" }),
          },
          { additionalProperties: false },
        ),
      ),
    ),
    oauth_providers: Type.Optional(Type.Array(oauthProviderInput)),
    create_team_on_sign_up: Type.Optional(Type.Boolean()),
    team_creator_default_permissions: Type.Optional(idList),
    team_member_default_permissions: Type.Optional(idList),
    user_default_permissions: Type.Optional(idList),
    oauth_account_merge_strategy: Type.Optional(
      Type.Union([
        Type.Literal("link_method"),
        Type.Literal("raise_error"),
        Type.Literal("allow_duplicates"),
      ]),
    ),
    require_email_verification: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const projectUpdateBody = Type.Object(
  {
    // Upstream takes any text, even none.
    display_name: Type.Optional(Type.String()),
    description: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    logo_url: Type.Optional(logoInput),
    logo_full_url: Type.Optional(logoInput),
    logo_dark_mode_url: Type.Optional(logoInput),
    logo_full_dark_mode_url: Type.Optional(logoInput),
    is_production_mode: Type.Optional(Type.Boolean()),
    onboarding_status: Type.Optional(Type.Union(onboardingStatuses.map((s) => Type.Literal(s)))),
    config: Type.Optional(legacyConfigUpdate),
  },
  { additionalProperties: false },
);

export const projectCreateBody = Type.Object(
  {
    ...projectUpdateBody.properties,
    display_name: Type.String(),
    owner_team_id: Type.String({ format: "uuid" }),
  },
  { additionalProperties: false },
);

export type ProjectUpdate = Static<typeof projectUpdateBody>;
export type LegacyConfigUpdate = Static<typeof legacyConfigUpdate>;

const clientConfig = {
  sign_up_enabled: Type.Boolean(),
  credential_enabled: Type.Boolean(),
  magic_link_enabled: Type.Boolean(),
  passkey_enabled: Type.Boolean(),
  client_team_creation_enabled: Type.Boolean(),
  client_user_deletion_enabled: Type.Boolean(),
  allow_user_api_keys: Type.Boolean(),
  allow_team_api_keys: Type.Boolean(),
  enabled_oauth_providers: idList,
  domains: Type.Array(Type.Object({ domain: Type.String(), handler_path: Type.String() })),
};

export const clientProjectView = Type.Object({
  id: Type.String(),
  display_name: Type.String(),
  config: Type.Object(clientConfig),
});

export const adminProjectView = Type.Object({
  id: Type.String(),
  display_name: Type.String(),
  description: Type.String(),
  logo_url: nullableUrl,
  logo_full_url: nullableUrl,
  logo_dark_mode_url: nullableUrl,
  logo_full_dark_mode_url: nullableUrl,
  created_at_millis: Type.Number(),
  is_production_mode: Type.Boolean(),
  owner_team_id: Type.Union([Type.String(), Type.Null()]),
  onboarding_status: Type.String(),
  config: Type.Object({
    ...clientConfig,
    allow_localhost: Type.Boolean(),
    oauth_providers: Type.Array(
      Type.Object({ provider_config_id: Type.String(), id: Type.String(), type: Type.String() }),
    ),
    email_config: Type.Object({
      type: Type.String(),
      host: Type.Optional(Type.String()),
      port: Type.Optional(Type.Number()),
      username: Type.Optional(Type.String()),
      password: Type.Optional(Type.String()),
      sender_name: Type.Optional(Type.String()),
      sender_email: Type.Optional(Type.String()),
    }),
    email_theme: Type.String(),
    create_team_on_sign_up: Type.Boolean(),
    team_creator_default_permissions: idList,
    team_member_default_permissions: idList,
    user_default_permissions: idList,
    oauth_account_merge_strategy: Type.String(),
  }),
});

export type ClientProjectView = Static<typeof clientProjectView>;
export type AdminProjectView = Static<typeof adminProjectView>;
