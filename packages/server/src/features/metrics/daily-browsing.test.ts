import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../../test/server.ts";
import { discoverAnalyticsMigrations } from "../../analytics-store/migrations.ts";

/**
 * The `daily_browsing` rollup the browsing figures read: fed by every insert into the events table,
 * and filled from the stored events by its migration — both must agree, and a rerun must not count twice.
 */
let test: TestServer;
beforeAll(async () => {
  test = await startTestServer();
});
afterAll(() => test?.close());

const event = (projectId: string, type: string, userId: string | null, day: string, data: object) =>
  JSON.stringify({
    event_type: type,
    event_at: `${day} 10:00:00.000`,
    project_id: projectId,
    branch_id: "main",
    user_id: userId,
    is_anonymous: userId === "anonymous-user",
    data,
  });

async function rollup(projectId: string) {
  const { text } = await test.server.app.analytics.engine.query(
    `SELECT toString(day) AS day, is_anonymous, referrer, sum(page_views) AS page_views, sum(clicks) AS clicks,
            uniqCombined64Merge(14)(visitors) AS visitors
       FROM analytics_internal.daily_browsing WHERE project_id = {project:String}
      GROUP BY day, is_anonymous, referrer ORDER BY day, is_anonymous, referrer`,
    { params: { project: projectId }, format: "JSONEachRow" },
  );
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

describe("daily browsing rollup", () => {
  const projectId = randomUUID();
  const [alice, bob] = [randomUUID(), randomUUID()];
  const row = (day: string, anonymous: boolean, referrer: string, [views, clicks, visitors]: number[]) => ({
    day,
    is_anonymous: anonymous,
    referrer,
    page_views: views,
    clicks,
    visitors,
  });
  // [page views, clicks, visitors]
  const expected = [
    row("2026-03-01", false, "", [1, 2, 1]),
    row("2026-03-01", false, "https://a.example", [3, 0, 2]),
    row("2026-03-01", true, "https://a.example", [1, 0, 1]),
    row("2026-03-02", false, "https://b.example", [1, 0, 1]),
  ];

  beforeAll(async () => {
    const rows = [
      event(projectId, "$page-view", alice, "2026-03-01", { referrer: "https://a.example" }),
      event(projectId, "$page-view", alice, "2026-03-01", { referrer: "https://a.example" }),
      event(projectId, "$page-view", bob, "2026-03-01", { referrer: "https://a.example" }),
      event(projectId, "$page-view", bob, "2026-03-01", {}),
      event(projectId, "$click", alice, "2026-03-01", { tag_name: "a" }),
      event(projectId, "$click", bob, "2026-03-01", { tag_name: "a" }),
      event(projectId, "$page-view", "anonymous-user", "2026-03-01", { referrer: "https://a.example" }),
      event(projectId, "$page-view", alice, "2026-03-02", { referrer: "https://b.example" }),
      // Not browsing, or without a user: not counted.
      event(projectId, "$token-refresh", alice, "2026-03-02", {}),
      event(projectId, "$page-view", null, "2026-03-02", { referrer: "https://c.example" }),
    ];
    await test.server.app.analytics.engine.insertJsonRows("analytics_internal.events", rows.join("\n"));
  });

  it("is fed by each insert into the events table", async () => {
    expect(await rollup(projectId)).toEqual(expected);
  });

  it("is refilled from the stored events by its migration, which can run again without counting twice", async () => {
    const migration = discoverAnalyticsMigrations().find((m) => m.name.endsWith("_events_rollups"));
    if (!migration) throw new Error("the events_rollups migration is missing");
    for (const statement of migration.statements) await test.server.app.analytics.engine.command(statement);
    expect(await rollup(projectId)).toEqual(expected);
  });

  it("keeps projects apart", async () => {
    expect(await rollup(randomUUID())).toEqual([]);
  });
});
