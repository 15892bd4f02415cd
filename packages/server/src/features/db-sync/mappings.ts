import { isUuid } from "../../http/requirements.ts";

/**
 * What is synced: each mapping turns one source table (plus its tombstones) into one table in the
 * customer's database. A mapping declares the target's columns once; the DDL, the fetch query's
 * output and the apply statements all follow from that list.
 */
export interface TargetColumn {
  name: string;
  /** PostgreSQL type in the target, with its constraint (`uuid NOT NULL`). */
  postgres: string;
  /** ClickHouse type in the target. */
  clickhouse: string;
  /** The value for a tombstone row of a deleted source row (ClickHouse keeps tombstones as rows). */
  deletedValue: string;
}

export type SourceTable =
  | "users"
  | "contact_channels"
  | "teams"
  | "team_members"
  | "team_member_permissions"
  | "user_permissions"
  | "sessions"
  | "oauth_accounts";

export interface Mapping {
  name: string;
  /** The source table; its tombstones carry this `table_name`. */
  sourceTable: SourceTable;
  targetTable: string;
  columns: TargetColumn[];
  primaryKey: string[];
  /**
   * SELECT of the live rows of one tenancy with `sync_seq > $2`, as `(<columns>, seq)`; `$1` is the
   * tenancy. The engine unions the tombstones and orders by `seq`.
   */
  liveRows: string;
}

const uuidColumn = (name: string): TargetColumn => ({
  name,
  postgres: "uuid NOT NULL",
  clickhouse: "UUID",
  deletedValue: `(d.data->>'${name}')::uuid`,
});
const text = (name: string, notNull = false): TargetColumn => ({
  name,
  postgres: notNull ? "text NOT NULL" : "text",
  clickhouse: notNull ? "String" : "Nullable(String)",
  deletedValue: notNull ? "''" : "NULL",
});
/** A text key column: a tombstone takes it from the deleted row. */
const textKey = (name: string, source = name): TargetColumn => ({
  name,
  postgres: "text NOT NULL",
  clickhouse: "String",
  deletedValue: `(d.data->>'${source}')`,
});
const optionalTimestamp = (name: string): TargetColumn => ({
  name,
  postgres: "timestamptz",
  clickhouse: "Nullable(DateTime64(3, 'UTC'))",
  deletedValue: "NULL",
});
const bool = (name: string, fallback: boolean): TargetColumn => ({
  name,
  postgres: `boolean NOT NULL DEFAULT ${fallback}`,
  clickhouse: "UInt8",
  deletedValue: String(fallback),
});
const timestamp = (name: string): TargetColumn => ({
  name,
  postgres: "timestamptz NOT NULL",
  clickhouse: "DateTime64(3, 'UTC')",
  deletedValue: "d.deleted_at",
});
const jsonObject = (name: string): TargetColumn => ({
  name,
  postgres: "jsonb NOT NULL DEFAULT '{}'",
  clickhouse: "String",
  deletedValue: "'{}'::jsonb",
});

