import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../../test/child-process.ts";
import { startClickHouseHttp } from "../../../test/clickhouse-http.ts";
import { createTestDatabase, type TestDatabase } from "../../../test/database.ts";
import {
  configureTargets,
  expectInSync,
  sourceUsers,
  targetQuery,
  targetUsers,
  tenancyIdOf,
} from "../../../test/db-sync.ts";
import {
  adminHeaders,
  api,
  createTestProject,
  patchEnvironmentConfig,
  serverHeaders,
  startTestServer,
  type TestProject,
  type TestServer,
  uniqueEmail,
} from "../../../test/server.ts";
import { ClickHouseEngine } from "../../analytics-store/clickhouse-engine.ts";
import { runSync } from "./engine.ts";

let test: TestServer;
let project: TestProject;
let tenancyId: string;
let target: TestDatabase;
const databases: TestDatabase[] = [];

beforeAll(async () => {
  test = await startTestServer();
  project = await createTestProject(test, "Synced");
  tenancyId = await tenancyIdOf(test, project);
  target = await createTestDatabase({ empty: true });
  databases.push(target);
  await configureTargets(test, project, { main: target.url });
});
afterAll(async () => {
  await test?.close();
  for (const database of databases) await database.drop();
});

const createUser = async (body: Record<string, unknown>, target_ = project) => {
  const res = await api(test.url, "/api/v1/users", { method: "POST", headers: serverHeaders(target_), body });
  expect(res.status).toBe(201);
  return res.body as { id: string };
};
const updateUser = (id: string, body: Record<string, unknown>) =>
  api(test.url, `/api/v1/users/${id}`, { method: "PATCH", headers: serverHeaders(project), body });
const deleteUser = (id: string) =>
  api(test.url, `/api/v1/users/${id}`, { method: "DELETE", headers: serverHeaders(project) });

