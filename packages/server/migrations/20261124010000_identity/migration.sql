-- Identity: users, contact channels, credentials, sessions, teams, permissions, verification codes,
-- user/team API keys, the e-mail outbox and sign-in rate limits. Every row belongs to one tenancy and
-- every key starts with tenancy_id, so no row can ever reference another tenancy's rows.

-- Process-wide secrets (e.g. the root from which per-project token signing keys are derived).
CREATE TABLE server_secrets (
  name       text PRIMARY KEY,
  value      bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  tenancy_id                         uuid NOT NULL REFERENCES tenancies (id) ON DELETE CASCADE,
  id                                 uuid NOT NULL DEFAULT gen_random_uuid(),
  display_name                       text,
  profile_image_url                  text,
  client_metadata                    jsonb,
  client_read_only_metadata          jsonb,
  server_metadata                    jsonb,
  is_anonymous                       boolean NOT NULL DEFAULT false,
  otp_auth_enabled                   boolean NOT NULL DEFAULT false,
  passkey_auth_enabled               boolean NOT NULL DEFAULT false,
  totp_secret                        bytea,
  restricted_by_admin                boolean NOT NULL DEFAULT false,
  restricted_by_admin_reason         text,
  restricted_by_admin_private_details text,
  country_code                       text,
  risk_score_bot                     smallint NOT NULL DEFAULT 0 CHECK (risk_score_bot BETWEEN 0 AND 100),
  risk_score_free_trial_abuse        smallint NOT NULL DEFAULT 0 CHECK (risk_score_free_trial_abuse BETWEEN 0 AND 100),
  signed_up_at                       timestamptz NOT NULL DEFAULT now(),
  last_active_at                     timestamptz NOT NULL DEFAULT now(),
  created_at                         timestamptz NOT NULL DEFAULT now(),
  updated_at                         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenancy_id, id),
  CONSTRAINT users_restriction_details CHECK (
    restricted_by_admin OR (restricted_by_admin_reason IS NULL AND restricted_by_admin_private_details IS NULL))
);

-- The user list pages by (signed_up_at, id) in both directions.
CREATE INDEX users_signed_up_idx ON users (tenancy_id, signed_up_at, id);

CREATE TABLE contact_channels (
  tenancy_id    uuid NOT NULL,
  user_id       uuid NOT NULL,
  id            uuid NOT NULL DEFAULT gen_random_uuid(),
  type          text NOT NULL DEFAULT 'email' CHECK (type = 'email'),
  value         text NOT NULL,
  is_verified   boolean NOT NULL DEFAULT false,
  is_primary    boolean NOT NULL DEFAULT false,
  used_for_auth boolean NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenancy_id, user_id, id),
  FOREIGN KEY (tenancy_id, user_id) REFERENCES users (tenancy_id, id) ON DELETE CASCADE,
  CONSTRAINT contact_channels_value_per_user UNIQUE (tenancy_id, user_id, type, value)
);

CREATE UNIQUE INDEX contact_channels_one_primary ON contact_channels (tenancy_id, user_id, type) WHERE is_primary;
-- A value may sign in only one user of a tenancy.
CREATE UNIQUE INDEX contact_channels_auth_value ON contact_channels (tenancy_id, type, value) WHERE used_for_auth;
CREATE INDEX contact_channels_value_idx ON contact_channels (tenancy_id, value);

CREATE TABLE password_credentials (
  tenancy_id    uuid NOT NULL,
  user_id       uuid NOT NULL,
  password_hash text NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenancy_id, user_id),
  FOREIGN KEY (tenancy_id, user_id) REFERENCES users (tenancy_id, id) ON DELETE CASCADE
);

CREATE TABLE oauth_accounts (
  tenancy_id          uuid NOT NULL,
  id                  uuid NOT NULL DEFAULT gen_random_uuid(),
  user_id             uuid NOT NULL,
  provider_config_id  text NOT NULL,
  provider_account_id text NOT NULL,
  email               text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenancy_id, id),
  FOREIGN KEY (tenancy_id, user_id) REFERENCES users (tenancy_id, id) ON DELETE CASCADE,
  CONSTRAINT oauth_accounts_provider_account UNIQUE (tenancy_id, provider_config_id, provider_account_id)
);

CREATE INDEX oauth_accounts_user_idx ON oauth_accounts (tenancy_id, user_id);

-- Sessions: one row per refresh token; only its SHA-256 digest is stored.
CREATE TABLE sessions (
  tenancy_id          uuid NOT NULL,
  id                  uuid NOT NULL DEFAULT gen_random_uuid(),
  user_id             uuid NOT NULL,
  refresh_token_hash  bytea NOT NULL,
  is_impersonation    boolean NOT NULL DEFAULT false,
  created_at          timestamptz NOT NULL DEFAULT now(),
  last_used_at        timestamptz NOT NULL DEFAULT now(),
  last_used_ip        text,
  expires_at          timestamptz,
  PRIMARY KEY (tenancy_id, id),
  FOREIGN KEY (tenancy_id, user_id) REFERENCES users (tenancy_id, id) ON DELETE CASCADE,
  CONSTRAINT sessions_refresh_token_hash_unique UNIQUE (refresh_token_hash)
);

