import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { behindLock } from "../../../test/database.ts";
import {
  api,
  createTestProject,
  keyHeaders,
  startTestServer,
  type TestProject,
  type TestServer,
} from "../../../test/server.ts";
import { LATEST_TIMESTAMP_MILLIS } from "../../http/value-schemas.ts";

let test: TestServer;
let projectA: TestProject;
let projectB: TestProject;

beforeAll(async () => {
  test = await startTestServer();
  projectA = await createTestProject(test, "Project A");
  projectB = await createTestProject(test, "Project B");
});
afterAll(() => test?.close());

describe("GET /projects/current", () => {
  it("answers the client view for every access type", async () => {
    for (const type of ["client", "server", "admin"] as const) {
      const res = await api(test.url, "/api/v1/projects/current", {
        headers: keyHeaders(projectA.projectId, type, projectA.keys),
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        id: projectA.projectId,
        display_name: "Project A",
        config: {
          sign_up_enabled: true,
          credential_enabled: true,
          magic_link_enabled: false,
          passkey_enabled: false,
          client_team_creation_enabled: false,
          client_user_deletion_enabled: false,
          allow_user_api_keys: false,
          allow_team_api_keys: false,
          enabled_oauth_providers: [],
          domains: [],
        },
      });
    }
  });

  it("shows the internal project's client view only", async () => {
    const res = await api(test.url, "/api/v1/projects/current", {
      headers: { "x-stack-project-id": "internal", "x-stack-access-type": "client" },
    });
    expect(res.status).toBe(200);
    expect(res.body.id).toBe("internal");
    expect(res.body.display_name).toBe("Stack Dashboard");
    expect(res.body).not.toHaveProperty("owner_team_id");
    expect(res.body.config).not.toHaveProperty("oauth_providers");
  });

  it("needs an access type", async () => {
    const res = await api(test.url, "/api/v1/projects/current");
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("ACCESS_TYPE_REQUIRED");
  });
});

