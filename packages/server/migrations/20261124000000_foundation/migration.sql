-- Foundation: projects, their branches (tenancies), project key sets and the three config override levels.

CREATE TABLE projects (
  id                      text PRIMARY KEY,
  display_name            text NOT NULL,
  description             text NOT NULL DEFAULT '',
  is_production_mode      boolean NOT NULL DEFAULT false,
  owner_team_id           uuid,
  onboarding_status       text NOT NULL DEFAULT 'completed'
    CONSTRAINT projects_onboarding_status_check CHECK (onboarding_status IN (
      'config_choice', 'apps_selection', 'auth_setup', 'domain_setup', 'email_theme_setup',
      'payments_setup', 'welcome', 'completed')),
  logo_url                text,
  logo_full_url           text,
  logo_dark_mode_url      text,
  logo_full_dark_mode_url text,
  -- Project-level config override (shared by all branches).
  config_override         jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT projects_id_format CHECK (id = 'internal' OR id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
);

CREATE INDEX projects_owner_team_id_idx ON projects (owner_team_id) WHERE owner_team_id IS NOT NULL;

-- A tenancy is one (project, branch): every tenant-owned row of later features carries its id.
CREATE TABLE tenancies (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  branch_id  text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT tenancies_project_branch_unique UNIQUE (project_id, branch_id)
);

-- Project key sets. Only SHA-256 digests of the keys are stored; the full keys are shown once.
CREATE TABLE project_api_key_sets (
  id                               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id                       text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  description                      text NOT NULL,
  publishable_client_key_hash      bytea UNIQUE,
  publishable_client_key_last_four text,
  secret_server_key_hash           bytea UNIQUE,
  secret_server_key_last_four      text,
  super_secret_admin_key_hash      bytea UNIQUE,
  super_secret_admin_key_last_four text,
  expires_at                       timestamptz NOT NULL,
  manually_revoked_at              timestamptz,
  created_at                       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX project_api_key_sets_project_idx ON project_api_key_sets (project_id, created_at DESC);

CREATE TABLE branch_config_overrides (
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  branch_id  text NOT NULL,
  config     jsonb NOT NULL DEFAULT '{}'::jsonb,
  source     jsonb NOT NULL DEFAULT '{"type":"unlinked"}'::jsonb,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, branch_id)
);

CREATE TABLE environment_config_overrides (
  project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  branch_id  text NOT NULL,
  config     jsonb NOT NULL DEFAULT '{}'::jsonb,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, branch_id)
);

-- Every API process caches projects, keys and config in memory; any change to those rows — from our
-- code, another process or raw SQL — tells them all to drop the project's entry.
CREATE FUNCTION latchkey_notify_project_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changed_project text;
BEGIN
  IF TG_TABLE_NAME = 'projects' THEN
    changed_project := COALESCE(NEW.id, OLD.id);
  ELSE
    changed_project := COALESCE(NEW.project_id, OLD.project_id);
  END IF;
  PERFORM pg_notify('latchkey_project_changed', changed_project);
  RETURN NULL;
END;
$$;

CREATE TRIGGER projects_changed AFTER INSERT OR UPDATE OR DELETE ON projects
  FOR EACH ROW EXECUTE FUNCTION latchkey_notify_project_changed();
CREATE TRIGGER tenancies_changed AFTER INSERT OR UPDATE OR DELETE ON tenancies
  FOR EACH ROW EXECUTE FUNCTION latchkey_notify_project_changed();
CREATE TRIGGER project_api_key_sets_changed AFTER INSERT OR UPDATE OR DELETE ON project_api_key_sets
  FOR EACH ROW EXECUTE FUNCTION latchkey_notify_project_changed();
CREATE TRIGGER branch_config_overrides_changed AFTER INSERT OR UPDATE OR DELETE ON branch_config_overrides
  FOR EACH ROW EXECUTE FUNCTION latchkey_notify_project_changed();
CREATE TRIGGER environment_config_overrides_changed AFTER INSERT OR UPDATE OR DELETE ON environment_config_overrides
  FOR EACH ROW EXECUTE FUNCTION latchkey_notify_project_changed();
