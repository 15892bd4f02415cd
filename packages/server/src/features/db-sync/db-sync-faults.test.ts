import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../../../test/database.ts";
import {
  configureTargets,
  expectInSync,
  silentPostgres,
  sourceUsers,
  targetQuery,
  targetUsers,
  tenancyIdOf,
} from "../../../test/db-sync.ts";
import {
  adminHeaders,
  api,
  createTestProject,
  startTestServer,
  type TestServer,
} from "../../../test/server.ts";
import { freePort, startKillableServer } from "../../../test/server-process.ts";
import { startEmbeddedPostgres } from "../../db/embedded-postgres.ts";
import { PAGE_SIZE } from "./engine.ts";

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

const tempDir = (prefix: string) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  chmodSync(dir, 0o755);
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

const insertUsers = (url: string, tenancyId: string, count: number, prefix: string) =>
  targetQuery(
    url,
    `INSERT INTO users (tenancy_id, display_name) SELECT $1, $2 || g FROM generate_series(1, $3::int) g`,
    [tenancyId, prefix, count],
  );

describe("the sequencer", () => {
  it("stamps changes with a pool of one connection: it never waits on the pool under its row locks", async () => {
    // It used to look up each changed tenancy's external databases through the pool inside its
    // transaction; with every other connection taken by requests waiting on its locks, it waited for good.
    const test = await startTestServer({ databasePoolSize: 1, databasePoolWaitMs: 2_000 });
    cleanups.push(() => test.close());
    const project = await createTestProject(test, "One connection");
    const tenancyId = await tenancyIdOf(test, project);
    await insertUsers(test.database.url, tenancyId, 3, "solo ");
    const stamped = async () =>
      (
        await targetQuery<{ n: number }>(
          test.database.url,
          "SELECT count(*)::int AS n FROM users WHERE tenancy_id = $1 AND sync_seq IS NOT NULL AND NOT sync_dirty",
          [tenancyId],
        )
      )[0]!.n;
    await expect.poll(stamped, { timeout: 15_000, interval: 200 }).toBe(3);
  });
});

describe("the sync engine", () => {
  it("fills and follows targets on a pool of two connections: a run holds one, a bulk page reads the other", async () => {
    // A run used to take three (its lock, the page source, the bulk rows) and look the target's config
    // up on a fourth while holding them; and four runs at once each held one and waited for another.
    const test = await startTestServer({ databasePoolSize: 2, databasePoolWaitMs: 3_000 });
    cleanups.push(() => test.close());
    const synced: { tenancyId: string; url: string }[] = [];
    for (const name of ["Two connections", "Two connections too"]) {
      const project = await createTestProject(test, name);
      const tenancyId = await tenancyIdOf(test, project);
      const target = await createTestDatabase({ empty: true });
      cleanups.push(() => target.drop());
      await insertUsers(test.database.url, tenancyId, 40, "backfill ");
      await configureTargets(test, project, { small: target.url });
      synced.push({ tenancyId, url: target.url });
    }
    for (const { tenancyId, url } of synced) await expectInSync(test, tenancyId, url);
    for (const { tenancyId } of synced) await insertUsers(test.database.url, tenancyId, 5, "later ");
    for (const { tenancyId, url } of synced) await expectInSync(test, tenancyId, url);
    const { rows } = await test.server.app.database.pool.query(
      "SELECT last_error FROM sync_target_states WHERE last_error IS NOT NULL",
    );
    expect(rows).toEqual([]);
  });
});

describe("a target that goes down", () => {
  it("shows the backlog and the error in status, then drains when the target is back", async () => {
    const test = await startTestServer();
    cleanups.push(() => test.close());
    const project = await createTestProject(test, "Outage");
    const tenancyId = await tenancyIdOf(test, project);
    const dataDir = tempDir("latchkey-target-pg-");
    const port = await freePort();
    let targetServer = await startEmbeddedPostgres({ dataDir, port });
    cleanups.push(() => targetServer.stop());
    const targetUrl = targetServer.connectionString;
    await configureTargets(test, project, { customer: targetUrl });
    await insertUsers(test.database.url, tenancyId, 50, "before ");
    await expectInSync(test, tenancyId, targetUrl);

    await targetServer.stop();
    await insertUsers(test.database.url, tenancyId, 70, "during ");
    const status = async () => {
      const res = await api(test.url, "/api/v1/internal/external-db-sync/status", {
        headers: adminHeaders(project),
      });
      expect(res.status).toBe(200);
      return res.body;
    };
    await expect
      .poll(async () => (await status()).sync_engine.external_databases[0].consecutive_failures, {
        timeout: 15_000,
      })
      .toBeGreaterThan(0);
    const down = await status();
    expect(down.sync_engine.external_databases[0]).toMatchObject({ id: "customer", status: "error" });
    expect(down.sync_engine.external_databases[0].last_error).toBeTruthy();
    expect(down.sync_engine.external_databases[0].connection.redacted).not.toContain(
      new URL(targetUrl).password,
    );

    targetServer = await startEmbeddedPostgres({ dataDir, port });
    await expectInSync(test, tenancyId, targetUrl, 90_000);
    const up = await status();
    const users = up.sync_engine.external_databases[0].mapping_status.find(
      (m: { mapping_id: string }) => m.mapping_id === "users",
    );
    expect(users.backlog_rows).toBe("0");
  }, 150_000);

  it("answers its status even when a target accepts the login and then never answers", async () => {
    const test = await startTestServer();
    const silent = await silentPostgres();
    try {
      const project = await createTestProject(test, "Silent target");
      await configureTargets(test, project, { silent: silent.url });
      const res = await api(test.url, "/api/v1/internal/external-db-sync/status", {
        headers: adminHeaders(project),
      });
      expect(res.status).toBe(200);
      const [silentEntry] = res.body.sync_engine.external_databases;
      expect(silentEntry.id).toBe("silent");
      expect(silentEntry.mapping_status.length).toBeGreaterThan(0);
      for (const mapping of silentEntry.mapping_status) expect(mapping.last_synced_sequence_id).toBeNull();
    } finally {
      // The silent target goes first: its sockets closing ends the sync runs waiting on it.
      silent.close();
      await test.close();
    }
  });
});

