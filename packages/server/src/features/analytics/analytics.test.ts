import { randomUUID } from "node:crypto";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { click, enableAnalytics, pageView, postEvents, queryAnalytics } from "../../../test/analytics.ts";
import {
  adminHeaders,
  api,
  clientHeaders,
  createTestProject,
  serverHeaders,
  signUpWithPassword,
  startTestServer,
  type TestProject,
  type TestServer,
} from "../../../test/server.ts";

let test: TestServer;
let project: TestProject;

beforeAll(async () => {
  test = await startTestServer();
  project = await createTestProject(test);
  await enableAnalytics(test, project);
});
afterAll(() => test?.close());

describe("POST /analytics/events/batch", () => {
  it("needs a signed-in user", async () => {
    const res = await postEvents(test, project, undefined, [pageView()]);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe("USER_AUTHENTICATION_REQUIRED");
  });

  it("is refused while analytics is off, before the user is checked", async () => {
    const off = await createTestProject(test, "analytics off");
    const user = await signUpWithPassword(test, off);
    const res = await postEvents(test, off, user.access_token, [pageView()]);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      code: "ANALYTICS_NOT_ENABLED",
      error: "Analytics is not enabled for this project.",
    });
    expect((await postEvents(test, off, undefined, [pageView()])).body.code).toBe("ANALYTICS_NOT_ENABLED");
  });

  it("accepts page views and clicks and makes them queryable in order", async () => {
    const user = await signUpWithPassword(test, project);
    const segment = randomUUID();
    const views = await postEvents(
      test,
      project,
      user.access_token,
      [pageView("/a"), pageView("/b")],
      segment,
    );
    expect(views.text).toBe(JSON.stringify({ inserted: 2 }));
    expect(views.body).toEqual({ inserted: 2 });
    const clicked = await postEvents(
      test,
      project,
      user.access_token,
      [{ ...click(), event_at_ms: Date.now() + 5 }],
      segment,
    );
    expect(clicked.body).toEqual({ inserted: 1 });

    const res = await queryAnalytics(
      test,
      project,
      "SELECT event_type, session_replay_segment_id, user_id, toString(data.path) AS path FROM events WHERE session_replay_segment_id = {segment:String} ORDER BY event_at, path",
      { params: { segment } },
    );
    expect(res.body.error).toBeUndefined();
    expect(res.body.result.map((row: { event_type: string }) => row.event_type)).toEqual([
      "$page-view",
      "$page-view",
      "$click",
    ]);
    expect(res.body.result[0]).toMatchObject({
      session_replay_segment_id: segment,
      user_id: user.user_id,
      path: "/a",
    });
    expect(res.body.query_id).toMatch(new RegExp(`^${project.projectId}:main:[0-9a-f-]{36}$`));
  });

  it("stores a click whose text ends in a lone surrogate with U+FFFD", async () => {
    const user = await signUpWithPassword(test, project);
    const segment = randomUUID();
    const text = `${"a".repeat(199)}\ud83d`;
    const res = await postEvents(test, project, user.access_token, [click(text)], segment);
    expect(res.body).toEqual({ inserted: 1 });
    const stored = await queryAnalytics(
      test,
      project,
      "SELECT toString(data.text) AS text FROM events WHERE session_replay_segment_id = {segment:String}",
      { params: { segment } },
    );
    expect(stored.body.result).toEqual([{ text: `${"a".repeat(199)}\ufffd` }]);
  });

  it("stores custom events under their own name and refuses unknown $-types", async () => {
    const user = await signUpWithPassword(test, project);
    const segment = randomUUID();
    const res = await postEvents(
      test,
      project,
      user.access_token,
      [{ event_type: "checkout_started", event_at_ms: Date.now(), data: { plan: "pro" } }],
      segment,
    );
    expect(res.body).toEqual({ inserted: 1 });
    const stored = await queryAnalytics(
      test,
      project,
      "SELECT event_type, toString(data.plan) AS plan FROM events WHERE session_replay_segment_id = {segment:String}",
      { params: { segment } },
    );
    expect(stored.body.result).toEqual([{ event_type: "checkout_started", plan: "pro" }]);
  });

  it("accepts the official SDK's gzip-compressed batches", async () => {
    const user = await signUpWithPassword(test, project);
    const segment = randomUUID();
    const body = gzipSync(
      JSON.stringify({
        session_replay_segment_id: segment,
        batch_id: randomUUID(),
        sent_at_ms: Date.now(),
        events: [pageView("/gz")],
      }),
    );
    const res = await api(test.url, "/api/v1/analytics/events/batch", {
      method: "POST",
      headers: {
        ...clientHeaders(project, user.access_token, { "x-stack-allow-anonymous-user": "true" }),
        "content-type": "application/octet-stream",
      },
      rawBody: body,
    });
    expect(res.body).toEqual({ inserted: 1 });
    const broken = await api(test.url, "/api/v1/analytics/events/batch", {
      method: "POST",
      headers: { ...clientHeaders(project, user.access_token), "content-type": "application/octet-stream" },
      rawBody: Buffer.concat([body.subarray(0, 10), Buffer.from("garbage")]),
    });
    expect(broken.status).toBe(400);
    expect(broken.body.code).toBe("BODY_PARSING_ERROR");
  });

  it("validates the batch in upstream's words", async () => {
    const user = await signUpWithPassword(test, project);
    const send = (body: Record<string, unknown>, events = [pageView()]) =>
      postEvents(test, project, user.access_token, events, randomUUID(), body);
    const messageOf = async (body: Record<string, unknown>, events?: ReturnType<typeof pageView>[]) => {
      const res = await send(body, events);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe("SCHEMA_ERROR");
      return res.body.error as string;
    };
    expect(await messageOf({}, [])).toContain("body.events field must have at least 1 items");
    expect(
      await messageOf(
        {},
        Array.from({ length: 501 }, () => pageView()),
      ),
    ).toContain("body.events field must have less than or equal to 500 items");
    expect(await messageOf({ session_replay_segment_id: "nope" })).toContain(
      "Invalid session_replay_segment_id",
    );
    expect(await messageOf({ batch_id: "nope" })).toContain("Invalid batch_id");
    expect(await messageOf({}, [{ ...pageView(), event_type: "$invalid-type" }])).toContain(
      "body.events[0].event_type must be one of the following values: $page-view, $click",
    );
    expect(await messageOf({}, [{ ...pageView(), event_at_ms: 1.5 }])).toContain(
      "body.events[0].event_at_ms",
    );
    expect(await messageOf({}, [{ ...pageView(), event_at_ms: 1e16 }])).toContain(
      "must be less than or equal to",
    );
  });

  it("accepts any JSON as event data without failing other clients' batches", async () => {
    const user = await signUpWithPassword(test, project);
    const odd = [
      { event_type: "odd", event_at_ms: Date.now(), data: null },
      { event_type: "odd", event_at_ms: Date.now(), data: [1, "two", { three: 3 }] },
      {
        event_type: "odd",
        event_at_ms: Date.now(),
        data: { nested: { deep: { deeper: [{ x: 1 }, { x: "y" }] } } },
      },
      { event_type: "odd", event_at_ms: Date.now(), data: { big: 2 ** 70, neg: -1.5e-300, "": "empty key" } },
      // Refused everywhere PostgreSQL would store it; the analytics store keeps it.
      { event_type: "odd", event_at_ms: Date.now(), data: { "nul\u0000key": "a\u0000b" } },
    ];
    const results = await Promise.all([
      postEvents(test, project, user.access_token, odd),
      postEvents(test, project, user.access_token, [pageView("/neighbour")]),
    ]);
    expect(results.map((r) => r.status)).toEqual([200, 200]);
  });

  it("cleans what it can and refuses, as a schema error, data the store cannot hold", async () => {
    const user = await signUpWithPassword(test, project);
    const segment = randomUUID();
    // Half an emoji in a key or a name is stored as U+FFFD, like one in a value.
    const cleaned = await postEvents(
      test,
      project,
      user.access_token,
      [{ event_type: "cut\ud83d", event_at_ms: Date.now(), data: { "key\ud83d": 1 } }],
      segment,
    );
    expect(cleaned.body).toEqual({ inserted: 1 });
    const stored = await queryAnalytics(
      test,
      project,
      "SELECT event_type, toString(data) AS data FROM events WHERE session_replay_segment_id = {segment:String}",
      { params: { segment } },
    );
    expect(stored.body.result).toEqual([{ event_type: "cut\ufffd", data: '{"key\ufffd":"1"}' }]);
    // A path written twice, and an integer beyond every integer type: retrying would never help.
    for (const data of [{ "a.b": 1, a: { b: 2 } }, { n: 1e20 }]) {
      const refused = await postEvents(test, project, user.access_token, [
        { event_type: "odd", event_at_ms: Date.now(), data },
      ]);
      expect(refused.status).toBe(400);
      expect(refused.body.code).toBe("SCHEMA_ERROR");
      expect(refused.body.error).toContain("body.events could not be stored");
    }
    const farFuture = await postEvents(test, project, user.access_token, [pageView("/x")], randomUUID(), {
      sent_at_ms: 8_640_000_000_000_000,
    });
    expect(farFuture.body.code).toBe("SCHEMA_ERROR");
  });

  it("ties events to a session: a token without one is refused", async () => {
    // Server-created access tokens always carry a session; a forged one cannot be made, so this checks
    // the route's own rule via an anonymous user's refresh token being required.
    const anon = await api(test.url, "/api/v1/auth/anonymous/sign-up", {
      method: "POST",
      headers: clientHeaders(project),
      body: {},
    });
    expect(anon.status).toBe(200);
    const res = await postEvents(test, project, anon.body.access_token, [pageView()]);
    expect(res.status).toBe(200);
  });
});

