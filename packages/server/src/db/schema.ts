import type { ColumnType, Generated } from "kysely";

/**
 * The shape of the Latchkey database as the code reads it. It is checked against the migrated database
 * by the schema drift test, so it cannot silently disagree with the migrations.
 */
export interface Database {
  projects: ProjectsTable;
  tenancies: TenanciesTable;
  project_api_key_sets: ProjectApiKeySetsTable;
  branch_config_overrides: BranchConfigOverridesTable;
  environment_config_overrides: EnvironmentConfigOverridesTable;
}

/** A timestamp the database fills in when the insert leaves it out. */
type GeneratedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
/** JSON is written as a serialized string and read back parsed. */
type GeneratedJson = ColumnType<unknown, string | undefined, string>;

export interface ProjectsTable {
  id: string;
  display_name: string;
  description: Generated<string>;
  is_production_mode: Generated<boolean>;
  owner_team_id: string | null;
  onboarding_status: Generated<string>;
  logo_url: string | null;
  logo_full_url: string | null;
  logo_dark_mode_url: string | null;
  logo_full_dark_mode_url: string | null;
  config_override: GeneratedJson;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

export interface TenanciesTable {
  id: Generated<string>;
  project_id: string;
  branch_id: string;
  created_at: GeneratedTimestamp;
}

export interface ProjectApiKeySetsTable {
  id: Generated<string>;
  project_id: string;
  description: string;
  publishable_client_key_hash: Buffer | null;
  publishable_client_key_last_four: string | null;
  secret_server_key_hash: Buffer | null;
  secret_server_key_last_four: string | null;
  super_secret_admin_key_hash: Buffer | null;
  super_secret_admin_key_last_four: string | null;
  expires_at: Timestamp;
  manually_revoked_at: NullableTimestamp;
  created_at: GeneratedTimestamp;
}

export interface BranchConfigOverridesTable {
  project_id: string;
  branch_id: string;
  config: GeneratedJson;
  source: GeneratedJson;
  updated_at: GeneratedTimestamp;
}

export interface EnvironmentConfigOverridesTable {
  project_id: string;
  branch_id: string;
  config: GeneratedJson;
  updated_at: GeneratedTimestamp;
}
