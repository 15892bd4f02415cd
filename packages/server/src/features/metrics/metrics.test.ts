import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { enableAnalytics, pageView, postEvents, queryAnalytics } from "../../../test/analytics.ts";
import { awayFromWindowEnd, DAY_MS } from "../../../test/clock.ts";
import {
  adminHeaders,
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

let test: TestServer;

beforeAll(async () => {
  // The series are per UTC day, read back as "today": no midnight may fall between writing and reading.
  await awayFromWindowEnd(DAY_MS, 90_000);
  test = await startTestServer();
}, 150_000);
afterAll(() => test?.close());

const today = () => new Date().toISOString().slice(0, 10);

async function analyticsProject(name: string): Promise<TestProject> {
  const project = await createTestProject(test, name);
  await enableAnalytics(test, project);
  return project;
}

function metrics(project: TestProject, query = "", headers = adminHeaders(project)) {
  return api(test.url, `/api/v1/internal/metrics${query}`, { headers });
}

/** A user with a verified e-mail that signs in with one-time codes, created from the server. */
async function createOtpUser(project: TestProject): Promise<string> {
  await patchEnvironmentConfig(test, project, { "auth.otp.allowSignIn": true });
  const res = await api(test.url, "/api/v1/users", {
    method: "POST",
    headers: serverHeaders(project),
    body: { primary_email: uniqueEmail("otp"), primary_email_verified: true, otp_auth_enabled: true },
  });
  expect(res.status).toBe(201);
  return res.body.id;
}

/** Opens a session for a user as a request from `country` would (the CDN's geo header). */
async function signInFrom(project: TestProject, userId: string, country?: string) {
  const res = await api(test.url, "/api/v1/auth/sessions", {
    method: "POST",
    headers: { ...serverHeaders(project), ...(country ? { "x-vercel-ip-country": country } : {}) },
    body: { user_id: userId },
  });
  expect(res.status).toBe(200);
  return res.body as { access_token: string; refresh_token: string };
}

/** Server events are written behind the response: waits until the analytics store holds them. */
async function waitForEvents(project: TestProject, eventType: string, count: number) {
  await expect
    .poll(
      async () => {
        const res = await queryAnalytics(
          test,
          project,
          "SELECT count() AS n FROM events WHERE event_type = {t:String}",
          { params: { t: eventType } },
        );
        return Number(res.body.result?.[0]?.n);
      },
      { timeout: 10_000 },
    )
    .toBe(count);
}

const series = (points: { date: string; activity: number }[]) =>
  new Map(points.map((p) => [p.date, p.activity]));

describe("GET /internal/metrics", () => {
  it("answers every section for an empty project, with 31-point zero series (scenario 20)", async () => {
    const project = await analyticsProject("empty");
    const res = await metrics(project);
    expect(res.status).toBe(200);
    const body = res.body;
    for (const points of [
      body.daily_users,
      body.daily_active_users,
      body.auth_overview.daily_active_users_split.total,
      body.auth_overview.daily_active_teams_split.reactivated,
      body.payments_overview.daily_subscriptions,
      body.email_overview.daily_emails,
      body.analytics_overview.daily_page_views,
      body.analytics_overview.daily_visitors,
    ]) {
      expect(points).toHaveLength(31);
      expect(points.every((p: { activity: number }) => p.activity === 0)).toBe(true);
      expect(points.at(-1).date).toBe(today());
    }
    expect(body.analytics_overview.daily_revenue).toHaveLength(31);
    expect(body).toMatchObject({
      total_users: 0,
      users_by_country: {},
      recently_registered: [],
      recently_active: [],
      login_methods: [],
      auth_overview: { verified_users: 0, unverified_users: 0, anonymous_users: 0, total_teams: 0, mau: 0 },
      payments_overview: { subscriptions_by_status: {}, revenue_cents: 0, checkout_conversion_rate: 0 },
      email_overview: { emails_by_status: {}, total_emails: 0, recent_emails: [] },
      analytics_overview: {
        top_region: null,
        top_referrers: [],
        online_live: 0,
        visitors: 0,
        total_replays: 0,
      },
    });
  });

  it("is for admins only", async () => {
    const project = await analyticsProject("access");
    const server = await metrics(project, "", serverHeaders(project));
    expect(server.status).toBe(401);
    expect(server.body.code).toBe("INSUFFICIENT_ACCESS_TYPE");
    const client = await metrics(project, "", clientHeaders(project));
    expect(client.body.code).toBe("INSUFFICIENT_ACCESS_TYPE");
    const bad = await metrics(project, "?include_anonymous=maybe");
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe("SCHEMA_ERROR");
    const unknown = await metrics(project, "?extra=1");
    expect(unknown.status).toBe(400);
  });

  it("counts users, countries, activity and sign-in methods; deleted users are not active (scenario 21)", async () => {
    const project = await analyticsProject("ten users");
    const users = [];
    for (let i = 0; i < 10; i++) users.push(await createOtpUser(project));
    const [antarctic, deleted, mover, swiss, ...others] = users as [
      string,
      string,
      string,
      string,
      ...string[],
    ];
    await signInFrom(project, antarctic, "AQ");
    await signInFrom(project, deleted);
    await signInFrom(project, mover, "CH");
    await new Promise((resolve) => setTimeout(resolve, 20));
    await signInFrom(project, mover, "AQ");
    await signInFrom(project, swiss, "CH");
    for (const user of others) await signInFrom(project, user);
    const removed = await api(test.url, `/api/v1/users/${deleted}`, {
      method: "DELETE",
      headers: serverHeaders(project),
    });
    expect(removed.status).toBe(200);
    await waitForEvents(project, "$token-refresh", 11);
    await waitForEvents(project, "$user-deleted", 1);

    const res = await metrics(project);
    expect(res.status).toBe(200);
    const body = res.body;
    expect(body.users_by_country).toEqual({ AQ: 2, CH: 1 });
    expect(body.total_users).toBe(9);
    expect(body.auth_overview).toMatchObject({
      verified_users: 9,
      unverified_users: 0,
      anonymous_users: 0,
      total_users_filtered: 9,
      // Upstream counts the deleted user as active (10); Latchkey does not.
      mau: 9,
    });
    expect(series(body.daily_active_users).get(today())).toBe(9);
    expect(series(body.daily_users).get(today())).toBe(9);
    expect(body.login_methods).toEqual([{ method: "otp", count: 9 }]);
    const split = body.auth_overview.daily_active_users_split;
    expect(series(split.total).get(today())).toBe(9);
    expect(series(split.new).get(today())).toBe(9);
    expect(series(split.retained).get(today())).toBe(0);
    expect(body.analytics_overview.top_region).toEqual({ country_code: null, region_code: null, count: 6 });
    expect(body.analytics_overview.online_live).toBe(9);
    expect(body.recently_registered).toHaveLength(9);
    expect(body.recently_registered.map((u: { id: string }) => u.id)).not.toContain(deleted);
    expect(body.recently_registered[0].id).toBe(users[9]);
    expect(body.recently_active).toHaveLength(5);
    expect(body.recently_active[0]).toHaveProperty("last_active_at_millis");
  });

  it("counts team activity by the signed-in users' real teams", async () => {
    const project = await analyticsProject("teams");
    const [alice, bob, carol] = [
      await createOtpUser(project),
      await createOtpUser(project),
      await createOtpUser(project),
    ];
    const team = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: serverHeaders(project),
      body: { display_name: "Team A", creator_user_id: alice },
    });
    expect(team.status).toBe(201);
    await api(test.url, `/api/v1/team-memberships/${team.body.id}/${bob}`, {
      method: "POST",
      headers: serverHeaders(project),
      body: {},
    });
    for (const user of [alice, bob]) {
      const select = await api(test.url, `/api/v1/users/${user}`, {
        method: "PATCH",
        headers: serverHeaders(project),
        body: { selected_team_id: team.body.id },
      });
      expect(select.status).toBe(200);
    }
    for (const user of [alice, bob, carol]) await signInFrom(project, user);
    await waitForEvents(project, "$token-refresh", 3);

    const body = (await metrics(project)).body;
    expect(body.auth_overview.total_teams).toBe(1);
    const teams = body.auth_overview.daily_active_teams_split;
    expect(series(teams.total).get(today())).toBe(1);
    expect(series(teams.new).get(today())).toBe(1);
  });

  it("leaves anonymous users out unless asked (scenario 22)", async () => {
    const project = await analyticsProject("anonymous");
    const regular = await createOtpUser(project);
    await signInFrom(project, regular, "US");
    for (let i = 0; i < 3; i++) {
      const anonymous = await api(test.url, "/api/v1/auth/anonymous/sign-up", {
        method: "POST",
        headers: { ...clientHeaders(project), "x-vercel-ip-country": "FR" },
      });
      expect(anonymous.status).toBe(200);
    }
    await waitForEvents(project, "$token-refresh", 4);

    const body = (await metrics(project)).body;
    expect(body.total_users).toBe(1);
    expect(series(body.daily_users).get(today())).toBe(1);
    expect(series(body.daily_active_users).get(today())).toBe(1);
    expect(body.users_by_country).toEqual({ US: 1 });
    expect(body.recently_registered.map((u: { id: string }) => u.id)).toEqual([regular]);
    expect(body.recently_active.map((u: { id: string }) => u.id)).toEqual([regular]);
    expect(body.auth_overview).toMatchObject({
      anonymous_users: 3,
      verified_users: 1,
      total_users_filtered: 1,
    });

    const all = (await metrics(project, "?include_anonymous=true")).body;
    expect(all.total_users).toBe(4);
    expect(series(all.daily_active_users).get(today())).toBe(4);
    expect(all.users_by_country).toEqual({ US: 1, FR: 3 });
    expect(all.recently_registered).toHaveLength(4);
    // verified + unverified + anonymous is every user, whatever the filter.
    expect(
      all.auth_overview.verified_users +
        all.auth_overview.unverified_users +
        all.auth_overview.anonymous_users,
    ).toBe(4);
  });

  it("counts each sign-in method once per user that has it", async () => {
    const project = await analyticsProject("methods");
    await createOtpUser(project);
    await signUpWithPassword(test, project);
    const body = (await metrics(project)).body;
    expect(body.login_methods).toEqual([
      { method: "otp", count: 1 },
      { method: "password", count: 1 },
    ]);
    expect(body.login_methods.reduce((sum: number, m: { count: number }) => sum + m.count, 0)).toBe(2);
  });

  it("ranks referrers by visitors and counts who is online (scenario 23)", async () => {
    const project = await analyticsProject("referrers");
    const regular = await signInFrom(project, await createOtpUser(project));
    const anonymous = await api(test.url, "/api/v1/auth/anonymous/sign-up", {
      method: "POST",
      headers: clientHeaders(project),
    });
    const r1 = "https://news.example.org/";
    const r2 = "https://search.example.net/";
    expect(
      (
        await postEvents(test, project, regular.access_token, [
          pageView("/", { referrer: r1 }),
          pageView("/b", { referrer: r1 }),
        ])
      ).status,
    ).toBe(200);
    expect(
      (await postEvents(test, project, anonymous.body.access_token, [pageView("/", { referrer: r2 })]))
        .status,
    ).toBe(200);
    await waitForEvents(project, "$page-view", 3);
    await waitForEvents(project, "$token-refresh", 2);

    const body = (await metrics(project)).body;
    expect(body.analytics_overview.top_referrers).toEqual([{ referrer: r1, visitors: 1 }]);
    expect(body.analytics_overview.online_live).toBe(1);
    expect(body.analytics_overview.visitors).toBe(1);
    expect(series(body.analytics_overview.daily_page_views).get(today())).toBe(2);

    const all = (await metrics(project, "?include_anonymous=true")).body;
    expect(all.analytics_overview.top_referrers).toEqual(
      expect.arrayContaining([
        { referrer: r1, visitors: 1 },
        { referrer: r2, visitors: 1 },
      ]),
    );
    expect(all.analytics_overview.online_live).toBe(2);
    expect(all.analytics_overview.visitors).toBe(2);
  });

  it("serves stored figures until a user is deleted, then recomputes", async () => {
    const project = await analyticsProject("cache");
    const keep = await createOtpUser(project);
    const drop = await createOtpUser(project);
    const first = await metrics(project);
    expect(first.headers.get("x-latchkey-cache")).toBe("miss");
    expect(first.body.total_users).toBe(2);
    const second = await metrics(project);
    expect(second.headers.get("x-latchkey-cache")).toBe("hit");
    expect(second.body).toEqual(first.body);

    await api(test.url, `/api/v1/users/${drop}`, { method: "DELETE", headers: serverHeaders(project) });
    const after = await metrics(project);
    expect(after.headers.get("x-latchkey-cache")).toBe("miss");
    expect(after.body.total_users).toBe(1);
    expect(after.body.recently_registered.map((u: { id: string }) => u.id)).toEqual([keep]);
  });

  it("never shows another project's users or activity", async () => {
    const a = await analyticsProject("isolation A");
    const b = await analyticsProject("isolation B");
    const user = await createOtpUser(b);
    await signInFrom(b, user, "JP");
    await waitForEvents(b, "$token-refresh", 1);
    const body = (await metrics(a)).body;
    expect(body.total_users).toBe(0);
    expect(body.users_by_country).toEqual({});
    expect(body.auth_overview.mau).toBe(0);
    expect(body.recently_registered).toEqual([]);
    expect((await metrics(b)).body.users_by_country).toEqual({ JP: 1 });
  });
});