describe("server events", () => {
  it("records $token-refresh on sign-in and refresh, without identity fields", async () => {
    const user = await signUpWithPassword(test, project);
    const refreshed = await api(test.url, "/api/v1/auth/sessions/current/refresh", {
      method: "POST",
      headers: { ...clientHeaders(project), "x-stack-refresh-token": user.refresh_token },
    });
    expect(refreshed.status).toBe(200);
    let rows: { project_id: string; branch_id: string; team_id: null; data: string }[] = [];
    for (let attempt = 0; attempt < 40 && rows.length < 2; attempt++) {
      const res = await queryAnalytics(
        test,
        project,
        "SELECT project_id, branch_id, team_id, toJSONString(data) AS data FROM events WHERE user_id = {user:String} AND event_type = '$token-refresh'",
        { params: { user: user.user_id } },
      );
      rows = res.body.result;
      if (rows.length < 2) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ project_id: project.projectId, branch_id: "main", team_id: null });
    const data = JSON.parse(rows[0]!.data);
    expect(data).toMatchObject({ is_anonymous: false, refresh_token_id: expect.any(String) });
    expect(data.ip_info.ip).toMatch(/127\.0\.0\.1/);
    expect(Object.keys(data).sort()).toEqual(["ip_info", "is_anonymous", "refresh_token_id"]);
  });
});