export const mappings: Mapping[] = [
  {
    name: "users",
    sourceTable: "users",
    targetTable: "users",
    primaryKey: ["id"],
    columns: [
      uuidColumn("id"),
      text("display_name"),
      text("profile_image_url"),
      text("primary_email"),
      bool("primary_email_verified", false),
      timestamp("signed_up_at"),
      jsonObject("client_metadata"),
      jsonObject("client_read_only_metadata"),
      jsonObject("server_metadata"),
      bool("is_anonymous", false),
    ],
    liveRows: `
      SELECT u.id, u.display_name, u.profile_image_url, email.value AS primary_email,
             coalesce(email.is_verified, false) AS primary_email_verified, u.signed_up_at,
             coalesce(u.client_metadata, '{}') AS client_metadata,
             coalesce(u.client_read_only_metadata, '{}') AS client_read_only_metadata,
             coalesce(u.server_metadata, '{}') AS server_metadata, u.is_anonymous, u.sync_seq AS seq
      FROM users u
      LEFT JOIN contact_channels email ON email.tenancy_id = u.tenancy_id AND email.user_id = u.id
        AND email.type = 'email' AND email.is_primary
      WHERE u.tenancy_id = $1 AND u.sync_seq > $2`,
  },
  {
    name: "contact_channels",
    sourceTable: "contact_channels",
    targetTable: "contact_channels",
    primaryKey: ["id"],
    columns: [
      uuidColumn("id"),
      uuidColumn("user_id"),
      text("type", true),
      text("value", true),
      bool("is_primary", false),
      bool("is_verified", false),
      bool("used_for_auth", false),
      timestamp("created_at"),
    ],
    liveRows: `
      SELECT c.id, c.user_id, c.type, c.value, c.is_primary, c.is_verified, c.used_for_auth, c.created_at,
             c.sync_seq AS seq
      FROM contact_channels c
      WHERE c.tenancy_id = $1 AND c.sync_seq > $2`,
  },
  {
    name: "teams",
    sourceTable: "teams",
    targetTable: "teams",
    primaryKey: ["id"],
    columns: [
      uuidColumn("id"),
      text("display_name", true),
      text("profile_image_url"),
      timestamp("created_at"),
      jsonObject("client_metadata"),
      jsonObject("client_read_only_metadata"),
      jsonObject("server_metadata"),
    ],
    liveRows: `
      SELECT t.id, t.display_name, t.profile_image_url, t.created_at,
             coalesce(t.client_metadata, '{}') AS client_metadata,
             coalesce(t.client_read_only_metadata, '{}') AS client_read_only_metadata,
             coalesce(t.server_metadata, '{}') AS server_metadata, t.sync_seq AS seq
      FROM teams t WHERE t.tenancy_id = $1 AND t.sync_seq > $2`,
  },
  {
    name: "team_member_profiles",
    sourceTable: "team_members",
    targetTable: "team_member_profiles",
    primaryKey: ["team_id", "user_id"],
    columns: [
      uuidColumn("team_id"),
      uuidColumn("user_id"),
      text("display_name"),
      text("profile_image_url"),
      timestamp("created_at"),
    ],
    liveRows: `
      SELECT m.team_id, m.user_id, m.display_name, m.profile_image_url, m.created_at, m.sync_seq AS seq
      FROM team_members m WHERE m.tenancy_id = $1 AND m.sync_seq > $2`,
  },
  {
    name: "team_permissions",
    sourceTable: "team_member_permissions",
    targetTable: "team_permissions",
    primaryKey: ["team_id", "user_id", "permission_id"],
    columns: [
      uuidColumn("team_id"),
      uuidColumn("user_id"),
      textKey("permission_id"),
      timestamp("created_at"),
    ],
    liveRows: `
      SELECT p.team_id, p.user_id, p.permission_id, p.created_at, p.sync_seq AS seq
      FROM team_member_permissions p WHERE p.tenancy_id = $1 AND p.sync_seq > $2`,
  },
  {
    name: "project_permissions",
    sourceTable: "user_permissions",
    targetTable: "project_permissions",
    primaryKey: ["user_id", "permission_id"],
    columns: [uuidColumn("user_id"), textKey("permission_id"), timestamp("created_at")],
    liveRows: `
      SELECT p.user_id, p.permission_id, p.created_at, p.sync_seq AS seq
      FROM user_permissions p WHERE p.tenancy_id = $1 AND p.sync_seq > $2`,
  },
  {
    name: "refresh_tokens",
    sourceTable: "sessions",
    targetTable: "refresh_tokens",
    primaryKey: ["id"],
    // The token itself (its digest) is never exported.
    columns: [
      uuidColumn("id"),
      uuidColumn("user_id"),
      timestamp("created_at"),
      timestamp("last_used_at"),
      bool("is_impersonation", false),
      optionalTimestamp("expires_at"),
    ],
    liveRows: `
      SELECT s.id, s.user_id, s.created_at, s.last_used_at, s.is_impersonation, s.expires_at, s.sync_seq AS seq
      FROM sessions s WHERE s.tenancy_id = $1 AND s.sync_seq > $2`,
  },
  {
    name: "connected_accounts",
    sourceTable: "oauth_accounts",
    targetTable: "connected_accounts",
    primaryKey: ["id"],
    columns: [
      uuidColumn("id"),
      uuidColumn("user_id"),
      { ...textKey("provider", "provider_config_id") },
      textKey("provider_account_id"),
      text("email"),
      timestamp("created_at"),
    ],
    liveRows: `
      SELECT a.id, a.user_id, a.provider_config_id AS provider, a.provider_account_id, a.email, a.created_at,
             a.sync_seq AS seq
      FROM oauth_accounts a WHERE a.tenancy_id = $1 AND a.sync_seq > $2`,
  },
];