describe("/internal/projects/current", () => {
  const admin = () => keyHeaders(projectA.projectId, "admin", projectA.keys);

  it("is admin only", async () => {
    const res = await api(test.url, "/api/v1/internal/projects/current", {
      headers: keyHeaders(projectA.projectId, "server", projectA.keys),
    });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({
      code: "INSUFFICIENT_ACCESS_TYPE",
      details: { actual_access_type: "server", allowed_access_types: ["admin"] },
    });
  });

  it("reads and updates the admin view, translating legacy config into overrides", async () => {
    const before = await api(test.url, "/api/v1/internal/projects/current", { headers: admin() });
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({
      id: projectA.projectId,
      description: "",
      is_production_mode: false,
      owner_team_id: null,
      onboarding_status: "completed",
      logo_url: null,
      config: {
        allow_localhost: true,
        email_config: { type: "shared" },
        oauth_account_merge_strategy: "link_method",
      },
    });
    expect(before.body.config.team_creator_default_permissions).toEqual([{ id: "team_admin" }]);

    const patched = await api(test.url, "/api/v1/internal/projects/current", {
      method: "PATCH",
      headers: admin(),
      body: {
        display_name: "Renamed",
        description: "Hello",
        config: {
          client_team_creation_enabled: true,
          domains: [{ domain: "https://app.example.com", handler_path: "/auth" }],
        },
      },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.display_name).toBe("Renamed");
    expect(patched.body.description).toBe("Hello");
    expect(patched.body.config.client_team_creation_enabled).toBe(true);
    expect(patched.body.config.domains).toEqual([
      { domain: "https://app.example.com", handler_path: "/auth" },
    ]);

    const config = await api(test.url, "/api/v1/internal/config", { headers: admin() });
    const rendered = JSON.parse(config.body.config_string);
    expect(rendered.teams.allowClientTeamCreation).toBe(true);
    expect(Object.values(rendered.domains.trustedDomains)).toEqual([
      { baseUrl: "https://app.example.com", handlerPath: "/auth" },
    ]);
  });

  it("rejects unknown fields and bad values", async () => {
    const res = await api(test.url, "/api/v1/internal/projects/current", {
      method: "PATCH",
      headers: admin(),
      body: { display_name: "x", nonsense: 1, onboarding_status: "nope" },
    });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("SCHEMA_ERROR");
    expect(res.body.error).toContain("body contains unknown properties: nonsense");
    expect(res.body.error).toContain("body.onboarding_status must be one of the following values");
  });

  it("checks logos, domains and e-mail servers as upstream does, and takes any name", async () => {
    const patch = (body: object) =>
      api(test.url, "/api/v1/internal/projects/current", { method: "PATCH", headers: admin(), body });
    const refused: [object, string][] = [
      [{ logo_url: "not a url" }, "body.logo_url"],
      [{ logo_full_url: "ftp://example.com/logo.png" }, "body.logo_full_url"],
      [{ config: { domains: [{ domain: "example.com", handler_path: "/handler" }] } }, "domain"],
      [{ config: { domains: [{ domain: "https://example.com", handler_path: "handler" }] } }, "handler_path"],
      [
        {
          config: {
            email_config: {
              type: "standard",
              host: "smtp.example.com",
              port: 70000,
              username: "u",
              password: "p",
              sender_name: "App",
              sender_email: "app@example.com",
            },
          },
        },
        "port",
      ],
      [
        {
          config: {
            email_config: {
              type: "standard",
              host: "smtp.example.com",
              port: 587,
              username: "u",
              password: "p",
              sender_name: "App",
              sender_email: "not an address",
            },
          },
        },
        "sender_email",
      ],
      [
        {
          config: {
            email_config: {
              type: "standard",
              host: "",
              port: 587,
              username: "u",
              password: "p",
              sender_name: "App",
              sender_email: "app@example.com",
            },
          },
        },
        "host",
      ],
    ];
    for (const [body, field] of refused) {
      const res = await patch(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code, JSON.stringify(body)).toBe("SCHEMA_ERROR");
      expect(res.body.error, JSON.stringify(body)).toContain(field);
    }
    const accepted = await patch({
      display_name: "",
      logo_url: "data:image/png;base64,iVBORw0KGgo=",
      logo_full_url: "https://example.com/full.png",
      config: {
        // A shared server may carry the standard fields (the dashboard keeps them when switching).
        email_config: { type: "shared", host: "smtp.example.com" },
        domains: [
          { domain: "https://b.example.com", handler_path: "/handler" },
          { domain: "https://a.example.com", handler_path: "/auth" },
        ],
        team_member_default_permissions: [
          { id: "team_member" },
          { id: "no_such_permission" },
          { id: "$read_members" },
        ],
      },
    });
    expect(accepted.status).toBe(200);
    expect(accepted.body.display_name).toBe("");
    expect(accepted.body.logo_url).toBe("data:image/png;base64,iVBORw0KGgo=");
    expect(accepted.body.config.email_config).toEqual({ type: "shared" });
    // In upstream's order, and only permissions that exist.
    expect(accepted.body.config.domains.map((d: { domain: string }) => d.domain)).toEqual([
      "https://a.example.com",
      "https://b.example.com",
    ]);
    expect(accepted.body.config.team_member_default_permissions).toEqual([
      { id: "$read_members" },
      { id: "team_member" },
    ]);
  });

  it("deletes a project and everything it owns", async () => {
    const doomed = await createTestProject(test, "Doomed");
    const headers = keyHeaders(doomed.projectId, "admin", doomed.keys);
    const res = await api(test.url, "/api/v1/internal/projects/current", { method: "DELETE", headers });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true });
    const after = await api(test.url, "/api/v1/projects/current", { headers });
    expect(after.status).toBe(400);
    expect(after.body).toMatchObject({
      code: "CURRENT_PROJECT_NOT_FOUND",
      details: { project_id: doomed.projectId },
    });
  });
});

