import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  api,
  createTestProject,
  keyHeaders,
  startTestServer,
  type TestProject,
  type TestServer,
} from "../../../test/server.ts";

let test: TestServer;
let project: TestProject;
let other: TestProject;

beforeAll(async () => {
  test = await startTestServer();
  project = await createTestProject(test, "Config project");
  other = await createTestProject(test, "Other");
});
afterAll(() => test?.close());

const admin = (p = project) => keyHeaders(p.projectId, "admin", p.keys);
const server = (p = project) => keyHeaders(p.projectId, "server", p.keys);
const patch = (level: string, override: unknown, headers = admin()) =>
  api(test.url, `/api/v1/internal/config/override/${level}`, {
    method: "PATCH",
    headers,
    body: { config_override_string: typeof override === "string" ? override : JSON.stringify(override) },
  });
const rendered = async (p = project) =>
  JSON.parse((await api(test.url, "/api/v1/internal/config", { headers: admin(p) })).body.config_string);

describe("config endpoints (scenario 26)", () => {
  it("is admin only to read the rendered config", async () => {
    for (const headers of [keyHeaders(project.projectId, "client", project.keys), server()]) {
      const res = await api(test.url, "/api/v1/internal/config", { headers });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe("INSUFFICIENT_ACCESS_TYPE");
    }
  });

  it("patches with dot keys, and rejects unknown keys, bad JSON, bad levels and env-only keys at branch level", async () => {
    const ok = await patch("environment", {
      "teams.allowClientTeamCreation": true,
      "users.allowClientUserDeletion": true,
    });
    expect(ok.body).toEqual({ success: true });
    const config = await rendered();
    expect(config.teams.allowClientTeamCreation).toBe(true);
    expect(config.users.allowClientUserDeletion).toBe(true);

    const unknown = await patch("environment", { nonExistentField: true });
    expect(unknown.status).toBe(400);
    expect(unknown.text).toContain('The key "nonExistentField" is not valid');
    const badJson = await patch("environment", "{ invalid json }");
    expect(badJson.status).toBe(400);
    expect(badJson.text).toContain("Invalid config JSON");
    const badLevel = await patch("invalid-level", {});
    expect(badLevel.body.code).toBe("SCHEMA_ERROR");
    expect(badLevel.body.error).toContain(
      "params.level must be one of the following values: project, branch, environment",
    );
    const envOnly = await patch("branch", {
      "domains.trustedDomains.a": { baseUrl: "https://a.example.com" },
    });
    expect(envOnly.status).toBe(400);
    const wrongEnum = await patch("branch", { "auth.oauth.accountMergeStrategy": "whatever" });
    expect(wrongEnum.text).toContain(
      "must be one of the following values: link_method, raise_error, allow_duplicates",
    );
  });

  it("refuses overrides nested too deeply to walk, and record ids too long to index", async () => {
    const deep = `${'{"a":'.repeat(20_000)}1${"}".repeat(20_000)}`;
    for (const level of ["environment", "branch"]) {
      const refused = await patch(level, deep);
      expect(refused.status).toBe(400);
      expect(refused.text).toBe("Config override is nested too deeply (at most 32 levels).");
    }
    const replaced = await api(test.url, "/api/v1/internal/config/override/branch", {
      method: "PUT",
      headers: admin(),
      body: { config_string: deep, source: { type: "pushed-from-unknown" } },
    });
    expect(replaced.status).toBe(400);
    // A permission id becomes the key of every grant's index row, which PostgreSQL bounds.
    const longId = "p".repeat(257);
    const tooLong = await patch("environment", { [`rbac.permissions.${longId}`]: { scope: "project" } });
    expect(tooLong.status).toBe(400);
    expect((await rendered()).rbac.permissions[longId]).toBeUndefined();
    const longest = "p".repeat(256);
    expect(
      (await patch("environment", { [`rbac.permissions.${longest}`]: { scope: "project" } })).status,
    ).toBe(200);
  });

  it("replaces the branch override with PUT, which needs a source", async () => {
    await patch("branch", { "teams.createPersonalTeamOnSignUp": true });
    const noSource = await api(test.url, "/api/v1/internal/config/override/branch", {
      method: "PUT",
      headers: admin(),
      body: { config_string: "{}" },
    });
    expect(noSource.status).toBe(400);
    expect(noSource.text).toBe("source is required for branch level config");
    const put = await api(test.url, "/api/v1/internal/config/override/branch", {
      method: "PUT",
      headers: admin(),
      body: { config_string: "{}", source: { type: "pushed-from-unknown" } },
    });
    expect(put.body).toEqual({ success: true });
    const stored = await api(test.url, "/api/v1/internal/config/override/branch", { headers: admin() });
    expect(stored.body).toEqual({ config_string: "{}" });
    await patch("branch", { "teams.createPersonalTeamOnSignUp": true });
    expect((await api(test.url, "/api/v1/internal/config/source", { headers: admin() })).body).toEqual({
      source: { type: "pushed-from-unknown" },
    });
    expect(
      (await api(test.url, "/api/v1/internal/config/source", { method: "DELETE", headers: admin() })).body,
    ).toEqual({ success: true });
    expect((await api(test.url, "/api/v1/internal/config/source", { headers: admin() })).body).toEqual({
      source: { type: "unlinked" },
    });
  });

  it("lets environment values win over branch values, and shows the branch value again after a reset", async () => {
    await patch("branch", { "apiKeys.enabled.team": true });
    await patch("environment", { "apiKeys.enabled.team": false });
    expect((await rendered()).apiKeys.enabled.team).toBe(false);
    const reset = await api(test.url, "/api/v1/internal/config/override/environment/reset-keys", {
      method: "POST",
      headers: admin(),
      body: { keys: ["apiKeys.enabled.team"] },
    });
    expect(reset.body).toEqual({ success: true });
    expect((await rendered()).apiKeys.enabled.team).toBe(true);
  });

  it("restricts server keys to the branch level", async () => {
    expect((await patch("branch", { "onboarding.requireEmailVerification": false }, server())).status).toBe(
      200,
    );
    const env = await patch("environment", { "onboarding.requireEmailVerification": false }, server());
    expect(env.status).toBe(403);
    expect(env.text).toBe("Server access can only manage branch config overrides.");
  });

  it("drives behaviour: a required publishable key is enforced at once (scenario 3)", async () => {
    const client = { "x-stack-project-id": project.projectId, "x-stack-access-type": "client" };
    expect((await api(test.url, "/api/v1", { headers: client })).text).toContain("Authentication: Client");
    expect((await patch("project", { "project.requirePublishableClientKey": true })).status).toBe(200);
    const refused = await api(test.url, "/api/v1", { headers: client });
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({
      code: "PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT",
      details: { project_id: project.projectId },
    });
    const withKey = await api(test.url, "/api/v1", {
      headers: { ...client, "x-stack-publishable-client-key": project.keys.publishable_client_key! },
    });
    expect(withKey.status).toBe(200);
    await patch("project", { "project.requirePublishableClientKey": false });
  });

  it("loses no key when many PATCHes race", async () => {
    const flags = [
      "teams.createPersonalTeamOnSignUp",
      "users.allowClientUserDeletion",
      "teams.allowClientTeamCreation",
      "onboarding.requireEmailVerification",
    ];
    await Promise.all(flags.map((flag, i) => patch("environment", { [flag]: i % 2 === 0 })));
    const stored = JSON.parse(
      (await api(test.url, "/api/v1/internal/config/override/environment", { headers: admin() })).body
        .config_string,
    );
    for (const [i, flag] of flags.entries()) expect(stored[flag]).toBe(i % 2 === 0);
  });

  it("notices a change made with raw SQL", async () => {
    const client = new pg.Client({ connectionString: test.database.url });
    await client.connect();
    await client.query(
      `UPDATE environment_config_overrides SET config = config || '{"users.allowClientUserDeletion": false, "apiKeys.enabled.user": true}'::jsonb
        WHERE project_id = $1`,
      [project.projectId],
    );
    await client.end();
    let enabled = false;
    for (let i = 0; i < 50 && !enabled; i++) {
      enabled = (await rendered()).apiKeys.enabled.user;
      if (!enabled) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(enabled).toBe(true);
  });

  it("keeps each project's config to itself", async () => {
    await patch("environment", { "teams.allowClientTeamCreation": true });
    expect((await rendered(other)).teams.allowClientTeamCreation).toBe(false);
    expect(
      (await api(test.url, "/api/v1/internal/config/override/environment", { headers: admin(other) })).body
        .config_string,
    ).not.toContain("allowClientTeamCreation");
  });
});