/**
 * One page of changes of a mapping for a tenancy after `cursor`, in sequence order: live rows
 * (`deleted` false) and tombstones (`deleted` true, other columns neutral).
 */
export function changesQuery(mapping: Mapping): string {
  const columns = mapping.columns.map((c) => c.name).join(", ");
  const tombstones = mapping.columns.map((c) => `${c.deletedValue} AS ${c.name}`).join(", ");
  // Each branch is ordered and limited on its own, so that it walks its (tenancy, seq) index and stops
  // after one page, instead of sorting every change after the cursor (a backfill's whole table).
  return `
    SELECT * FROM (
      (SELECT ${columns}, seq, false AS deleted FROM (${mapping.liveRows}) live ORDER BY seq LIMIT $3)
      UNION ALL
      (SELECT ${tombstones}, d.sync_seq AS seq, true AS deleted
       FROM sync_deleted_rows d
       WHERE d.tenancy_id = $1 AND d.table_name = '${mapping.sourceTable}' AND d.sync_seq > $2
       ORDER BY d.sync_seq LIMIT $3)
    ) changes
    ORDER BY seq
    LIMIT $3`;
}

/** A page of changes as one JSON object per row, with the sequence id and the tombstone flag. */
export function changesJsonQuery(mapping: Mapping): string {
  return `SELECT json_build_object(${mapping.columns.map((c) => `'${c.name}', ${c.name}`).join(", ")},
            '_latchkey_seq', seq, '_latchkey_is_deleted', CASE WHEN deleted THEN 1 ELSE 0 END)::text AS row
          FROM (${changesQuery(mapping)}) page`;
}

/** Whether a tombstone of a source table has a sequence id in ($3, $4]. */
export const TOMBSTONES_IN_RANGE = `SELECT EXISTS (
  SELECT 1 FROM sync_deleted_rows WHERE tenancy_id = $1 AND table_name = $2 AND sync_seq > $3 AND sync_seq <= $4
) AS found`;

/** The live rows of one page, without tombstones, as `COPY … TO STDOUT` (see `changesCopy`). */
export function liveRowsCopy(mapping: Mapping, tenancyId: string, cursor: string, limit: number): string {
  const columns = mapping.columns.map((c) => c.name).join(", ");
  return inlineCopy(
    `SELECT ${columns}, seq FROM (${mapping.liveRows}) live ORDER BY seq LIMIT $3`,
    tenancyId,
    cursor,
    limit,
  );
}

/**
 * The page query as a `COPY … TO STDOUT` statement. COPY takes no parameters, so the values are
 * inlined — after checking they are exactly a UUID and an integer.
 */
export function changesCopy(mapping: Mapping, tenancyId: string, cursor: string, limit: number): string {
  return inlineCopy(changesQuery(mapping), tenancyId, cursor, limit);
}

function inlineCopy(query: string, tenancyId: string, cursor: string, limit: number): string {
  if (!isUuid(tenancyId) || !/^\d+$/.test(cursor) || !Number.isSafeInteger(limit)) {
    throw new Error("COPY of a page: invalid tenancy id, cursor or limit");
  }
  const inlined = query
    .replaceAll("$1", `'${tenancyId}'::uuid`)
    .replaceAll("$2", `${cursor}::bigint`)
    .replaceAll("$3", String(limit));
  return `COPY (${inlined}) TO STDOUT`;
}