describe("basics", () => {
  it("creates the target tables and syncs inserts, updates and deletes", async () => {
    const email = uniqueEmail("sync");
    const user = await createUser({ primary_email: email, display_name: "First" });
    await expect
      .poll(() => targetUsers(target.url, [user.id]), { timeout: 10_000, interval: 50 })
      .toEqual([{ id: user.id, display_name: "First", primary_email: email }]);
    const cursor = async () =>
      Number(
        (
          await targetQuery<{ c: string }>(
            target.url,
            "SELECT last_synced_sequence_id AS c FROM _latchkey_sync_cursors WHERE tenancy_id = $1 AND mapping_name = 'users'",
            [tenancyId],
          )
        )[0]?.c,
      );
    const before = await cursor();
    expect(before).toBeGreaterThan(0);

    await updateUser(user.id, { display_name: 'Renamed 🚀 "quoted" — 日本語' });
    await expect
      .poll(async () => (await targetUsers(target.url, [user.id]))[0]?.display_name, {
        timeout: 10_000,
        interval: 50,
      })
      .toBe('Renamed 🚀 "quoted" — 日本語');
    expect(await cursor()).toBeGreaterThan(before);

    expect((await deleteUser(user.id)).status).toBe(200);
    await expect
      .poll(() => targetUsers(target.url, [user.id]), { timeout: 10_000, interval: 50 })
      .toEqual([]);
  });

  it("shows only the primary e-mail, and syncs contact channels", async () => {
    const email = uniqueEmail("primary");
    const user = await createUser({ primary_email: email });
    const secondary = await api(test.url, "/api/v1/contact-channels", {
      method: "POST",
      headers: serverHeaders(project),
      body: { user_id: user.id, type: "email", value: uniqueEmail("secondary"), used_for_auth: false },
    });
    expect(secondary.status).toBe(201);
    await expectInSync(test, tenancyId, target.url);
    const channels = async () =>
      targetQuery<{ value: string; is_primary: boolean }>(
        target.url,
        "SELECT value, is_primary FROM contact_channels WHERE user_id = $1 ORDER BY is_primary DESC",
        [user.id],
      );
    await expect.poll(channels, { timeout: 10_000, interval: 50 }).toEqual([
      { value: email, is_primary: true },
      { value: secondary.body.value, is_primary: false },
    ]);
  });

  it("keeps the last of quick successive updates", async () => {
    const user = await createUser({ display_name: "v0" });
    for (let i = 1; i <= 5; i++) await updateUser(user.id, { display_name: `v${i}` });
    const [synced] = await expectInSync(test, tenancyId, target.url);
    expect((await targetUsers(target.url, [user.id]))[0]!.display_name).toBe("v5");
    expect(synced).toBeDefined();
  });

  it("captures raw SQL writes, pages past one batch and honours deletes among them", async () => {
    const pool = test.server.app.database.pool;
    await pool.query(
      `INSERT INTO users (tenancy_id, display_name) SELECT $1, 'bulk ' || g FROM generate_series(1, 1500) g`,
      [tenancyId],
    );
    await pool.query(
      `DELETE FROM users WHERE tenancy_id = $1 AND id IN (SELECT id FROM users WHERE tenancy_id = $1 AND display_name LIKE 'bulk %' ORDER BY display_name LIMIT 10)`,
      [tenancyId],
    );
    await pool.query(
      `UPDATE users SET display_name = display_name || ' (edited)' WHERE tenancy_id = $1 AND display_name = 'bulk 777'`,
      [tenancyId],
    );
    const expected = await sourceUsers(test, tenancyId);
    // The whole content is awaited, not the row count: the count is right as soon as the deletes are
    // in, while the later edit may still be on its way (CI once compared at exactly that moment).
    await expect.poll(() => targetUsers(target.url), { timeout: 30_000, interval: 100 }).toEqual(expected);
  });

  it("never exports uncommitted changes, and does not wait for them", async () => {
    const user = await createUser({ display_name: "Before" });
    await expectInSync(test, tenancyId, target.url);
    const writer = await test.server.app.database.pool.connect();
    try {
      await writer.query("BEGIN");
      await writer.query("UPDATE users SET display_name = 'Uncommitted' WHERE tenancy_id = $1 AND id = $2", [
        tenancyId,
        user.id,
      ]);
      const marker = await createUser({ display_name: "Marker" });
      await expect
        .poll(() => targetUsers(target.url, [marker.id]), { timeout: 10_000, interval: 50 })
        .toHaveLength(1);
      expect((await targetUsers(target.url, [user.id]))[0]!.display_name).toBe("Before");
      await writer.query("COMMIT");
    } finally {
      writer.release();
    }
    await expect
      .poll(async () => (await targetUsers(target.url, [user.id]))[0]?.display_name, {
        timeout: 10_000,
        interval: 50,
      })
      .toBe("Uncommitted");
  });

  it("gives the target's readers SELECT and nothing else", async () => {
    await createUser({ display_name: "Readable" });
    await expectInSync(test, tenancyId, target.url);
    const client = await import("pg").then(
      ({ default: pg }) => new pg.Client({ connectionString: target.url }),
    );
    await client.connect();
    try {
      await client.query("CREATE ROLE latchkey_reader_probe NOLOGIN").catch(() => {});
      await client.query("SET ROLE latchkey_reader_probe");
      expect((await client.query("SELECT count(*) FROM users")).rows[0].count).not.toBe("0");
      await expect(client.query("DELETE FROM users")).rejects.toThrow(/permission denied/);
      await expect(client.query("UPDATE users SET display_name = 'x'")).rejects.toThrow(/permission denied/);
    } finally {
      await client.query("RESET ROLE").catch(() => {});
      await client.end();
    }
  });
});

