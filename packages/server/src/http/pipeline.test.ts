import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  api,
  createTestProject,
  keyHeaders,
  startTestServer,
  type TestProject,
  type TestServer,
} from "../../test/server.ts";

let test: TestServer;
let small: TestServer;
let projectA: TestProject;
let projectB: TestProject;

beforeAll(async () => {
  test = await startTestServer();
  small = await startTestServer({ bodyLimitBytes: 1024 });
  projectA = await createTestProject(test, "A");
  projectB = await createTestProject(test, "B");
});
afterAll(async () => {
  await test?.close();
  await small?.close();
});

/** The same headers in the `x-hexclave-*` spelling of SDK 2.8.108. */
const hexclave = (headers: Record<string, string>) =>
  Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.replace(/^x-stack-/, "x-hexclave-"), v]));

describe("GET /internal/backend-urls", () => {
  it("names this server's public URL, for SDKs configured without a base URL", async () => {
    const res = await api(test.url, "/api/v1/internal/backend-urls");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ urls: [test.server.app.env.publicUrl] });
    // It declares no query, so (as upstream) a parameter is ignored rather than refused.
    const withQuery = await api(test.url, "/api/v1/internal/backend-urls?x=1");
    expect(withQuery.status).toBe(200);
    expect(withQuery.body).toEqual(res.body);
  });
});

describe.each([
  ["x-stack-*", (h: Record<string, string>) => h],
  ["x-hexclave-*", hexclave],
])("authentication with %s headers (scenarios 1–3)", (_name, spell) => {
  const get = (headers: Record<string, string>, path = "/api/v1") =>
    api(test.url, path, { headers: spell(headers) });

  it("probes the root without and with authentication", async () => {
    const none = await get({});
    expect(none.status).toBe(200);
    expect(none.text).toBe(
      "Welcome to the Stack API endpoint! Please refer to the documentation at https://docs.stack-auth.com.\n\nAuthentication: None",
    );
    for (const type of ["client", "server", "admin"] as const) {
      const res = await get(keyHeaders(projectA.projectId, type, projectA.keys));
      expect(res.status).toBe(200);
      expect(res.text).toContain(
        `Authentication: ${type[0]!.toUpperCase()}${type.slice(1)}\n  Project: ${projectA.projectId}\n  User: None`,
      );
    }
    const extra = await api(test.url, "/api/v1?extra=param");
    expect(extra.status).toBe(400);
    expect(extra.headers.get("x-stack-known-error")).toBe("SCHEMA_ERROR");
    expect(extra.body.code).toBe("SCHEMA_ERROR");
    expect(extra.body.error).toBe(
      // The path without its query string, exactly as upstream words it.
      "Request validation failed on GET /api/v1:\n  - query contains unknown properties: extra",
    );
    expect(extra.body.details).toEqual({ message: extra.body.error });
    // Known errors are pretty-printed with the keys in upstream's order.
    expect(extra.text).toBe(
      JSON.stringify(
        { code: "SCHEMA_ERROR", details: { message: extra.body.error }, error: extra.body.error },
        undefined,
        2,
      ),
    );
  });

  it("answers each header problem with its code, in the contract's order", async () => {
    const a = projectA.projectId;
    const cases: [Record<string, string>, number, string, Record<string, unknown>?][] = [
      [
        { "x-stack-access-type": "client" },
        400,
        "ACCESS_TYPE_WITHOUT_PROJECT_ID",
        { request_type: "client" },
      ],
      [{ "x-stack-secret-server-key": "ssk_x" }, 400, "PROJECT_KEY_WITHOUT_ACCESS_TYPE"],
      [{ "x-stack-access-type": "root" }, 400, "INVALID_ACCESS_TYPE"],
      [{ "x-stack-access-type": "root", "x-stack-project-id": a }, 400, "INVALID_ACCESS_TYPE"],
      [
        { "x-stack-access-type": "client", "x-stack-project-id": "00000000-0000-4000-8000-000000000000" },
        400,
        "CURRENT_PROJECT_NOT_FOUND",
        { project_id: "00000000-0000-4000-8000-000000000000" },
      ],
      [
        {
          "x-stack-access-type": "client",
          "x-stack-project-id": a,
          "x-stack-publishable-client-key": projectA.keys.publishable_client_key!,
          "x-stack-branch-id": "invalid-branch",
        },
        400,
        "BRANCH_DOES_NOT_EXIST",
        { branch_id: "invalid-branch" },
      ],
      // Without a key a branch that does not exist asks for one (a project need not, its branches do).
      [
        { "x-stack-access-type": "client", "x-stack-project-id": a, "x-stack-branch-id": "invalid-branch" },
        401,
        "PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT",
        { project_id: a },
      ],
      [
        {
          "x-stack-access-type": "client",
          "x-stack-project-id": a,
          "x-stack-publishable-client-key": "pck_wrong",
        },
        401,
        "INVALID_PUBLISHABLE_CLIENT_KEY",
        { project_id: a },
      ],
      [
        {
          "x-stack-access-type": "client",
          "x-stack-project-id": a,
          "x-stack-publishable-client-key": projectB.keys.publishable_client_key!,
        },
        401,
        "INVALID_PUBLISHABLE_CLIENT_KEY",
        { project_id: a },
      ],
      // A wrong key wins over a bad branch: branches are checked last so they cannot be probed.
      [
        {
          "x-stack-access-type": "server",
          "x-stack-project-id": a,
          "x-stack-secret-server-key": "ssk_wrong",
          "x-stack-branch-id": "nope",
        },
        401,
        "INVALID_SECRET_SERVER_KEY",
        { project_id: a },
      ],
      [{ "x-stack-access-type": "server", "x-stack-project-id": a }, 401, "SERVER_AUTHENTICATION_REQUIRED"],
      [{ "x-stack-access-type": "admin", "x-stack-project-id": a }, 401, "ADMIN_AUTHENTICATION_REQUIRED"],
      [
        {
          "x-stack-access-type": "admin",
          "x-stack-project-id": a,
          "x-stack-super-secret-admin-key": projectB.keys.super_secret_admin_key!,
        },
        401,
        "INVALID_SUPER_SECRET_ADMIN_KEY",
        { project_id: a },
      ],
      [
        { "x-stack-access-type": "client", "x-stack-project-id": a, "x-stack-access-token": "12341234" },
        401,
        "UNPARSABLE_ACCESS_TOKEN",
      ],
      [
        { "x-stack-access-type": "admin", "x-stack-project-id": a, "x-stack-admin-access-token": "invalid" },
        401,
        "UNPARSABLE_ADMIN_ACCESS_TOKEN",
      ],
    ];
    for (const [headers, status, code, details] of cases) {
      const res = await get(headers);
      expect(res.status, JSON.stringify(headers)).toBe(status);
      expect(res.body.code, JSON.stringify(headers)).toBe(code);
      expect(res.headers.get("x-stack-known-error")).toBe(code);
      expect(res.headers.get("x-hexclave-known-error")).toBe(code);
      if (details) expect(res.body.details).toEqual(details);
    }
  });
});

