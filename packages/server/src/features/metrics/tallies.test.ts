import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tenancyIdOf } from "../../../test/db-sync.ts";
import {
  api,
  clientHeaders,
  createTestProject,
  patchEnvironmentConfig,
  serverHeaders,
  signUpWithPassword,
  startTestServer,
  type TestProject,
  type TestServer,
  uniqueEmail,
} from "../../../test/server.ts";
import { credentialCounts, mergeTallies, userCounts } from "./user-metrics.ts";

/**
 * The user and credential tallies the metrics read must always equal a count of the rows themselves,
 * whatever wrote them: the API, a bulk statement, a cascade, concurrent writers.
 */
let test: TestServer;
beforeAll(async () => {
  test = await startTestServer();
});
afterAll(() => test?.close());

const sql = <T extends Record<string, unknown>>(text: string, values: unknown[] = []) =>
  test.server.app.database.pool.query<T>(text, values).then((result) => result.rows);

/** The counts by reading every row: what the tallies must agree with. */
async function countedFromRows(tenancyId: string) {
  const [users] = await sql<Record<string, number>>(
    `SELECT count(*) FILTER (WHERE NOT is_anonymous)::int AS regular,
            count(*) FILTER (WHERE is_anonymous)::int AS anonymous,
            count(*) FILTER (WHERE otp_auth_enabled)::int AS otp,
            count(*) FILTER (WHERE passkey_auth_enabled)::int AS passkey,
            count(*) FILTER (WHERE NOT is_anonymous AND EXISTS (
              SELECT 1 FROM contact_channels c WHERE c.tenancy_id = u.tenancy_id AND c.user_id = u.id
                 AND c.type = 'email' AND c.is_verified))::int AS verified
       FROM users u WHERE tenancy_id = $1`,
    [tenancyId],
  );
  const credentials = await sql<{ method: string; count: number }>(
    `SELECT 'password' AS method, count(*)::int AS count FROM password_credentials WHERE tenancy_id = $1
     HAVING count(*) > 0
     UNION ALL
     SELECT lower(provider_config_id), count(*)::int FROM oauth_accounts WHERE tenancy_id = $1 GROUP BY 1`,
    [tenancyId],
  );
  const signUps = await sql<{ day: string; is_anonymous: boolean; users: number }>(
    `SELECT to_char((signed_up_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day, is_anonymous, count(*)::int AS users
       FROM users WHERE tenancy_id = $1 GROUP BY 1, 2 ORDER BY 1, 2`,
    [tenancyId],
  );
  return { users, credentials: sortByMethod(credentials), signUps };
}

async function tallied(tenancyId: string) {
  const db = test.server.app.database.db;
  const signUps = await sql<{ day: string; is_anonymous: boolean; users: number }>(
    `SELECT to_char(signed_up_on, 'YYYY-MM-DD') AS day, is_anonymous, sum(users)::int AS users
       FROM user_tallies WHERE tenancy_id = $1 GROUP BY 1, 2 HAVING sum(users) <> 0 ORDER BY 1, 2`,
    [tenancyId],
  );
  return {
    users: { ...(await userCounts(db, tenancyId)) },
    credentials: sortByMethod(await credentialCounts(db, tenancyId)),
    signUps,
  };
}

const sortByMethod = (rows: { method: string; count: number }[]) =>
  [...rows].sort((a, b) => a.method.localeCompare(b.method));

async function expectTalliesToMatch(tenancyId: string) {
  expect(await tallied(tenancyId)).toEqual(await countedFromRows(tenancyId));
}

async function createUser(project: TestProject, body: Record<string, unknown>): Promise<string> {
  const res = await api(test.url, "/api/v1/users", { method: "POST", headers: serverHeaders(project), body });
  expect(res.status).toBe(201);
  return res.body.id;
}