describe("targets", () => {
  it("isolates a broken target: the good one still syncs", async () => {
    const other = await createTestProject(test, "Two targets");
    const good = await createTestDatabase({ empty: true });
    databases.push(good);
    await configureTargets(test, other, {
      good: good.url,
      bad: "postgresql://nobody:nothing@127.0.0.1:1/none",
    });
    const user = await createUser({ display_name: "Reaches good" }, other);
    await expect
      .poll(() => targetUsers(good.url, [user.id]), { timeout: 10_000, interval: 50 })
      .toHaveLength(1);
  });

  it("keeps each project's rows in its own targets", async () => {
    const other = await createTestProject(test, "Isolated");
    const otherTarget = await createTestDatabase({ empty: true });
    databases.push(otherTarget);
    await configureTargets(test, other, { main: otherTarget.url });
    const mine = await createUser({ display_name: "Mine" });
    const theirs = await createUser({ display_name: "Theirs" }, other);
    await expect
      .poll(() => targetUsers(otherTarget.url, [theirs.id]), { timeout: 10_000, interval: 50 })
      .toHaveLength(1);
    await expectInSync(test, tenancyId, target.url);
    expect(await targetUsers(target.url, [theirs.id])).toEqual([]);
    expect(await targetUsers(otherTarget.url, [mine.id])).toEqual([]);
  });

  it("fills a newly configured target with everything, and recreates a dropped table", async () => {
    const fresh = await createTestDatabase({ empty: true });
    databases.push(fresh);
    await configureTargets(test, project, { main: target.url, fresh: fresh.url });
    const expected = await sourceUsers(test, tenancyId);
    await expect.poll(() => targetUsers(fresh.url), { timeout: 30_000, interval: 100 }).toEqual(expected);

    await targetQuery(fresh.url, "DROP TABLE users");
    await createUser({ display_name: "After the drop" });
    const now = await sourceUsers(test, tenancyId);
    await expect.poll(() => targetUsers(fresh.url), { timeout: 30_000, interval: 100 }).toEqual(now);
  });
});

