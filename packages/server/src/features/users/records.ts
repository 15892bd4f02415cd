import { type Kysely, type RawBuilder, sql, type Transaction } from "kysely";
import type { Database } from "../../db/database.ts";
import { prepared } from "../../db/prepared-statements.ts";
import { KnownError } from "../../errors/index.ts";
import { isUuid } from "../../http/requirements.ts";

export type Db = Kysely<Database> | Transaction<Database>;

export interface ContactChannelRecord {
  id: string;
  type: "email";
  value: string;
  is_primary: boolean;
  is_verified: boolean;
  used_for_auth: boolean;
}

export interface TeamRecord {
  id: string;
  display_name: string;
  profile_image_url: string | null;
  client_metadata: unknown;
  client_read_only_metadata: unknown;
  server_metadata: unknown;
  created_at: string;
}

/** A user with everything its API object shows, as one query returns it. */
export interface UserRecord {
  tenancy_id: string;
  id: string;
  display_name: string | null;
  profile_image_url: string | null;
  client_metadata: unknown;
  client_read_only_metadata: unknown;
  server_metadata: unknown;
  is_anonymous: boolean;
  otp_auth_enabled: boolean;
  passkey_auth_enabled: boolean;
  has_totp: boolean;
  restricted_by_admin: boolean;
  restricted_by_admin_reason: string | null;
  restricted_by_admin_private_details: string | null;
  country_code: string | null;
  risk_score_bot: number;
  risk_score_free_trial_abuse: number;
  signed_up_at: Date;
  last_active_at: Date;
  has_password: boolean;
  channels: ContactChannelRecord[];
  oauth_accounts: { id: string; account_id: string; email: string | null }[];
  selected_team: TeamRecord | null;
}

/**
 * Reads users with their contact channels, credentials, OAuth accounts and selected team in a single
 * statement — reading the current user costs one round trip.
 */
export async function selectUsers(
  db: Db,
  tenancyId: string,
  filter: RawBuilder<unknown>,
  options: {
    /** After the WHERE clause: ORDER BY, LIMIT. */
    tail?: RawBuilder<unknown>;
    /** A `WITH …` clause to run in the same statement (e.g. opening a session while reading its user). */
    withClause?: RawBuilder<unknown>;
    /** Reading one user by id on a hot path: see {@link prepared}. */
    prepared?: boolean;
  } = {},
): Promise<UserRecord[]> {
  const { tail = sql``, withClause = sql`` } = options;
  const { rows } = await sql<UserRecord>`
    ${options.prepared ? prepared : sql``}
    ${withClause}
    SELECT u.tenancy_id, u.id, u.display_name, u.profile_image_url, u.client_metadata,
           u.client_read_only_metadata, u.server_metadata, u.is_anonymous, u.otp_auth_enabled,
           u.passkey_auth_enabled, u.totp_secret IS NOT NULL AS has_totp, u.restricted_by_admin,
           u.restricted_by_admin_reason, u.restricted_by_admin_private_details, u.country_code,
           u.risk_score_bot, u.risk_score_free_trial_abuse, u.signed_up_at, u.last_active_at,
           EXISTS (SELECT 1 FROM password_credentials p WHERE p.tenancy_id = u.tenancy_id AND p.user_id = u.id)
             AS has_password,
           COALESCE((SELECT json_agg(json_build_object('id', c.id, 'type', c.type, 'value', c.value,
                       'is_primary', c.is_primary, 'is_verified', c.is_verified, 'used_for_auth', c.used_for_auth)
                       ORDER BY c.created_at, c.id)
                     FROM contact_channels c WHERE c.tenancy_id = u.tenancy_id AND c.user_id = u.id), '[]'::json)
             AS channels,
           COALESCE((SELECT json_agg(json_build_object('id', o.provider_config_id, 'account_id', o.provider_account_id,
                       'email', o.email) ORDER BY o.created_at)
                     FROM oauth_accounts o WHERE o.tenancy_id = u.tenancy_id AND o.user_id = u.id), '[]'::json)
             AS oauth_accounts,
           (SELECT to_json(t) FROM team_members m JOIN teams t ON t.tenancy_id = m.tenancy_id AND t.id = m.team_id
             WHERE m.tenancy_id = u.tenancy_id AND m.user_id = u.id AND m.is_selected) AS selected_team
      FROM users u
     WHERE u.tenancy_id = ${tenancyId} AND ${filter}
     ${tail}`.execute(db);
  return rows;
}

export async function selectUser(db: Db, tenancyId: string, userId: string): Promise<UserRecord | null> {
  const [user] = await selectUsers(db, tenancyId, sql`u.id = ${userId}`, { prepared: true });
  return user ?? null;
}

export const primaryChannel = (user: UserRecord) => user.channels.find((c) => c.is_primary) ?? null;

/** USER_NOT_FOUND unless the tenancy has this user: how upstream answers a named user that is missing. */
export async function assertUserFound(db: Db, tenancyId: string, userId: string): Promise<void> {
  if (!(await userExists(db, tenancyId, userId))) throw new KnownError("USER_NOT_FOUND");
}

/** Whether the tenancy has this user (any string: a malformed id is no user). */
export async function userExists(db: Db, tenancyId: string, userId: string): Promise<boolean> {
  if (!isUuid(userId)) return false;
  const row = await db
    .selectFrom("users")
    .select("id")
    .where("tenancy_id", "=", tenancyId)
    .where("id", "=", userId)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Locks a user row until the transaction ends and returns what writers decide on, or undefined when
 * there is no such user. Every transaction that changes a user's own rows (contact channels, password,
 * sessions in bulk) takes this first: writers of one user then queue instead of interleaving, and all
 * of them lock in one order — the user, then its rows — so no two can deadlock. `NO KEY UPDATE` leaves
 * inserts that merely point at the user (a new session) free to go on.
 */
export async function lockUser(
  trx: Db,
  tenancyId: string,
  userId: string,
): Promise<{ is_anonymous: boolean; restricted_by_admin: boolean; otp_auth_enabled: boolean } | undefined> {
  if (!isUuid(userId)) return undefined;
  return trx
    .selectFrom("users")
    .select(["is_anonymous", "restricted_by_admin", "otp_auth_enabled"])
    .where("tenancy_id", "=", tenancyId)
    .where("id", "=", userId)
    .forNoKeyUpdate()
    .executeTakeFirst();
}

/**
 * Serialises, until the transaction ends, the transactions that look an auth e-mail up and create its
 * user when there is none: the second waits for the first's user and finds it, where both would
 * otherwise create one and the second fail on the unique address.
 */
export async function lockAuthEmail(trx: Db, tenancyId: string, email: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`auth-email:${tenancyId}:${email}`}, 0))`.execute(
    trx,
  );
}
