import { hash } from "@node-rs/argon2";
import type pg from "pg";
import type { SeedPlan } from "./plan.ts";
import {
  arrayLiteral,
  COUNTRIES,
  EMAIL_DOMAINS,
  FIRST_NAMES,
  LAST_NAMES,
  TEAM_NOUNS,
  TEAM_WORDS,
} from "./vocabulary.ts";

/** Users per statement: big enough to run at bulk speed, small enough for the progress bar to move. */
export const USER_CHUNK = 50_000;

/** The password every seeded password user signs in with. */
export const SEED_PASSWORD = "latchkey-seed-password";

const pick = (words: readonly string[], index: string) =>
  `(ARRAY${arrayLiteral(words)})[1 + (${index}) % ${words.length}]`;

/**
 * Session-local SQL functions that give every seeded row its values from the user's index alone, the
 * same formulas the analytics half uses — so ids, countries and teams agree across both stores.
 */
export async function defineSeedFunctions(client: pg.Client, plan: SeedPlan): Promise<void> {
  await client.query(`
    CREATE FUNCTION pg_temp.seed_uuid(kind text, i bigint) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
      SELECT overlay(overlay(md5('${plan.runId}:' || kind || ':' || i) PLACING '4' FROM 13) PLACING '8' FROM 17)::uuid
    $$`);
  // Older indexes signed up earlier, evenly over the window.
  await client.query(`
    CREATE FUNCTION pg_temp.seed_signed_up(i bigint) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
      SELECT to_timestamp((${plan.nowMs} - ${plan.windowMs}::float8 * (${plan.endIndex} - i) / ${plan.users}) / 1000)
    $$`);
}

/** Inserts users [from, to) of the plan with their channels, credentials, accounts, sessions and teams. */
export async function insertUserChunk(
  client: pg.Client,
  plan: SeedPlan,
  from: number,
  to: number,
  passwordHash: string,
) {
  const params = [plan.tenancyId, from, to - 1];
  await client.query("BEGIN");
  try {
    await client.query(
      `INSERT INTO users (tenancy_id, id, display_name, is_anonymous, restricted_by_admin,
                          restricted_by_admin_reason, country_code, otp_auth_enabled, passkey_auth_enabled,
                          signed_up_at, created_at, updated_at, last_active_at)
       SELECT $1, pg_temp.seed_uuid('user', i),
              CASE WHEN ${plan.anonymous("i")} OR i % 20 = 7 THEN NULL
                   ELSE ${pick(FIRST_NAMES, "i * 7")} || ' ' || ${pick(LAST_NAMES, "i / 7")} END,
              ${plan.anonymous("i")}, i % 200 = 13, CASE WHEN i % 200 = 13 THEN 'Seeded as restricted' END,
              CASE WHEN i % 5 = 4 THEN NULL ELSE ${pick(COUNTRIES, "i * 3")} END,
              NOT ${plan.anonymous("i")} AND i % 10 BETWEEN 3 AND 5, NOT ${plan.anonymous("i")} AND i % 50 = 1,
              pg_temp.seed_signed_up(i), pg_temp.seed_signed_up(i), pg_temp.seed_signed_up(i),
              pg_temp.seed_signed_up(i)
                + (to_timestamp(${plan.nowMs} / 1000.0) - pg_temp.seed_signed_up(i)) * ((i * 7919) % 1000 / 1000.0)
       FROM generate_series($2::bigint, $3::bigint) i`,
      params,
    );
    await client.query(
      `INSERT INTO contact_channels (tenancy_id, user_id, id, type, value, is_verified, is_primary, used_for_auth, created_at)
       SELECT $1, pg_temp.seed_uuid('user', i), pg_temp.seed_uuid('channel', i), 'email',
              lower(${pick(FIRST_NAMES, "i * 7")} || '.' || ${pick(LAST_NAMES, "i / 7")}) || '.' || i
                || '@' || ${pick(EMAIL_DOMAINS, "i * 13")},
              i % 10 < 7, true, true, pg_temp.seed_signed_up(i)
       FROM generate_series($2::bigint, $3::bigint) i WHERE NOT ${plan.anonymous("i")}`,
      params,
    );
    await client.query(
      `INSERT INTO password_credentials (tenancy_id, user_id, password_hash)
       SELECT $1, pg_temp.seed_uuid('user', i), $4
       FROM generate_series($2::bigint, $3::bigint) i WHERE NOT ${plan.anonymous("i")} AND i % 5 < 3`,
      [...params, passwordHash],
    );
    await client.query(
      `INSERT INTO oauth_accounts (tenancy_id, id, user_id, provider_config_id, provider_account_id, email, created_at)
       SELECT $1, pg_temp.seed_uuid('oauth', i), pg_temp.seed_uuid('user', i),
              ${pick(["github", "google", "microsoft"], "i")}, '${plan.runId}-' || i, NULL, pg_temp.seed_signed_up(i)
       FROM generate_series($2::bigint, $3::bigint) i WHERE NOT ${plan.anonymous("i")} AND i % 5 = 3`,
      params,
    );
    await client.query(
      `INSERT INTO sessions (tenancy_id, id, user_id, refresh_token_hash, created_at, last_used_at)
       SELECT $1, pg_temp.seed_uuid('session', i), pg_temp.seed_uuid('user', i),
              sha256(convert_to('${plan.runId}:session:' || i, 'UTF8')), pg_temp.seed_signed_up(i), u.last_active_at
       FROM generate_series($2::bigint, $3::bigint) i
       JOIN users u ON u.tenancy_id = $1 AND u.id = pg_temp.seed_uuid('user', i)
       WHERE NOT ${plan.anonymous("i")}`,
      params,
    );
    await client.query(
      `INSERT INTO teams (tenancy_id, id, display_name, created_at)
       SELECT $1, pg_temp.seed_uuid('team', i / 2 % ${plan.teams}),
              ${pick(TEAM_WORDS, `i / 2 % ${plan.teams}`)} || ' ' || ${pick(TEAM_NOUNS, `i / 20 % ${plan.teams}`)}
                || ' ' || (i / 2 % ${plan.teams}),
              pg_temp.seed_signed_up(i)
       FROM generate_series($2::bigint, $3::bigint) i
       WHERE i % 2 = 0 AND i / 2 < ${Math.floor(plan.startIndex / 2) + plan.teams}
       ON CONFLICT DO NOTHING`,
      params,
    );
    await client.query(
      `INSERT INTO team_members (tenancy_id, team_id, user_id, is_selected, created_at)
       SELECT $1, pg_temp.seed_uuid('team', i / 2 % ${plan.teams}), pg_temp.seed_uuid('user', i), true,
              pg_temp.seed_signed_up(i)
       FROM generate_series($2::bigint, $3::bigint) i WHERE ${plan.teamMember("i")}`,
      params,
    );
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  }
}

export const seedPasswordHash = () => hash(SEED_PASSWORD);