describe("response conventions", () => {
  it("puts request id, no-store and CORS on every answer", async () => {
    const answers = [
      await api(test.url, "/api/v1"),
      await api(test.url, "/api/v1?bad=1"),
      await api(test.url, "/api/v1/nowhere"),
    ];
    const ids = new Set<string>();
    for (const res of answers) {
      ids.add(res.headers.get("x-stack-request-id")!);
      expect(res.headers.get("cache-control")).toBe("no-store, max-age=0");
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
      const exposed = res.headers.get("access-control-expose-headers")!;
      for (const h of [
        "x-stack-known-error",
        "x-stack-actual-status",
        "x-hexclave-known-error",
        "x-hexclave-actual-status",
      ]) {
        expect(exposed).toContain(h);
      }
    }
    expect(ids.size).toBe(3);
  });

  it("answers preflights", async () => {
    const res = await fetch(`${test.url}/api/v1/users`, {
      method: "OPTIONS",
      headers: { origin: "https://app.example.com", "access-control-request-method": "POST" },
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("");
    expect(res.headers.get("access-control-allow-headers")).toContain("x-stack-access-type");
    expect(res.headers.get("access-control-allow-headers")).toContain("x-hexclave-access-type");
  });

  it("turns 4xx into 200 when asked, keeping the real status in a header", async () => {
    for (const header of ["x-stack-override-error-status", "x-hexclave-override-error-status"]) {
      const res = await api(test.url, "/api/v1/users/me", { headers: { [header]: "true" } });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-stack-actual-status")).toBe("400");
      expect(res.headers.get("x-hexclave-actual-status")).toBe("400");
      expect(res.body.code).toBe("ACCESS_TYPE_REQUIRED");
    }
  });

  it("answers unknown routes with 404 text and serves /health and the OpenAPI document", async () => {
    const missing = await api(test.url, "/api/v1/does-not-exist?x=1");
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toContain("text/plain");
    expect(missing.text).toMatch(/^404 — this page does not exist in Stack Auth's API\./);
    expect(missing.text.endsWith(`URL: ${test.url}/api/v1/does-not-exist?x=1`)).toBe(true);
    const health = await api(test.url, "/health");
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: "ok" });
    const doc = await api(test.url, "/api/v1/openapi.json");
    expect(doc.body.openapi).toBe("3.1.0");
    expect(doc.body.paths["/projects/current"].get).toBeDefined();
    expect(
      doc.body.paths["/users/{user_id}"].patch.requestBody.content["application/json"].schema.properties,
    ).toHaveProperty("display_name");
    expect(doc.body.paths["/internal/config"]).toBeUndefined();
  });
});

describe("bad input never reaches a 500", () => {
  it("answers a batch of hostile requests with 4xx in the contract's shapes", async () => {
    const admin = keyHeaders(projectA.projectId, "admin", projectA.keys);
    const json = { ...admin, "content-type": "application/json" };
    type Probe = {
      path: string;
      method?: string;
      headers?: Record<string, string>;
      rawBody?: string | Buffer;
      body?: unknown;
      server?: TestServer;
    };
    const probes: Probe[] = [
      { path: "/api/v1/internal/api-keys", method: "POST", headers: json, rawBody: "{ not json" },
      { path: "/api/v1/internal/api-keys", method: "POST", headers: json, rawBody: "[1, 2, 3]" },
      { path: "/api/v1/internal/api-keys", method: "POST", headers: json, rawBody: "42" },
      { path: "/api/v1/internal/api-keys", method: "POST", headers: json, rawBody: '"text"' },
      { path: "/api/v1/internal/api-keys", method: "POST", headers: json, rawBody: "null" },
      { path: "/api/v1/internal/api-keys", method: "POST", headers: json, rawBody: "" },
      {
        path: "/api/v1/internal/api-keys",
        method: "POST",
        headers: { ...admin, "content-type": "text/xml" },
        rawBody: "<a/>",
      },
      {
        path: "/api/v1/internal/api-keys",
        method: "POST",
        headers: { ...admin, "content-type": "multipart/form-data; boundary=x" },
        rawBody: "--x--",
      },
      {
        path: "/api/v1/internal/api-keys",
        method: "POST",
        headers: admin,
        body: { description: 1, expires_at_millis: "soon" },
      },
      {
        path: "/api/v1/internal/api-keys",
        method: "POST",
        headers: admin,
        body: {
          description: "x",
          expires_at_millis: 1,
          has_publishable_client_key: true,
          has_secret_server_key: true,
          has_super_secret_admin_key: true,
          extra: 1,
        },
      },
      { path: "/api/v1/internal/api-keys/not-a-uuid", headers: admin },
      {
        path: "/api/v1/internal/api-keys/not-a-uuid",
        method: "PATCH",
        headers: admin,
        body: { revoked: true },
      },
      {
        path: "/api/v1/internal/api-keys/00000000-0000-4000-8000-000000000000",
        method: "PATCH",
        headers: admin,
        body: { revoked: false },
      },
      {
        path: "/api/v1/internal/config/override/environment",
        method: "PATCH",
        headers: admin,
        body: { config_override_string: "{ invalid json }" },
      },
      {
        path: "/api/v1/internal/config/override/environment",
        method: "PATCH",
        headers: admin,
        body: { config_override_string: "[]" },
      },
      {
        path: "/api/v1/internal/config/override/environment",
        method: "PATCH",
        headers: admin,
        body: { config_override_string: JSON.stringify({ "a.b.c": { "d.e": 1 } }) },
      },
      {
        path: "/api/v1/internal/config/override/nope",
        method: "PATCH",
        headers: admin,
        body: { config_override_string: "{}" },
      },
      {
        path: "/api/v1/internal/projects/current",
        method: "PATCH",
        headers: admin,
        body: { display_name: "x".repeat(100_000), logo_url: 5 },
      },
      {
        path: "/api/v1/internal/projects/current",
        method: "PATCH",
        headers: admin,
        body: deeplyNested(2000),
      },
      {
        path: "/api/v1/internal/projects/current",
        method: "PATCH",
        headers: admin,
        body: { onboarding_status: "bogus\u0000" },
      },
      {
        path: "/api/v1/internal/projects/current",
        method: "PATCH",
        headers: json,
        rawBody: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
      },
      {
        path: "/api/v1",
        headers: { "x-stack-access-type": "client", "x-stack-project-id": "p".repeat(10_000) },
      },
      { path: "/api/v1", headers: { "x-stack-access-type": "client", "x-stack-project-id": "ünïcødé" } },
      { path: "/api/v1/users/%E0%A4%A", headers: admin },
      {
        path: "/api/v1/users/00000000-0000-4000-8000-000000000000",
        method: "PATCH",
        headers: admin,
        body: { display_name: ["array"] },
      },
      { path: "/api/v1/users?limit=-1&cursor=xyz", headers: admin },
      { path: "/api/v1/users?limit=abc", headers: admin },
      {
        path: "/api/v1/auth/password/sign-in",
        method: "POST",
        headers: { "x-stack-access-type": "client", "x-stack-project-id": projectA.projectId },
        body: { email: { $gt: "" }, password: null },
      },
      {
        path: "/api/v1/auth/oauth/token",
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        rawBody: "grant_type=refresh_token&client_id=&client_secret=",
      },
      {
        path: "/api/v1/internal/api-keys",
        method: "POST",
        headers: { ...admin, "content-type": "application/json" },
        rawBody: JSON.stringify({ description: "x".repeat(5000) }),
        server: small,
      },
    ];
    for (const probe of probes) {
      const target = probe.server ?? test;
      const headers = probe.server ? keyHeaders(projectA.projectId, "admin", projectA.keys) : probe.headers;
      const res = probe.server
        ? await api(target.url, probe.path, {
            method: probe.method,
            headers: { ...headers, "content-type": "application/json" },
            rawBody: probe.rawBody,
          })
        : await api(target.url, probe.path, {
            method: probe.method,
            headers,
            body: probe.body,
            rawBody: probe.rawBody,
          });
      const label = `${probe.method ?? "GET"} ${probe.path.slice(0, 80)}`;
      expect(res.status, label).toBeGreaterThanOrEqual(400);
      expect(res.status, label).toBeLessThan(500);
      if (res.headers.get("content-type")?.includes("application/json")) {
        expect(res.body, label).toEqual(
          expect.objectContaining({ code: expect.any(String), error: expect.any(String) }),
        );
        expect(res.headers.get("x-stack-known-error"), label).toBe(res.body.code);
      } else {
        expect(res.headers.get("content-type"), label).toContain("text/plain");
      }
    }
  });

  it("refuses, as schema errors, values PostgreSQL could not store or read", async () => {
    const admin = keyHeaders(projectA.projectId, "admin", projectA.keys);
    const deepArrays = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    const probes: { path: string; method?: string; body?: unknown; rawBody?: string; says: string }[] = [
      {
        path: "/users",
        method: "POST",
        body: { display_name: "\u0000" },
        says: "body.display_name must not contain NUL",
      },
      {
        path: "/users",
        method: "POST",
        body: { client_metadata: { nested: ["a\u0000"] } },
        says: "body.client_metadata.nested[0] must not contain NUL characters (\\u0000)",
      },
      {
        path: "/users",
        method: "POST",
        body: { server_metadata: { "\u0000": 1 } },
        says: "(its name) must not",
      },
      { path: "/users?query=%00", says: "query.query must not contain NUL" },
      {
        path: "/team-permissions/3e112c9d-3572-4c2b-bd7d-4fb7c07855b5/3e112c9d-3572-4c2b-bd7d-4fb7c07855b6/%00",
        method: "DELETE",
        says: "params.permission_id must not contain NUL",
      },
      {
        path: "/teams/urn:uuid:3e112c9d-3572-4c2b-bd7d-4fb7c07855b5",
        says: "params.team_id must be a valid UUID",
      },
      {
        path: "/users?cursor=urn:uuid:3e112c9d-3572-4c2b-bd7d-4fb7c07855b5",
        says: "query.cursor must be a valid UUID",
      },
      { path: "/users?limit=1e309", says: "query.limit must be less than or equal to 9007199254740991" },
      { path: "/users?limit=99999999999999999999", says: "query.limit must be less than or equal to" },
      {
        path: "/internal/api-keys",
        method: "POST",
        body: {
          description: "x",
          expires_at_millis: 1e308,
          has_publishable_client_key: true,
          has_secret_server_key: false,
          has_super_secret_admin_key: false,
        },
        says: "body.expires_at_millis must be less than or equal to 253402300799999",
      },
      {
        path: "/internal/api-keys",
        method: "POST",
        // The first instant of the year 10000.
        body: {
          description: "x",
          expires_at_millis: 253_402_300_800_000,
          has_publishable_client_key: false,
          has_secret_server_key: true,
          has_super_secret_admin_key: false,
        },
        says: "body.expires_at_millis must be less than or equal to 253402300799999",
      },
      { path: "/users", method: "POST", body: { client_metadata: deeplyNested(600) }, says: "levels deep" },
      {
        path: "/auth/password/sign-in",
        method: "POST",
        rawBody: deepArrays,
        says: "body is nested more than 512",
      },
    ];
    for (const probe of probes) {
      const res = await api(test.url, `/api/v1${probe.path}`, {
        method: probe.method,
        headers: probe.rawBody === undefined ? admin : { ...admin, "content-type": "application/json" },
        body: probe.body,
        rawBody: probe.rawBody,
      });
      const label = `${probe.method ?? "GET"} ${probe.path}`;
      expect(res.status, label).toBe(400);
      expect(res.body.code, label).toBe("SCHEMA_ERROR");
      expect(res.body.error, label).toContain(probe.says);
    }
    // Half an emoji (a client cut the string) is stored as U+FFFD, as the driver writes it to text anyway.
    const cut = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers: admin,
      body: { display_name: "smile \ud83d", client_metadata: { note: "\ude00!" } },
    });
    expect(cut.status).toBe(201);
    expect(cut.body).toMatchObject({ display_name: "smile \ufffd", client_metadata: { note: "\ufffd!" } });
    const restriction = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers: admin,
      body: { restricted_by_admin_reason: "" },
    });
    expect(restriction.status).toBe(400);
    expect(restriction.body.code).toBe("SCHEMA_ERROR");
    expect(restriction.body.error).toContain(
      "restricted_by_admin_reason must be null when restricted_by_admin is not true",
    );
  });

  it("answers bytes sent where JSON was expected with a schema error", async () => {
    const res = await api(test.url, "/api/v1/internal/config/override/environment/reset-keys", {
      method: "POST",
      headers: {
        ...keyHeaders(projectA.projectId, "admin", projectA.keys),
        "content-type": "application/octet-stream",
      },
      rawBody: Buffer.from([1, 2, 3]),
    });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("SCHEMA_ERROR");
  });

  it("quotes a rejected value briefly, however large it is", async () => {
    const res = await api(test.url, "/api/v1/auth/password/sign-up", {
      method: "POST",
      headers: {
        "x-stack-access-type": "client",
        "x-stack-project-id": projectA.projectId,
        ...keyHeaders(projectA.projectId, "client", projectA.keys),
      },
      body: { email: deeplyNested(500), password: "correct horse battery" },
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toContain('body.email must be a `string` type, but the final value was: `{"a":{');
    expect(res.text.length).toBeLessThan(2_000);
  });

  it("answers 503, not never, when every database connection stays taken", async () => {
    const starved = await startTestServer({ databasePoolSize: 1, databasePoolWaitMs: 300 });
    try {
      const project = await createTestProject(starved, "Starved");
      const held = await starved.server.app.database.pool.connect();
      let answer: Awaited<ReturnType<typeof api>>;
      try {
        answer = await api(starved.url, "/api/v1/users", {
          headers: keyHeaders(project.projectId, "server", project.keys),
        });
      } finally {
        held.release();
      }
      expect(answer.status).toBe(503);
      expect(answer.headers.get("retry-after")).toBe("5");
      const after = await api(starved.url, "/api/v1/users", {
        headers: keyHeaders(project.projectId, "server", project.keys),
      });
      expect(after.status).toBe(200);
    } finally {
      await starved.close();
    }
  });

  it("words body parsing errors as upstream does", async () => {
    const admin = keyHeaders(projectA.projectId, "admin", projectA.keys);
    const badJson = await api(test.url, "/api/v1/internal/api-keys", {
      method: "POST",
      headers: { ...admin, "content-type": "application/json" },
      rawBody: "{ nope",
    });
    expect(badJson.body).toEqual({ code: "BODY_PARSING_ERROR", error: "Invalid JSON in request body" });
    const xml = await api(test.url, "/api/v1/internal/api-keys", {
      method: "POST",
      headers: { ...admin, "content-type": "text/xml; charset=utf-8" },
      rawBody: "<a/>",
    });
    expect(xml.body).toEqual({
      code: "BODY_PARSING_ERROR",
      error: "Unknown content type in request body: text/xml",
    });
  });

  it("reports every unknown property and wrong type at once", async () => {
    const res = await api(test.url, "/api/v1/internal/api-keys", {
      method: "POST",
      headers: keyHeaders(projectA.projectId, "admin", projectA.keys),
      body: { description: 3, foo: 1, bar: 2 },
    });
    expect(res.body.code).toBe("SCHEMA_ERROR");
    expect(res.body.error).toContain("body contains unknown properties: foo, bar");
    expect(res.body.error).toContain(
      "body.description must be a `string` type, but the final value was: `3`.",
    );
    expect(res.body.error).toContain("body.expires_at_millis must be defined");
  });
});

function deeplyNested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}
