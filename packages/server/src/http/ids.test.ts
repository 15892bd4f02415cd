import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
} from "../../test/server.ts";

let test: TestServer;
let project: TestProject;
beforeAll(async () => {
  test = await startTestServer();
  project = await createTestProject(test, "Ids");
  await patchEnvironmentConfig(test, project, { "apiKeys.enabled.user": true, "apiKeys.enabled.team": true });
});
afterAll(() => test?.close());

const NOT_AN_ID = "not-a-uuid";

describe("ids in paths, queries and bodies", () => {
  it("refuses an id that is not a UUID (nor `me` where a user may be) as a SCHEMA_ERROR naming it", async () => {
    const server = serverHeaders(project);
    const team = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: server,
      body: { display_name: "Ids team" },
    });
    const teamId = team.body.id as string;
    const requests: [string, string, object?][] = [
      ["GET", `/api/v1/teams?user_id=${NOT_AN_ID}`],
      ["POST", "/api/v1/teams", { display_name: "x", creator_user_id: NOT_AN_ID }],
      ["POST", `/api/v1/team-memberships/${teamId}/${NOT_AN_ID}`, {}],
      ["DELETE", `/api/v1/team-memberships/${teamId}/${NOT_AN_ID}`],
      ["GET", `/api/v1/team-member-profiles?team_id=${teamId}&user_id=${NOT_AN_ID}`],
      ["GET", `/api/v1/team-member-profiles/${teamId}/${NOT_AN_ID}`],
      ["GET", `/api/v1/team-permissions?user_id=${NOT_AN_ID}`],
      ["POST", `/api/v1/team-permissions/${teamId}/${NOT_AN_ID}/team_member`, {}],
      ["GET", `/api/v1/project-permissions?user_id=${NOT_AN_ID}`],
      ["DELETE", `/api/v1/project-permissions/${NOT_AN_ID}/some_permission`],
      ["GET", `/api/v1/auth/sessions?user_id=${NOT_AN_ID}`],
      ["POST", "/api/v1/auth/sessions", { user_id: NOT_AN_ID }],
      ["DELETE", `/api/v1/auth/sessions/${NOT_AN_ID}`],
      ["GET", `/api/v1/contact-channels?user_id=${NOT_AN_ID}`],
      [
        "POST",
        "/api/v1/contact-channels",
        { user_id: NOT_AN_ID, type: "email", value: "x@example.com", used_for_auth: false },
      ],
      ["GET", `/api/v1/contact-channels/${NOT_AN_ID}/00000000-0000-4000-8000-000000000000`],
      ["GET", `/api/v1/user-api-keys?user_id=${NOT_AN_ID}`],
      ["POST", "/api/v1/user-api-keys", { user_id: NOT_AN_ID, description: "k", expires_at_millis: null }],
      ["GET", `/api/v1/user-api-keys/${NOT_AN_ID}`],
      ["GET", `/api/v1/team-api-keys?team_id=${NOT_AN_ID}`],
      ["POST", "/api/v1/team-api-keys", { team_id: NOT_AN_ID, description: "k", expires_at_millis: null }],
    ];
    for (const [method, path, body] of requests) {
      const res = await api(test.url, path, { method, headers: server, body });
      const label = `${method} ${path}`;
      expect(res.status, label).toBe(400);
      expect(res.body.code, label).toBe("SCHEMA_ERROR");
      expect(res.body.error, label).toMatch(/must be a valid UUID/);
    }
  });

  it("still takes `me` for the signed-in user, and a well-formed unknown id is still not found", async () => {
    const user = await signUpWithPassword(test, project);
    const client = clientHeaders(project, user.access_token);
    const sessions = await api(test.url, "/api/v1/auth/sessions?user_id=me", { headers: client });
    expect(sessions.status).toBe(200);
    expect(sessions.body.items).toHaveLength(1);
    const channels = await api(test.url, "/api/v1/contact-channels?user_id=me", { headers: client });
    expect(channels.body.items).toHaveLength(1);
    const keys = await api(test.url, "/api/v1/user-api-keys?user_id=me", { headers: client });
    expect(keys.status).toBe(200);

    const unknown = "00000000-0000-4000-8000-000000000000";
    const session = await api(test.url, "/api/v1/auth/sessions", {
      method: "POST",
      headers: serverHeaders(project),
      body: { user_id: unknown },
    });
    expect(session.body.code).toBe("USER_ID_DOES_NOT_EXIST");
    const key = await api(test.url, `/api/v1/user-api-keys/${unknown}`, { headers: serverHeaders(project) });
    expect(key.body.code).toBe("API_KEY_NOT_FOUND");
  });
});
