import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../../test/server.ts";
import { activityMetrics } from "./activity-metrics.ts";
import type { MetricsScope } from "./user-metrics.ts";
import { metricsWindow } from "./window.ts";

/**
 * The activity figures over several days, from events written straight into the analytics store
 * with chosen times (the HTTP tests can only make events "now").
 */
let test: TestServer;

beforeAll(async () => {
  test = await startTestServer();
});
afterAll(() => test?.close());

const DAY_MS = 24 * 60 * 60 * 1000;
const NOW_MS = Date.parse("2026-06-15T12:00:00Z");
const day = (daysAgo: number) => new Date(NOW_MS - daysAgo * DAY_MS).toISOString().slice(0, 10);
const at = (daysAgo: number) =>
  new Date(NOW_MS - daysAgo * DAY_MS).toISOString().replace("T", " ").slice(0, 23);

interface Geo {
  country?: string;
  region?: string;
}

function refresh(userId: string, daysAgo: number, geo: Geo = {}, teamId?: string, anonymous = false) {
  const ipInfo = {
    ip: "10.0.0.1",
    is_trusted: true,
    country_code: geo.country ?? null,
    region_code: geo.region ?? null,
  };
  return {
    event_type: "$token-refresh",
    event_at: at(daysAgo),
    user_id: userId,
    team_id: teamId ?? null,
    is_anonymous: anonymous,
    data: { refresh_token_id: randomUUID(), is_anonymous: anonymous, ip_info: ipInfo },
  };
}

const pageView = (userId: string, daysAgo: number, referrer: string) => ({
  event_type: "$page-view",
  event_at: at(daysAgo),
  user_id: userId,
  data: { path: "/", referrer },
});
const click = (userId: string, daysAgo: number) => ({
  event_type: "$click",
  event_at: at(daysAgo),
  user_id: userId,
  data: { tag_name: "button" },
});
const deleted = (userId: string, daysAgo: number) => ({
  event_type: "$user-deleted",
  event_at: at(daysAgo),
  user_id: userId,
  data: {},
});

describe("activity metrics over several days", () => {
  const projectId = randomUUID();
  const [returning, newcomer, removed, anonymous] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
  const [team, removedTeam] = [randomUUID(), randomUUID()];

  beforeAll(async () => {
    const events = [
      refresh(returning, 40, { country: "DE" }), // before the window: first activity, no team
      refresh(returning, 2, { country: "US", region: "CA" }, team),
      refresh(returning, 1, {}, team),
      pageView(returning, 2, ""),
      pageView(returning, 1, "https://news.example.org"),
      pageView(returning, 1, "https://news.example.org"),
      pageView(returning, 40, "https://old.example.org"), // outside the window
      refresh(newcomer, 1, { country: "FR", region: "IDF" }, team),
      {
        ...refresh(newcomer, 0),
        event_at: new Date(NOW_MS - 60_000).toISOString().replace("T", " ").slice(0, 23),
      },
      click(newcomer, 1),
      refresh(removed, 1, { country: "JP" }, removedTeam),
      pageView(removed, 1, "https://hidden.example.org"),
      deleted(removed, 0),
      refresh(anonymous, 1, { country: "BR" }, undefined, true),
    ];
    const rows = events.map((event) =>
      JSON.stringify({ ...event, project_id: projectId, branch_id: "main" }),
    );
    await test.server.app.analytics.engine.insertJsonRows("analytics_internal.events", rows.join("\n"));
  });

  const compute = (includeAnonymous: boolean) =>
    activityMetrics(
      test.server.app.analytics.engine,
      { projectId, branchId: "main", includeAnonymous } as MetricsScope,
      metricsWindow(NOW_MS),
    );
  const point = (series: { date: string; activity: number }[], daysAgo: number) =>
    series.find((entry) => entry.date === day(daysAgo))?.activity;

  it("splits active users into new, retained and reactivated, without deleted or anonymous ones", async () => {
    const figures = await compute(false);
    expect([2, 1, 0].map((d) => point(figures.dailyActiveUsers, d))).toEqual([1, 2, 1]);
    const split = figures.activeUsersSplit;
    expect([2, 1, 0].map((d) => point(split.new, d))).toEqual([0, 1, 0]);
    expect([2, 1, 0].map((d) => point(split.retained, d))).toEqual([0, 1, 1]);
    expect([2, 1, 0].map((d) => point(split.reactivated, d))).toEqual([1, 0, 0]);
    expect(figures.monthlyActiveUsers).toBe(2);
    expect(figures.onlineLive).toBe(1);
    expect(figures.usersByCountry).toEqual({ US: 1, FR: 1 });
    // Two users refreshed without geo in the window (codes may be null), one each from (US, CA) and (FR, IDF).
    expect(figures.topRegion).toEqual({ country_code: null, region_code: null, count: 2 });
  });

  it("counts teams by the activity of their shown members", async () => {
    const split = (await compute(false)).activeTeamsSplit;
    expect([2, 1, 0].map((d) => point(split.total, d))).toEqual([1, 1, 0]);
    expect([2, 1].map((d) => point(split.new, d))).toEqual([1, 0]);
    expect([2, 1].map((d) => point(split.retained, d))).toEqual([0, 1]);
  });

  it("counts page views, clicks, visitors and referrers inside the window, visits of users deleted since included", async () => {
    const figures = await compute(false);
    // Traffic as it happened: the removed user's page view stays, unlike their activity.
    expect([2, 1].map((d) => point(figures.dailyPageViews, d))).toEqual([1, 3]);
    expect([2, 1].map((d) => point(figures.dailyClicks, d))).toEqual([0, 1]);
    expect([2, 1].map((d) => point(figures.dailyVisitors, d))).toEqual([1, 2]);
    expect(figures.visitors).toBe(2);
    expect(figures.topReferrers).toEqual([
      { referrer: "(direct)", visitors: 1 },
      { referrer: "https://hidden.example.org", visitors: 1 },
      { referrer: "https://news.example.org", visitors: 1 },
    ]);
  });

  it("adds anonymous users when asked, never deleted ones", async () => {
    const figures = await compute(true);
    expect(point(figures.dailyActiveUsers, 1)).toBe(3);
    expect(figures.usersByCountry).toEqual({ US: 1, FR: 1, BR: 1 });
    expect(figures.monthlyActiveUsers).toBe(3);
    expect(figures.topRegion).toEqual({ country_code: null, region_code: null, count: 2 });
  });

  it("breaks a tie between regions by country code, missing codes last", async () => {
    const tied = randomUUID();
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const rows = [
      refresh(a, 1, { country: "US", region: "CA" }),
      refresh(b, 1, { country: "FR", region: "IDF" }),
      refresh(c, 1),
    ];
    await test.server.app.analytics.engine.insertJsonRows(
      "analytics_internal.events",
      rows.map((event) => JSON.stringify({ ...event, project_id: tied, branch_id: "main" })).join("\n"),
    );
    const figures = await activityMetrics(
      test.server.app.analytics.engine,
      { projectId: tied, branchId: "main", includeAnonymous: false } as MetricsScope,
      metricsWindow(NOW_MS),
    );
    expect(figures.topRegion).toEqual({ country_code: "FR", region_code: "IDF", count: 1 });
  });
});