describe("sign-up events", () => {
  it("records $sign-up with the way the user signed up", async () => {
    const user = await signUpWithPassword(test, project);
    const anonymous = await api(test.url, "/api/v1/auth/anonymous/sign-up", {
      method: "POST",
      headers: clientHeaders(project),
      body: {},
    });
    const ids = [user.user_id, anonymous.body.user_id];
    await expect
      .poll(
        async () => {
          const res = await queryAnalytics(
            test,
            project,
            "SELECT toString(data.auth_method) AS method FROM events WHERE event_type = '$sign-up' AND user_id IN {ids:Array(String)} ORDER BY method",
            { params: { ids } },
          );
          return res.body.result;
          // Server-side events are held for a second before they are written.
        },
        { timeout: 10_000 },
      )
      .toEqual([{ method: "anonymous" }, { method: "password" }]);
  });
});

describe("saved analytics queries (config)", () => {
  const rendered = async (target: TestProject) =>
    (await api(test.url, "/api/v1/internal/config", { headers: adminHeaders(target) })).body;

  it("creates, updates and deletes folders and queries in the environment override, per project", async () => {
    const own = await createTestProject(test, "saved queries");
    const other = await createTestProject(test, "saved queries, other");
    const patch = (override: Record<string, unknown>) =>
      api(test.url, "/api/v1/internal/config/override/environment", {
        method: "PATCH",
        headers: adminHeaders(own),
        body: { config_override_string: JSON.stringify(override) },
      });
    expect(
      (
        await patch({
          "analytics.queryFolders.growth": {
            displayName: "Growth 📈",
            sortOrder: -5,
            queries: { daily: { displayName: "Daily", sqlQuery: `SELECT 1 -- ${"x".repeat(5000)}` } },
          },
          "analytics.queryFolders.empty": {},
        })
      ).status,
    ).toBe(200);
    let config = JSON.parse((await rendered(own)).config_string);
    expect(config.analytics.queryFolders.growth).toMatchObject({ displayName: "Growth 📈", sortOrder: -5 });
    expect(config.analytics.queryFolders.growth.queries.daily.sqlQuery).toHaveLength(5000 + 12);
    expect(config.analytics.queryFolders.empty).toEqual({
      displayName: "Unnamed Folder",
      sortOrder: 0,
      queries: {},
    });

    await patch({ "analytics.queryFolders.growth.queries.daily.displayName": "Daily users" });
    await patch({ "analytics.queryFolders.empty": null });
    config = JSON.parse((await rendered(own)).config_string);
    expect(config.analytics.queryFolders.growth.queries.daily.displayName).toBe("Daily users");
    expect(config.analytics.queryFolders.empty).toBeUndefined();

    const environment = await api(test.url, "/api/v1/internal/config/override/environment", {
      headers: adminHeaders(own),
    });
    expect(environment.body.config_string).toContain("Growth 📈");
    const branch = await api(test.url, "/api/v1/internal/config/override/branch", {
      headers: adminHeaders(own),
    });
    expect(branch.body.config_string).not.toContain("queryFolders");
    expect(JSON.parse((await rendered(other)).config_string).analytics.queryFolders).toEqual({});

    const pushed = await api(test.url, "/api/v1/internal/config/override/branch", {
      method: "PUT",
      headers: adminHeaders(own),
      body: {
        config_string: JSON.stringify({ "teams.allowClientTeamCreation": true }),
        source: { type: "unlinked" },
      },
    });
    expect(pushed.status).toBe(200);
    config = JSON.parse((await rendered(own)).config_string);
    expect(config.analytics.queryFolders.growth.queries.daily.displayName).toBe("Daily users");
  });
});

