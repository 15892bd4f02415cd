import {
  type ConfigObject,
  isPlainObject,
  migrateConfigOverride,
  type RenderedConfig,
  renderConfig,
} from "@latchkey/contracts";
import { sql } from "kysely";
import type { DatabaseHandle } from "../../db/database.ts";
import { digestKey, digestsEqual, type KeyKind } from "./keys.ts";

export interface ProjectRow {
  id: string;
  display_name: string;
  description: string;
  is_production_mode: boolean;
  owner_team_id: string | null;
  onboarding_status: string;
  logo_url: string | null;
  logo_full_url: string | null;
  logo_dark_mode_url: string | null;
  logo_full_dark_mode_url: string | null;
  created_at: Date;
}

interface KeySetDigests {
  id: string;
  digests: Partial<Record<KeyKind, Buffer>>;
  expiresAt: number;
  revoked: boolean;
}

export interface TenancySnapshot {
  id: string;
  branchId: string;
  /** The complete rendered config of this branch (project → branch → environment). */
  config: RenderedConfig;
  branchOverride: ConfigObject;
  branchSource: unknown;
  environmentOverride: ConfigObject;
}

/**
 * Everything request authentication needs about one project, loaded in one query and kept in memory:
 * the project row, the digests of its keys and each branch with its rendered config.
 */
export interface ProjectSnapshot {
  id: string;
  row: ProjectRow;
  projectOverride: ConfigObject;
  keySets: KeySetDigests[];
  branches: Map<string, TenancySnapshot>;
}

/**
 * A tenancy's config with `environmentOverride` in place of the one the snapshot was read with: for
 * deciding against an environment override read (and locked) just now, over the project's other levels.
 */
export function configWithEnvironment(
  projectOverride: ConfigObject,
  branchOverride: ConfigObject,
  environmentOverride: ConfigObject,
): RenderedConfig {
  return renderConfig([projectOverride, branchOverride, environmentOverride]);
}

export function verifyProjectKey(project: ProjectSnapshot, kind: KeyKind, presented: string): boolean {
  const digest = digestKey(presented);
  const now = Date.now();
  let valid = false;
  // Compare against every set (no early exit) so timing does not reveal which set matched.
  for (const set of project.keySets) {
    const stored = set.digests[kind];
    if (stored && digestsEqual(stored, digest) && !set.revoked && set.expiresAt > now) valid = true;
  }
  return valid;
}

interface SnapshotQueryRow extends ProjectRow {
  config_override: unknown;
  key_sets: {
    id: string;
    publishable_client_key_hash: string | null;
    secret_server_key_hash: string | null;
    super_secret_admin_key_hash: string | null;
    expires_at: string;
    manually_revoked_at: string | null;
  }[];
  branches: {
    id: string;
    branch_id: string;
    branch_config: unknown;
    branch_source: unknown;
    environment_config: unknown;
  }[];
}

export async function loadProjectSnapshot(
  database: DatabaseHandle,
  projectId: string,
): Promise<ProjectSnapshot | null> {
  const { rows } = await sql<SnapshotQueryRow>`
    SELECT p.*,
      (SELECT coalesce(json_agg(json_build_object(
          'id', k.id,
          'publishable_client_key_hash', encode(k.publishable_client_key_hash, 'hex'),
          'secret_server_key_hash', encode(k.secret_server_key_hash, 'hex'),
          'super_secret_admin_key_hash', encode(k.super_secret_admin_key_hash, 'hex'),
          'expires_at', k.expires_at,
          'manually_revoked_at', k.manually_revoked_at)), '[]'::json)
        FROM project_api_key_sets k WHERE k.project_id = p.id) AS key_sets,
      (SELECT coalesce(json_agg(json_build_object(
          'id', t.id,
          'branch_id', t.branch_id,
          'branch_config', b.config,
          'branch_source', b.source,
          'environment_config', e.config)), '[]'::json)
        FROM tenancies t
        LEFT JOIN branch_config_overrides b ON b.project_id = t.project_id AND b.branch_id = t.branch_id
        LEFT JOIN environment_config_overrides e ON e.project_id = t.project_id AND e.branch_id = t.branch_id
        WHERE t.project_id = p.id) AS branches
    FROM projects p
    WHERE p.id = ${projectId}
  `.execute(database.db);
  const row = rows[0];
  if (!row) return null;

  const projectOverride = asOverride(row.config_override);
  const branches = new Map<string, TenancySnapshot>();
  for (const branch of row.branches) {
    const branchOverride = migrateConfigOverride("branch", asOverride(branch.branch_config));
    const environmentOverride = migrateConfigOverride("environment", asOverride(branch.environment_config));
    branches.set(branch.branch_id, {
      id: branch.id,
      branchId: branch.branch_id,
      config: configWithEnvironment(projectOverride, branchOverride, environmentOverride),
      branchOverride,
      branchSource: branch.branch_source ?? { type: "unlinked" },
      environmentOverride,
    });
  }
  const { config_override: _override, key_sets, branches: _branches, ...projectRow } = row;
  return {
    id: row.id,
    row: projectRow,
    projectOverride,
    keySets: key_sets.map((set) => ({
      id: set.id,
      digests: {
        publishable_client_key: hexBuffer(set.publishable_client_key_hash),
        secret_server_key: hexBuffer(set.secret_server_key_hash),
        super_secret_admin_key: hexBuffer(set.super_secret_admin_key_hash),
      },
      expiresAt: new Date(set.expires_at).getTime(),
      revoked: set.manually_revoked_at !== null,
    })),
    branches,
  };
}

const hexBuffer = (hex: string | null) => (hex ? Buffer.from(hex, "hex") : undefined);
const asOverride = (value: unknown): ConfigObject => (isPlainObject(value) ? value : {});