CREATE INDEX sessions_user_idx ON sessions (tenancy_id, user_id, created_at DESC);

CREATE TABLE teams (
  tenancy_id                uuid NOT NULL REFERENCES tenancies (id) ON DELETE CASCADE,
  id                        uuid NOT NULL DEFAULT gen_random_uuid(),
  display_name              text NOT NULL,
  profile_image_url         text,
  client_metadata           jsonb,
  client_read_only_metadata jsonb,
  server_metadata           jsonb,
  created_at                timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenancy_id, id)
);

CREATE INDEX teams_created_idx ON teams (tenancy_id, created_at, id);

CREATE TABLE team_members (
  tenancy_id        uuid NOT NULL,
  team_id           uuid NOT NULL,
  user_id           uuid NOT NULL,
  display_name      text,
  profile_image_url text,
  -- The user's selected team; at most one per user.
  is_selected       boolean NOT NULL DEFAULT false,
  created_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenancy_id, team_id, user_id),
  FOREIGN KEY (tenancy_id, team_id) REFERENCES teams (tenancy_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenancy_id, user_id) REFERENCES users (tenancy_id, id) ON DELETE CASCADE
);

CREATE INDEX team_members_user_idx ON team_members (tenancy_id, user_id);
CREATE UNIQUE INDEX team_members_one_selected ON team_members (tenancy_id, user_id) WHERE is_selected;

CREATE TABLE team_member_permissions (
  tenancy_id    uuid NOT NULL,
  team_id       uuid NOT NULL,
  user_id       uuid NOT NULL,
  permission_id text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenancy_id, team_id, user_id, permission_id),
  FOREIGN KEY (tenancy_id, team_id, user_id) REFERENCES team_members (tenancy_id, team_id, user_id) ON DELETE CASCADE
);

CREATE TABLE user_permissions (
  tenancy_id    uuid NOT NULL,
  user_id       uuid NOT NULL,
  permission_id text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenancy_id, user_id, permission_id),
  FOREIGN KEY (tenancy_id, user_id) REFERENCES users (tenancy_id, id) ON DELETE CASCADE
);

-- Single-use codes e-mailed for verification, password reset, OTP sign-in… Only a digest is stored.
CREATE TABLE verification_codes (
  tenancy_id    uuid NOT NULL REFERENCES tenancies (id) ON DELETE CASCADE,
  id            uuid NOT NULL DEFAULT gen_random_uuid(),
  purpose       text NOT NULL,
  code_hash     bytea NOT NULL,
  data          jsonb NOT NULL DEFAULT '{}'::jsonb,
  attempt_count integer NOT NULL DEFAULT 0,
  expires_at    timestamptz NOT NULL,
  used_at       timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenancy_id, id),
  CONSTRAINT verification_codes_code_unique UNIQUE (tenancy_id, code_hash)
);

-- User and team API keys (project key sets live in project_api_key_sets).
CREATE TABLE api_keys (
  tenancy_id          uuid NOT NULL REFERENCES tenancies (id) ON DELETE CASCADE,
  id                  uuid NOT NULL DEFAULT gen_random_uuid(),
  user_id             uuid,
  team_id             uuid,
  description         text NOT NULL,
  secret_hash         bytea NOT NULL,
  last_four           text NOT NULL,
  is_public           boolean NOT NULL DEFAULT false,
  expires_at          timestamptz,
  manually_revoked_at timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenancy_id, id),
  FOREIGN KEY (tenancy_id, user_id) REFERENCES users (tenancy_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenancy_id, team_id) REFERENCES teams (tenancy_id, id) ON DELETE CASCADE,
  CONSTRAINT api_keys_one_owner CHECK ((user_id IS NULL) <> (team_id IS NULL)),
  CONSTRAINT api_keys_secret_unique UNIQUE (secret_hash)
);

CREATE INDEX api_keys_user_idx ON api_keys (tenancy_id, user_id, created_at DESC) WHERE user_id IS NOT NULL;
CREATE INDEX api_keys_team_idx ON api_keys (tenancy_id, team_id, created_at DESC) WHERE team_id IS NOT NULL;

-- Outgoing e-mail. In the embedded default nothing is sent: messages wait here (and are logged).
CREATE TABLE email_outbox (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenancy_id  uuid REFERENCES tenancies (id) ON DELETE CASCADE,
  to_address  text NOT NULL,
  subject     text NOT NULL,
  text_body   text NOT NULL,
  html_body   text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  sent_at     timestamptz,
  last_error  text
);

CREATE INDEX email_outbox_created_idx ON email_outbox (created_at DESC);

-- Fixed-window counters for rate limits (sign-in per e-mail and per IP), shared by every process.
-- UNLOGGED: counters are worth no WAL write on every sign-in; after a crash they simply start over.
CREATE UNLOGGED TABLE rate_limit_counters (
  bucket       text NOT NULL,
  window_start timestamptz NOT NULL,
  count        integer NOT NULL DEFAULT 0,
  PRIMARY KEY (bucket, window_start)
);