describe("user and credential tallies", () => {
  let project: TestProject;
  let tenancyId: string;
  beforeAll(async () => {
    project = await createTestProject(test, "tallies");
    await patchEnvironmentConfig(test, project, { "auth.otp.allowSignIn": true });
    tenancyId = await tenancyIdOf(test, project);
  });

  it("follow users, channels and credentials written through the API", async () => {
    const verified = await createUser(project, {
      primary_email: uniqueEmail("tally"),
      primary_email_verified: true,
      otp_auth_enabled: true,
      password: "correct horse battery staple",
    });
    const unverified = await createUser(project, { primary_email: uniqueEmail("tally") });
    await signUpWithPassword(test, project);
    const anonymous = await api(test.url, "/api/v1/auth/anonymous/sign-up", {
      method: "POST",
      headers: clientHeaders(project),
    });
    expect(anonymous.status).toBe(200);
    await expectTalliesToMatch(tenancyId);
    expect((await tallied(tenancyId)).users).toMatchObject({ regular: 3, anonymous: 1, verified: 1, otp: 1 });

    // A second verified e-mail changes nothing; losing both makes the user unverified.
    const channel = await api(test.url, "/api/v1/contact-channels", {
      method: "POST",
      headers: serverHeaders(project),
      body: {
        user_id: verified,
        type: "email",
        value: uniqueEmail("second"),
        used_for_auth: false,
        is_verified: true,
      },
    });
    expect(channel.status).toBe(201);
    await expectTalliesToMatch(tenancyId);
    await sql(`UPDATE contact_channels SET is_verified = false WHERE tenancy_id = $1 AND user_id = $2`, [
      tenancyId,
      verified,
    ]);
    await expectTalliesToMatch(tenancyId);
    expect((await tallied(tenancyId)).users.verified).toBe(0);

    // Verifying another user's channel, flags switched, a password removed, a user deleted.
    await sql(`UPDATE contact_channels SET is_verified = true WHERE tenancy_id = $1 AND user_id = $2`, [
      tenancyId,
      unverified,
    ]);
    const update = await api(test.url, `/api/v1/users/${unverified}`, {
      method: "PATCH",
      headers: serverHeaders(project),
      body: { otp_auth_enabled: true },
    });
    expect(update.status).toBe(200);
    // Passkeys are registered, not set through the API (not supported here): set as registration would.
    await sql(`UPDATE users SET passkey_auth_enabled = true WHERE tenancy_id = $1 AND id = $2`, [
      tenancyId,
      unverified,
    ]);
    await sql(`DELETE FROM password_credentials WHERE tenancy_id = $1 AND user_id = $2`, [
      tenancyId,
      verified,
    ]);
    await expectTalliesToMatch(tenancyId);
    const removed = await api(test.url, `/api/v1/users/${verified}`, {
      method: "DELETE",
      headers: serverHeaders(project),
    });
    expect(removed.status).toBe(200);
    await expectTalliesToMatch(tenancyId);
    expect((await tallied(tenancyId)).users).toMatchObject({ regular: 2, verified: 1, otp: 1, passkey: 1 });
  });

  it("follow bulk statements, anonymous users turning regular, OAuth accounts and sign-up days", async () => {
    await sql(
      `INSERT INTO users (tenancy_id, id, is_anonymous, otp_auth_enabled, signed_up_at)
       SELECT $1, gen_random_uuid(), i % 3 = 0, i % 4 = 0, now() - i * interval '1 day'
         FROM generate_series(1, 40) i`,
      [tenancyId],
    );
    await sql(
      `INSERT INTO contact_channels (tenancy_id, user_id, type, value, is_verified, is_primary, used_for_auth)
       SELECT tenancy_id, id, 'email', id || '@bulk.example', row_number() OVER (ORDER BY id) % 2 = 0, true, false
         FROM users WHERE tenancy_id = $1 AND NOT EXISTS (
           SELECT 1 FROM contact_channels c WHERE c.tenancy_id = users.tenancy_id AND c.user_id = users.id)`,
      [tenancyId],
    );
    await sql(
      `INSERT INTO oauth_accounts (tenancy_id, user_id, provider_config_id, provider_account_id)
       SELECT tenancy_id, id, CASE WHEN otp_auth_enabled THEN 'GitHub' ELSE 'google' END, id::text
         FROM users WHERE tenancy_id = $1`,
      [tenancyId],
    );
    await expectTalliesToMatch(tenancyId);
    await sql(`UPDATE users SET is_anonymous = false WHERE tenancy_id = $1 AND is_anonymous`, [tenancyId]);
    await sql(`UPDATE users SET signed_up_at = signed_up_at - interval '3 days' WHERE tenancy_id = $1`, [
      tenancyId,
    ]);
    await sql(
      `UPDATE oauth_accounts SET provider_config_id = 'gitlab' WHERE tenancy_id = $1 AND provider_config_id = 'google'`,
      [tenancyId],
    );
    await sql(`DELETE FROM users WHERE tenancy_id = $1 AND otp_auth_enabled AND NOT passkey_auth_enabled`, [
      tenancyId,
    ]);
    await expectTalliesToMatch(tenancyId);
  });

  it("stay exact under concurrent sign-ups and channel changes", async () => {
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        createUser(project, { primary_email: uniqueEmail("race"), primary_email_verified: i % 2 === 0 }),
      ),
    );
    await expectTalliesToMatch(tenancyId);
  });

  it("merge into one row per group, keeping every count; a deleted tenancy's rows go", async () => {
    const before = await tallied(tenancyId);
    const rows = async () =>
      Number(
        (
          await sql<{ n: number }>(`SELECT count(*)::int AS n FROM user_tallies WHERE tenancy_id = $1`, [
            tenancyId,
          ])
        )[0]!.n,
      );
    const groups = await sql(
      `SELECT DISTINCT signed_up_on, is_anonymous FROM user_tallies WHERE tenancy_id = $1`,
      [tenancyId],
    );
    expect(await rows()).toBeGreaterThan(groups.length);
    await mergeTallies(test.server.app.database.db);
    expect(await rows()).toBeLessThanOrEqual(groups.length);
    expect(await tallied(tenancyId)).toEqual(before);
    await expectTalliesToMatch(tenancyId);

    const doomed = await createTestProject(test, "doomed");
    const doomedTenancy = await tenancyIdOf(test, doomed);
    await createUser(doomed, {
      primary_email: uniqueEmail("doomed"),
      password: "correct horse battery staple",
    });
    await sql(`DELETE FROM projects WHERE id = $1`, [doomed.projectId]);
    await mergeTallies(test.server.app.database.db);
    expect(await sql(`SELECT 1 FROM user_tallies WHERE tenancy_id = $1`, [doomedTenancy])).toEqual([]);
    expect(await sql(`SELECT 1 FROM credential_tallies WHERE tenancy_id = $1`, [doomedTenancy])).toEqual([]);
  });

  it("keep tenancies apart", async () => {
    const other = await createTestProject(test, "tallies elsewhere");
    const otherTenancy = await tenancyIdOf(test, other);
    await createUser(other, { primary_email: uniqueEmail("other"), primary_email_verified: true });
    expect((await tallied(otherTenancy)).users).toMatchObject({ regular: 1, verified: 1 });
    await expectTalliesToMatch(tenancyId);
    await expectTalliesToMatch(otherTenancy);
  });
});