describe("POST /internal/analytics/query", () => {
  it("answers plain queries and binds parameters as values", async () => {
    expect((await queryAnalytics(test, project, "SELECT 1 AS value")).body.result).toEqual([{ value: 1 }]);
    const injection = "'; DROP TABLE events; --";
    const echoed = await queryAnalytics(test, project, "SELECT {p:String} AS value", {
      params: { p: injection },
    });
    expect(echoed.body.result).toEqual([{ value: injection }]);
  });

  it("keeps each project to its own rows", async () => {
    const other = await createTestProject(test, "other analytics project");
    await enableAnalytics(test, other);
    const outsider = await signUpWithPassword(test, other);
    const segment = randomUUID();
    expect(
      (await postEvents(test, other, outsider.access_token, [pageView("/secret")], segment)).status,
    ).toBe(200);
    const mine = await queryAnalytics(
      test,
      project,
      "SELECT count() AS n FROM events WHERE user_id = {u:String}",
      {
        params: { u: outsider.user_id },
      },
    );
    expect(mine.body.result).toEqual([{ n: "0" }]);
    const theirs = await queryAnalytics(
      test,
      other,
      "SELECT count() AS n FROM events WHERE session_replay_segment_id = {s:String}",
      {
        params: { s: segment },
      },
    );
    expect(theirs.body.result).toEqual([{ n: "1" }]);
  });

  it("bounds the time a query may take", async () => {
    const tooLong = await queryAnalytics(test, project, "SELECT 1", { timeout_ms: 120_001 });
    expect(tooLong.body.code).toBe("SCHEMA_ERROR");
    expect(tooLong.body.error).toContain("body.timeout_ms must be less than or equal to 120000");
    const slow = await queryAnalytics(test, project, "SELECT sleep(3)", { timeout_ms: 1000 });
    expect(slow.status).toBe(400);
    expect(slow.body.code).toBe("ANALYTICS_QUERY_ERROR");
    expect(slow.body.error).toMatch(/^Timeout exceeded: elapsed .* ms, maximum: 1000 ms/);
  });

  it("bounds the size of a result, even one the engine counts as small", async () => {
    // A constant column counts once against the engine's byte limit, whatever the rows repeating it.
    const repeated = await queryAnalytics(
      test,
      project,
      "SELECT repeat('x', 1000000) AS s FROM numbers(43)",
      {
        timeout_ms: 60_000,
      },
    );
    expect(repeated.status).toBe(400);
    expect(repeated.body.code).toBe("ANALYTICS_QUERY_ERROR");
    expect(repeated.body.error).toContain("Limit for result exceeded");
  });

  it("is for admins only", async () => {
    const res = await api(test.url, "/api/v1/internal/analytics/query", {
      method: "POST",
      headers: serverHeaders(project),
      body: { query: "SELECT 1" },
    });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe("INSUFFICIENT_ACCESS_TYPE");
  });
});

describe("POST /internal/analytics/query/timing", () => {
  it("reports a query's times to its own project only", async () => {
    const ran = await queryAnalytics(test, project, "SELECT count() FROM numbers(100000)");
    const timing = await api(test.url, "/api/v1/internal/analytics/query/timing", {
      method: "POST",
      headers: serverHeaders(project),
      body: { query_id: ran.body.query_id },
    });
    expect(timing.status).toBe(200);
    expect(timing.body.stats.wall_clock_time).toBeGreaterThanOrEqual(0);
    expect(timing.body.stats.cpu_time).toBeGreaterThanOrEqual(0);

    const other = await createTestProject(test, "timing outsider");
    const foreign = await api(test.url, "/api/v1/internal/analytics/query/timing", {
      method: "POST",
      headers: adminHeaders(other),
      body: { query_id: ran.body.query_id },
    });
    expect(foreign.status).toBe(404);
    expect(foreign.body).toMatchObject({ code: "ITEM_NOT_FOUND", details: { item_id: ran.body.query_id } });
  });
});