describe("a worker killed mid-batch", () => {
  it("leaves the target equal to the source after a restart", async () => {
    const killable = await startKillableServer("Kill sync");
    cleanups.push(() => killable.cleanup());
    const { project, database } = killable;
    let server = killable.server;
    const target = await createTestDatabase({ empty: true });
    cleanups.push(() => target.drop());
    const asServer = { url: server.url } as TestServer;
    const tenancyId = (
      await targetQuery<{ id: string }>(database.url, "SELECT id FROM tenancies WHERE project_id = $1", [
        project.projectId,
      ])
    )[0]!.id;
    // More than two pages: the kill lands between pages however late the first sync starts.
    const rows = 2 * PAGE_SIZE + 10_000;
    await insertUsers(database.url, tenancyId, rows, "bulk ");
    await configureTargets(asServer, project, { main: target.url });

    // Kill the worker once it has applied some pages but not all.
    await expect
      .poll(
        async () =>
          (await targetQuery<{ n: string }>(target.url, "SELECT count(*)::text AS n FROM users"))[0]?.n ??
          "0",
        {
          timeout: 60_000,
          interval: 20,
        },
      )
      .not.toBe("0");
    await server.kill("SIGKILL");
    const partial = Number(
      (await targetQuery<{ n: string }>(target.url, "SELECT count(*)::text AS n FROM users"))[0]!.n,
    );
    expect(partial).toBeLessThan(rows);

    server = await killable.restart();
    const expected = await targetQuery(
      database.url,
      `SELECT u.id, u.display_name, NULL::text AS primary_email FROM users u WHERE u.tenancy_id = $1 ORDER BY u.id`,
      [tenancyId],
    );
    // Rows are only added here, so a full count means a full copy; then the copy is compared once.
    const count = async () =>
      Number((await targetQuery<{ n: string }>(target.url, "SELECT count(*)::text AS n FROM users"))[0]!.n);
    await expect.poll(count, { timeout: 120_000, interval: 250 }).toBe(expected.length);
    expect(await targetUsers(target.url)).toEqual(expected);
  }, 240_000);
});