describe("races", () => {
  it("converges to the source under concurrent writers and concurrent sync runs", async () => {
    const pool = test.server.app.database.pool;
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO users (tenancy_id, display_name) SELECT $1, 'race ' || g FROM generate_series(1, 20) g RETURNING id`,
      [tenancyId],
    );
    const ids = rows.map((row) => row.id);
    const writers = Array.from({ length: 6 }, async (_, writer) => {
      for (let step = 0; step < 40; step++) {
        const id = ids[(writer * 7 + step) % ids.length]!;
        if (step % 13 === 12) {
          await pool.query("DELETE FROM users WHERE tenancy_id = $1 AND id = $2", [tenancyId, id]);
        } else {
          await pool.query("UPDATE users SET display_name = $3 WHERE tenancy_id = $1 AND id = $2", [
            tenancyId,
            id,
            `w${writer} s${step}`,
          ]);
        }
      }
    });
    // Extra sync runs of the same target, racing the worker's own.
    const syncs = Array.from({ length: 4 }, async () => {
      for (let i = 0; i < 10; i++) await runSync(test.server.app, { tenancyId, databaseId: "main" });
    });
    await Promise.all([...writers, ...syncs]);
    const expected = await sourceUsers(test, tenancyId);
    await expect.poll(() => targetUsers(target.url), { timeout: 30_000, interval: 100 }).toEqual(expected);
  });
});

describe("latchkey sync status", () => {
  it("prints each target's mappings with cursor and backlog", async () => {
    const backlog = async () => {
      const status = await api(test.url, "/api/v1/internal/external-db-sync/status", {
        headers: adminHeaders(project),
      });
      const main = status.body.sync_engine.external_databases.find((d: { id: string }) => d.id === "main");
      return main.mapping_status.find((m: { mapping_id: string }) => m.mapping_id === "users").backlog_rows;
    };
    await expect.poll(backlog, { timeout: 20_000, interval: 100 }).toBe("0");
    const result = await runCli(["sync", "status"], { DATABASE_URL: test.database.url });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    const line = result.stdout
      .split("\n")
      .find((l) => l.includes(project.projectId) && l.includes(" users "));
    expect(line).toMatch(/main\s+ok\s+users\s+\d+\s+0\s+0/);
  });
});

describe("ClickHouse targets", () => {
  it("keeps the newest version of every row and drops deleted ones", async () => {
    const clickhouse = await startClickHouseHttp();
    const engine = new ClickHouseEngine(clickhouse.url);
    try {
      const other = await createTestProject(test, "ClickHouse target");
      const otherTenancy = await tenancyIdOf(test, other);
      await patchEnvironmentConfig(test, other, {
        "dbSync.externalDatabases": { warehouse: { type: "clickhouse", connectionString: clickhouse.url } },
      });
      const pool = test.server.app.database.pool;
      const { rows } = await pool.query<{ id: string }>(
        `INSERT INTO users (tenancy_id, display_name, client_metadata)
         SELECT $1, 'ch ' || g, jsonb_build_object('n', g) FROM generate_series(1, 300) g RETURNING id`,
        [otherTenancy],
      );
      await pool.query("UPDATE users SET display_name = 'renamed' WHERE tenancy_id = $1 AND id = $2", [
        otherTenancy,
        rows[0]!.id,
      ]);
      await pool.query("DELETE FROM users WHERE tenancy_id = $1 AND id = ANY($2::uuid[])", [
        otherTenancy,
        rows.slice(1, 11).map((r) => r.id),
      ]);
      const expected = (await sourceUsers(test, otherTenancy)).map(({ id, display_name }) => ({
        id,
        display_name,
      }));
      const synced = async () =>
        (
          await engine
            .query("SELECT toString(id) AS id, display_name FROM users FINAL ORDER BY id")
            .catch(() => ({ text: "" }))
        ).text
          .split("\n")
          .filter(Boolean)
          .map((line) => JSON.parse(line));
      await expect.poll(synced, { timeout: 20_000, interval: 200 }).toEqual(expected);
      const metadata = await engine.query("SELECT client_metadata FROM users FINAL WHERE id = {id:UUID}", {
        params: { id: rows[20]!.id },
      });
      expect(JSON.parse(JSON.parse(metadata.text).client_metadata)).toEqual({ n: 21 });
    } finally {
      await engine.close();
      await clickhouse.close();
    }
  });

  it("never shows what another service at the target's URL answered", async () => {
    // A project admin points a target at a service on the server's own network.
    const internal = createServer((_request, response) => {
      response.writeHead(500, { "content-type": "text/plain" });
      response.end("INTERNAL-ONLY secret of another service");
    });
    await new Promise<void>((resolve) => internal.listen(0, "127.0.0.1", resolve));
    try {
      const prying = await createTestProject(test, "Prying target");
      const url = `http://127.0.0.1:${(internal.address() as AddressInfo).port}/`;
      await patchEnvironmentConfig(test, prying, {
        "dbSync.externalDatabases": { internal: { type: "clickhouse", connectionString: url } },
      });
      await createUser({ display_name: "to sync" }, prying);
      const lastError = async () =>
        (await api(test.url, "/api/v1/internal/external-db-sync/status", { headers: adminHeaders(prying) }))
          .body.sync_engine.external_databases[0].last_error;
      await expect.poll(lastError, { timeout: 20_000, interval: 200 }).toBeTruthy();
      expect(await lastError()).toBe("The server at this URL did not answer as ClickHouse does.");
    } finally {
      internal.close();
    }
  });
});

