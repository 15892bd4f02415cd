import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { enableAnalytics, queryAnalytics } from "../../../test/analytics.ts";
import { runCli } from "../../../test/child-process.ts";
import {
  adminHeaders,
  api,
  createTestProject,
  serverHeaders,
  startTestServer,
  type TestProject,
  type TestServer,
} from "../../../test/server.ts";
import { type SeedSummary, seedProject } from "./index.ts";

let test: TestServer;
let project: TestProject;
let other: TestProject;
let summary: SeedSummary;

beforeAll(async () => {
  test = await startTestServer();
  project = await createTestProject(test, "Seeded");
  other = await createTestProject(test, "Untouched");
  await enableAnalytics(test, project);
  summary = await seedProject({
    databaseUrl: test.database.url,
    engine: test.server.app.analytics.engine,
    projectId: project.projectId,
    users: 2_000,
    events: 20_000,
    write: () => {},
  });
}, 60_000);
afterAll(() => test?.close());

async function listAll(target: TestProject, query = "") {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const res = await api(test.url, `/api/v1/users?limit=500${cursor ? `&cursor=${cursor}` : ""}${query}`, {
      headers: serverHeaders(target),
    });
    expect(res.status).toBe(200);
    ids.push(...res.body.items.map((u: { id: string }) => u.id));
    cursor = res.body.pagination.next_cursor;
  } while (cursor);
  return ids;
}

describe("latchkey seed", () => {
  it("creates users with e-mails, credentials, sessions and teams", async () => {
    expect(summary.rows.users).toBe(2_000);
    // Anonymous users (every 33rd) have no e-mail and no session.
    const anonymous = Math.ceil(2_000 / 33);
    expect(summary.rows.contact_channels).toBe(2_000 - anonymous);
    expect(summary.rows.sessions).toBe(2_000 - anonymous);
    expect(summary.rows.teams).toBe(100);
    expect(summary.rows.password_credentials).toBeGreaterThan(1_000);
    expect(summary.rows.oauth_accounts).toBeGreaterThan(300);

    // The API lists every regular user that is not restricted, page by page.
    const listed = await listAll(project);
    const { rows } = await test.server.app.database.pool.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM users WHERE tenancy_id = $1 AND NOT is_anonymous AND NOT restricted_by_admin`,
      [summary.tenancyId],
    );
    expect(listed).toHaveLength(Number(rows[0]!.n));
    expect(new Set(listed).size).toBe(listed.length);
    expect(await listAll(other)).toEqual([]);
  });

  it("makes users findable by a fragment of their e-mail", async () => {
    const { rows } = await test.server.app.database.pool.query<{ user_id: string; value: string }>(
      `SELECT user_id, value FROM contact_channels WHERE tenancy_id = $1 ORDER BY value LIMIT 1 OFFSET 50`,
      [summary.tenancyId],
    );
    const fragment = rows[0]!.value.split("@")[0]!;
    const found = await api(test.url, `/api/v1/users?query=${encodeURIComponent(fragment)}`, {
      headers: serverHeaders(project),
    });
    expect(found.body.items.map((u: { id: string }) => u.id)).toContain(rows[0]!.user_id);
  });

  it("writes events of the seeded users, with countries on token refreshes", async () => {
    const counts = await queryAnalytics(
      test,
      project,
      `SELECT count() AS events, countIf(event_type = '$token-refresh') AS refreshes,
              countIf(event_type = '$token-refresh' AND data.ip_info.country_code IS NOT NULL) AS with_country,
              uniqExact(user_id) AS users, min(event_at) >= now() - INTERVAL 61 DAY AS recent,
              countIf(event_at >= now() - INTERVAL 1 HOUR) AS last_hour
         FROM events`,
    );
    expect(counts.status).toBe(200);
    const row = counts.body.result[0];
    expect(Number(row.events)).toBe(20_000);
    expect(Number(row.refreshes)).toBe(3_000);
    expect(Number(row.with_country)).toBeGreaterThan(2_000);
    expect(Number(row.last_hour)).toBeGreaterThan(0);
    expect(row.recent).toBeTruthy();

    // Event user ids are the PostgreSQL users' ids, and countries agree between the stores.
    const sample = await queryAnalytics(
      test,
      project,
      `SELECT user_id, toString(data.ip_info.country_code) AS country FROM events
        WHERE event_type = '$token-refresh' AND data.ip_info.country_code IS NOT NULL LIMIT 20`,
    );
    for (const event of sample.body.result) {
      const user = await api(test.url, `/api/v1/users/${event.user_id}`, { headers: serverHeaders(project) });
      expect(user.status).toBe(200);
      expect(user.body.country_code).toBe(event.country);
    }
    const theirs = await queryAnalytics(test, other, "SELECT count() AS n FROM events");
    expect(Number(theirs.body.result[0].n)).toBe(0);
  });

  it("feeds the dashboard metrics", async () => {
    const metrics = await api(test.url, "/api/v1/internal/metrics", { headers: adminHeaders(project) });
    expect(metrics.status).toBe(200);
    expect(metrics.body.total_users).toBeGreaterThan(1_900);
    expect(metrics.body.auth_overview.mau).toBeGreaterThan(0);
    expect(Object.keys(metrics.body.users_by_country).length).toBeGreaterThan(5);
    expect(metrics.body.analytics_overview.top_referrers.length).toBeGreaterThan(3);
    expect(metrics.body.auth_overview.total_teams).toBe(100);
    expect(metrics.body.recently_registered).toHaveLength(100);
  });

  it("answers a 200,000-user page and repeated metrics calls (scenario 24)", async () => {
    const page = await api(test.url, "/api/v1/users?limit=200000", { headers: serverHeaders(project) });
    expect(page.status).toBe(200);
    expect(page.body.items).toHaveLength((await listAll(project)).length);
    expect(page.body.pagination.next_cursor).toBeNull();
    const { rows } = await test.server.app.database.pool.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM users WHERE tenancy_id = $1 AND NOT is_anonymous`,
      [summary.tenancyId],
    );
    for (let i = 0; i < 3; i++) {
      const metrics = await api(test.url, "/api/v1/internal/metrics", { headers: adminHeaders(project) });
      expect(metrics.status).toBe(200);
      // Restricted users count here though the list leaves them out.
      expect(metrics.body.total_users).toBe(Number(rows[0]!.n));
    }
  });

  it("adds users after the existing ones when run again", async () => {
    const again = await seedProject({
      databaseUrl: test.database.url,
      engine: test.server.app.analytics.engine,
      projectId: project.projectId,
      users: 500,
      events: 0,
      write: () => {},
    });
    expect(again.rows.users).toBe(2_500);
    expect(again.runId).not.toBe(summary.runId);
  });

  it("refuses an unknown project and bad numbers from the command line", async () => {
    const run = (...args: string[]) =>
      runCli(["seed", ...args], { DATABASE_URL: test.database.url, CLICKHOUSE_URL: "" });
    const unknown = await run(
      "--project",
      "00000000-0000-4000-8000-000000000000",
      "--users",
      "10",
      "--events",
      "0",
    );
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('No project "00000000-0000-4000-8000-000000000000"');
    const bad = await run("--project", project.projectId, "--users", "many");
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("--users");
  });
});