describe("pausing", () => {
  it("holds delivery while paused, delivers on resume; a row created and deleted meanwhile never appears", async () => {
    const test = await startTestServer();
    cleanups.push(() => test.close());
    const project = await createTestProject(test, "Paused");
    const tenancyId = await tenancyIdOf(test, project);
    const target = await createTestDatabase({ empty: true });
    cleanups.push(() => target.drop());
    await configureTargets(test, project, { main: target.url });
    await insertUsers(test.database.url, tenancyId, 3, "first ");
    await expectInSync(test, tenancyId, target.url);

    const fusebox = (body: object) =>
      api(test.url, "/api/v1/internal/external-db-sync/project-fusebox", {
        method: "POST",
        headers: adminHeaders(project),
        body,
      });
    expect((await fusebox({ sequencer_enabled: true, delivery_enabled: false })).body).toEqual({
      ok: true,
      sequencer_enabled: true,
      delivery_enabled: false,
    });
    await insertUsers(test.database.url, tenancyId, 2, "paused ");
    const ephemeral = (
      await targetQuery<{ id: string }>(
        test.database.url,
        "INSERT INTO users (tenancy_id, display_name) VALUES ($1, 'ephemeral') RETURNING id",
        [tenancyId],
      )
    )[0]!.id;
    await targetQuery(test.database.url, "DELETE FROM users WHERE tenancy_id = $1 AND id = $2", [
      tenancyId,
      ephemeral,
    ]);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await targetUsers(target.url)).map((u) => u.display_name).sort()).toEqual([
      "first 1",
      "first 2",
      "first 3",
    ]);

    await fusebox({ sequencer_enabled: true, delivery_enabled: true });
    await expectInSync(test, tenancyId, target.url);
    expect(await targetUsers(target.url, [ephemeral])).toEqual([]);
    expect(await targetUsers(target.url)).toEqual(await sourceUsers(test, tenancyId));
  }, 60_000);

  it("delivers every project's held changes when delivery is switched back on for all of them", async () => {
    const test = await startTestServer();
    cleanups.push(() => test.close());
    const internal = { projectId: "internal", keys: test.internalKeys };
    const globalFusebox = (body: object) =>
      api(test.url, "/api/v1/internal/external-db-sync/fusebox", {
        method: "POST",
        headers: adminHeaders(internal),
        body,
      });
    const synced: { tenancyId: string; url: string }[] = [];
    for (const name of ["First held", "Second held"]) {
      const project = await createTestProject(test, name);
      const target = await createTestDatabase({ empty: true });
      cleanups.push(() => target.drop());
      await configureTargets(test, project, { main: target.url });
      synced.push({ tenancyId: await tenancyIdOf(test, project), url: target.url });
    }
    await globalFusebox({ sequencer_enabled: true, poller_enabled: false });
    for (const { tenancyId } of synced) await insertUsers(test.database.url, tenancyId, 3, "held ");
    // The held runs end without delivering: nothing but switching delivery on again queues them.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(await targetUsers(synced[0]!.url)).toEqual([]);
    await globalFusebox({ sequencer_enabled: true, poller_enabled: true });
    for (const { tenancyId, url } of synced) await expectInSync(test, tenancyId, url);
  }, 60_000);

  it("keeps the global switches to the internal project", async () => {
    const test = await startTestServer();
    cleanups.push(() => test.close());
    const project = await createTestProject(test, "Not internal");
    const refused = await api(test.url, "/api/v1/internal/external-db-sync/fusebox", {
      headers: adminHeaders(project),
    });
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe("EXPECTED_INTERNAL_PROJECT");
    const internal = { projectId: "internal", keys: test.internalKeys };
    const read = await api(test.url, "/api/v1/internal/external-db-sync/fusebox", {
      headers: adminHeaders(internal),
    });
    expect(read.body).toEqual({ ok: true, sequencer_enabled: true, poller_enabled: true });
    const off = await api(test.url, "/api/v1/internal/external-db-sync/fusebox", {
      method: "POST",
      headers: adminHeaders(internal),
      body: { sequencer_enabled: false, poller_enabled: true },
    });
    expect(off.body).toEqual({ ok: true, sequencer_enabled: false, poller_enabled: true });
    await api(test.url, "/api/v1/internal/external-db-sync/fusebox", {
      method: "POST",
      headers: adminHeaders(internal),
      body: { sequencer_enabled: true, poller_enabled: true },
    });
  });

  it("answers the every-tenancy status (scope=all) to the internal project only", async () => {
    const test = await startTestServer();
    cleanups.push(() => test.close());
    const project = await createTestProject(test, "Scoped");
    await configureTargets(test, project, { main: "postgresql://u:p@127.0.0.1:1/none" });
    const status = (headers: Record<string, string>, scope: string) =>
      api(test.url, `/api/v1/internal/external-db-sync/status?scope=${scope}`, { headers });
    const refused = await status(adminHeaders(project), "all");
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe("EXPECTED_INTERNAL_PROJECT");
    expect((await status(adminHeaders(project), "everything")).body.code).toBe("SCHEMA_ERROR");
    const own = await status(adminHeaders(project), "tenancy");
    expect(own.body.global).toBeNull();
    expect(own.body.sync_engine.external_databases).toHaveLength(1);
    // The process's pipeline counters move with every tenancy's writes: the operator's, not a project's.
    expect(own.body).not.toHaveProperty("telemetry");

    const internal = { projectId: "internal", keys: test.internalKeys };
    const all = await status(adminHeaders(internal), "all");
    expect(all.status).toBe(200);
    expect(all.body.global).toMatchObject({ tenancies_total: "2", tenancies_with_db_sync: "1" });
    expect(Number(all.body.global.sequencer.users.total)).toBeGreaterThanOrEqual(0);
    expect(all.body.sequencer).toEqual(all.body.global.sequencer);
    expect(all.body.sync_engine.external_databases).toEqual([]);
    expect(all.body.telemetry.sequencer).toEqual(expect.objectContaining({ passes: expect.any(Number) }));
  });

  it("never returns a connection string's password from config reads", async () => {
    const test = await startTestServer();
    cleanups.push(() => test.close());
    const project = await createTestProject(test, "Secrets");
    await configureTargets(test, project, {
      main: "postgresql://owner:hunter2-secret@db.example.com:5432/app?sslkey=x",
    });
    for (const path of ["/internal/config", "/internal/config/override/environment"]) {
      const res = await api(test.url, `/api/v1${path}`, { headers: adminHeaders(project) });
      expect(res.status).toBe(200);
      expect(res.text).not.toContain("hunter2-secret");
      expect(res.text).not.toContain("sslkey");
      expect(res.text).toContain("db.example.com");
    }
  });
});