describe("teams, memberships, permissions and sessions", () => {
  const rowsOf = (table: string, where = "", values: unknown[] = []) =>
    targetQuery(target.url, `SELECT * FROM ${table} ${where}`, values);
  const call = (method: string, path: string, body?: unknown) =>
    api(test.url, `/api/v1${path}`, { method, headers: serverHeaders(project), body });

  it("follows a team, its members and their permissions through their lifecycle", async () => {
    const user = await createUser({ display_name: "Member" });
    const team = await call("POST", "/teams", { display_name: "Synced team" });
    expect(team.status).toBe(201);
    await expect
      .poll(() => rowsOf("teams", "WHERE id = $1", [team.body.id]), { timeout: 10_000, interval: 50 })
      .toMatchObject([{ display_name: "Synced team" }]);
    await call("PATCH", `/teams/${team.body.id}`, { display_name: "Renamed team" });
    await expect
      .poll(async () => (await rowsOf("teams", "WHERE id = $1", [team.body.id]))[0]?.display_name, {
        timeout: 10_000,
        interval: 50,
      })
      .toBe("Renamed team");

    expect((await call("POST", `/team-memberships/${team.body.id}/${user.id}`, {})).status).toBe(201);
    await expect
      .poll(
        () => rowsOf("team_member_profiles", "WHERE team_id = $1 AND user_id = $2", [team.body.id, user.id]),
        {
          timeout: 10_000,
          interval: 50,
        },
      )
      .toHaveLength(1);
    expect(
      (await call("POST", `/team-permissions/${team.body.id}/${user.id}/$read_members`, {})).status,
    ).toBe(201);
    const permission = () =>
      rowsOf("team_permissions", "WHERE team_id = $1 AND user_id = $2 AND permission_id = '$read_members'", [
        team.body.id,
        user.id,
      ]);
    await expect.poll(permission, { timeout: 10_000, interval: 50 }).toHaveLength(1);
    expect((await call("DELETE", `/team-permissions/${team.body.id}/${user.id}/$read_members`)).status).toBe(
      200,
    );
    await expect.poll(permission, { timeout: 10_000, interval: 50 }).toHaveLength(0);

    // Deleting the user cascades to its membership; deleting the team removes the team.
    await call("POST", `/team-permissions/${team.body.id}/${user.id}/$read_members`, {});
    await expect.poll(permission, { timeout: 10_000, interval: 50 }).toHaveLength(1);
    expect((await deleteUser(user.id)).status).toBe(200);
    await expect
      .poll(() => rowsOf("team_member_profiles", "WHERE user_id = $1", [user.id]), {
        timeout: 10_000,
        interval: 50,
      })
      .toHaveLength(0);
    await expect.poll(permission, { timeout: 10_000, interval: 50 }).toHaveLength(0);
    expect((await call("DELETE", `/teams/${team.body.id}`)).status).toBe(200);
    await expect
      .poll(() => rowsOf("teams", "WHERE id = $1", [team.body.id]), { timeout: 10_000, interval: 50 })
      .toHaveLength(0);
  });

  it("exports sessions without their tokens, and removes revoked ones", async () => {
    const email = uniqueEmail("session");
    const user = await createUser({
      primary_email: email,
      password: "a strong password 1",
      primary_email_auth_enabled: true,
    });
    const signIn = await api(test.url, "/api/v1/auth/password/sign-in", {
      method: "POST",
      headers: { "x-stack-project-id": project.projectId, "x-stack-access-type": "client" },
      body: { email, password: "a strong password 1" },
    });
    expect(signIn.status).toBe(200);
    const sessions = () => rowsOf("refresh_tokens", "WHERE user_id = $1", [user.id]);
    await expect.poll(sessions, { timeout: 10_000, interval: 50 }).toHaveLength(1);
    const [session] = await sessions();
    expect(session).toMatchObject({ user_id: user.id, is_impersonation: false });
    expect(Object.keys(session!).some((column) => column.includes("hash") || column.includes("token"))).toBe(
      false,
    );
    const signOut = await api(test.url, "/api/v1/auth/sessions/current", {
      method: "DELETE",
      headers: {
        "x-stack-project-id": project.projectId,
        "x-stack-access-type": "client",
        "x-stack-access-token": signIn.body.access_token,
      },
    });
    expect(signOut.status).toBe(200);
    await expect.poll(sessions, { timeout: 10_000, interval: 50 }).toHaveLength(0);
  });
});