describe("tenant isolation", () => {
  it("rejects project B's keys sent with project A's id, for every access type", async () => {
    const expected = {
      client: "INVALID_PUBLISHABLE_CLIENT_KEY",
      server: "INVALID_SECRET_SERVER_KEY",
      admin: "INVALID_SUPER_SECRET_ADMIN_KEY",
    } as const;
    for (const type of ["client", "server", "admin"] as const) {
      const res = await api(test.url, "/api/v1/projects/current", {
        headers: keyHeaders(projectA.projectId, type, projectB.keys),
      });
      expect(res.status).toBe(401);
      expect(res.body).toEqual(
        expect.objectContaining({ code: expected[type], details: { project_id: projectA.projectId } }),
      );
      expect(res.headers.get("x-stack-known-error")).toBe(expected[type]);
    }
  });

  it("never shows project B's key sets or config to project A's admin", async () => {
    const keysA = await api(test.url, "/api/v1/internal/api-keys", {
      headers: keyHeaders(projectA.projectId, "admin", projectA.keys),
    });
    const keysB = await api(test.url, "/api/v1/internal/api-keys", {
      headers: keyHeaders(projectB.projectId, "admin", projectB.keys),
    });
    const idsA = keysA.body.items.map((k: { id: string }) => k.id);
    const idsB = keysB.body.items.map((k: { id: string }) => k.id);
    expect(idsA).toHaveLength(1);
    expect(idsB).toHaveLength(1);
    expect(idsA).not.toContain(idsB[0]);
    const crossRead = await api(test.url, `/api/v1/internal/api-keys/${idsB[0]}`, {
      headers: keyHeaders(projectA.projectId, "admin", projectA.keys),
    });
    expect(crossRead.status).toBe(404);
    expect(crossRead.body.code).toBe("API_KEY_NOT_FOUND");
  });
});

describe("deleting a project while it is used", () => {
  it("deletes it once when asked several times at once", async () => {
    const doomed = await createTestProject(test, "Doomed");
    const admin = keyHeaders(doomed.projectId, "admin", doomed.keys);
    // Holds the project until all three deletes wait on it, so they really overlap.
    const answers = await behindLock(
      test.database.url,
      { lock: "SELECT 1 FROM projects WHERE id = $1 FOR SHARE", params: [doomed.projectId], waiters: 3 },
      () =>
        Promise.all(
          [1, 2, 3].map(() =>
            api(test.url, "/api/v1/internal/projects/current", { method: "DELETE", headers: admin }),
          ),
        ),
    );
    expect(answers.map((answer) => answer.body?.code ?? answer.status).sort()).toEqual([
      200,
      "CURRENT_PROJECT_NOT_FOUND",
      "CURRENT_PROJECT_NOT_FOUND",
    ]);
  });

  it("answers a write that lands after the delete as the project's keys are answered from then on", async () => {
    const doomed = await createTestProject(test, "Doomed too");
    const created = await behindLock(
      test.database.url,
      {
        lock: "SELECT 1 FROM tenancies WHERE project_id = $1 FOR UPDATE",
        meanwhile: ["DELETE FROM projects WHERE id = $1"],
        params: [doomed.projectId],
      },
      () =>
        api(test.url, "/api/v1/users", {
          method: "POST",
          headers: keyHeaders(doomed.projectId, "server", doomed.keys),
          body: { display_name: "Late" },
        }),
    );
    expect(created.status).toBe(400);
    expect(created.body).toMatchObject({
      code: "CURRENT_PROJECT_NOT_FOUND",
      details: { project_id: doomed.projectId },
    });
  });
});

describe("project key sets", () => {
  it("work until the last instant they may be given, the end of the year 9999", async () => {
    const admin = keyHeaders(projectA.projectId, "admin", projectA.keys);
    const created = await api(test.url, "/api/v1/internal/api-keys", {
      method: "POST",
      headers: admin,
      body: {
        description: "long-lived",
        expires_at_millis: LATEST_TIMESTAMP_MILLIS,
        has_publishable_client_key: false,
        has_secret_server_key: true,
        has_super_secret_admin_key: false,
      },
    });
    expect(created.status).toBe(200);
    expect(created.body.expires_at_millis).toBe(LATEST_TIMESTAMP_MILLIS);
    const used = await api(test.url, "/api/v1/projects/current", {
      headers: keyHeaders(projectA.projectId, "server", created.body),
    });
    expect(used.status).toBe(200);
    const listed = await api(test.url, "/api/v1/internal/api-keys", { headers: admin });
    expect(listed.body.items.find((k: { id: string }) => k.id === created.body.id).expires_at_millis).toBe(
      LATEST_TIMESTAMP_MILLIS,
    );
  });
});
