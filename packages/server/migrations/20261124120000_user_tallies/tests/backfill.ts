import type pg from "pg";

/**
 * Users, channels and credentials stored before the tallies existed are counted by the migration:
 * the tallies and the verified-e-mail flag agree with the rows.
 */
export async function preMigration(client: pg.Client): Promise<{ tenancyId: string }> {
  const projectId = crypto.randomUUID();
  await client.query("INSERT INTO projects (id, display_name) VALUES ($1, 'Before tallies')", [projectId]);
  const { rows } = await client.query(
    "INSERT INTO tenancies (project_id, branch_id) VALUES ($1, 'main') RETURNING id",
    [projectId],
  );
  const tenancyId: string = rows[0].id;
  // 12 users over 4 days: every third anonymous, every fourth with OTP; odd ones get a verified e-mail.
  await client.query(
    `INSERT INTO users (tenancy_id, id, is_anonymous, otp_auth_enabled, signed_up_at)
     SELECT $1, gen_random_uuid(), i % 3 = 0, i % 4 = 0, timestamptz '2026-05-01 12:00Z' + (i % 4) * interval '1 day'
       FROM generate_series(1, 12) i`,
    [tenancyId],
  );
  await client.query(
    `INSERT INTO contact_channels (tenancy_id, user_id, type, value, is_verified, is_primary, used_for_auth)
     SELECT tenancy_id, id, 'email', id || '@before.example', row_number() OVER (ORDER BY id) % 2 = 1, true, false
       FROM users WHERE tenancy_id = $1`,
    [tenancyId],
  );
  await client.query(
    `INSERT INTO password_credentials (tenancy_id, user_id, password_hash)
     SELECT tenancy_id, id, 'hash' FROM users WHERE tenancy_id = $1 AND NOT is_anonymous`,
    [tenancyId],
  );
  await client.query(
    `INSERT INTO oauth_accounts (tenancy_id, user_id, provider_config_id, provider_account_id)
     SELECT tenancy_id, id, 'GitHub', id::text FROM users WHERE tenancy_id = $1 AND otp_auth_enabled`,
    [tenancyId],
  );
  return { tenancyId };
}

export async function postMigration(client: pg.Client, pre: { tenancyId: string }): Promise<void> {
  const expected = await client.query(
    `SELECT (signed_up_at AT TIME ZONE 'UTC')::date AS day, is_anonymous, count(*)::int AS users,
            count(*) FILTER (WHERE otp_auth_enabled)::int AS otp,
            count(*) FILTER (WHERE NOT is_anonymous AND EXISTS (
              SELECT 1 FROM contact_channels c WHERE c.tenancy_id = u.tenancy_id AND c.user_id = u.id AND c.is_verified
            ))::int AS verified
       FROM users u WHERE tenancy_id = $1 GROUP BY 1, 2 ORDER BY 1, 2`,
    [pre.tenancyId],
  );
  const tallied = await client.query(
    `SELECT signed_up_on AS day, is_anonymous, sum(users)::int AS users, sum(otp)::int AS otp,
            sum(verified)::int AS verified
       FROM user_tallies WHERE tenancy_id = $1 GROUP BY 1, 2 ORDER BY 1, 2`,
    [pre.tenancyId],
  );
  if (JSON.stringify(tallied.rows) !== JSON.stringify(expected.rows)) {
    throw new Error(`user tallies ${JSON.stringify(tallied.rows)} ≠ rows ${JSON.stringify(expected.rows)}`);
  }
  const credentials = await client.query(
    `SELECT method, sum(credentials)::int AS n FROM credential_tallies WHERE tenancy_id = $1 GROUP BY 1 ORDER BY 1`,
    [pre.tenancyId],
  );
  const want = JSON.stringify([
    { method: "github", n: 3 },
    { method: "password", n: 8 },
  ]);
  if (JSON.stringify(credentials.rows) !== want) {
    throw new Error(`credential tallies ${JSON.stringify(credentials.rows)}, expected ${want}`);
  }
  const flags = await client.query(
    `SELECT count(*)::int AS wrong FROM users u WHERE tenancy_id = $1 AND has_verified_email <> EXISTS (
       SELECT 1 FROM contact_channels c WHERE c.tenancy_id = u.tenancy_id AND c.user_id = u.id AND c.is_verified)`,
    [pre.tenancyId],
  );
  if (flags.rows[0].wrong !== 0) throw new Error("has_verified_email disagrees with the channels");
}
