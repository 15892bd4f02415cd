import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  api,
  createTestProject,
  keyHeaders,
  signUpWithPassword,
  startTestServer,
  type TestServer,
} from "../../../test/server.ts";

let test: TestServer;
beforeAll(async () => {
  test = await startTestServer();
});
afterAll(() => test?.close());

const internalClient = (token?: string) => ({
  "x-stack-project-id": "internal",
  "x-stack-access-type": "client",
  ...(token ? { "x-stack-access-token": token } : {}),
});
let n = 0;

async function dashboardUser() {
  const email = `owner${++n}-${Date.now()}@example.com`;
  const res = await api(test.url, "/api/v1/auth/password/sign-up", {
    method: "POST",
    headers: internalClient(),
    body: { email, password: "dashboard password" },
  });
  expect(res.status).toBe(200);
  const me = await api(test.url, "/api/v1/users/me", { headers: internalClient(res.body.access_token) });
  // The internal project gives every dashboard user a personal team to own projects with.
  expect(me.body.selected_team_id).toEqual(expect.any(String));
  return { token: res.body.access_token as string, teamId: me.body.selected_team_id as string };
}

describe("dashboard project management (scenario 25)", () => {
  it("creates and lists projects for internal-project users, and their token is an admin token", async () => {
    const owner = await dashboardUser();
    const created = await api(test.url, "/api/v1/internal/projects", {
      method: "POST",
      headers: internalClient(owner.token),
      body: {
        display_name: "Dashboard app",
        owner_team_id: owner.teamId,
        description: "made in the dashboard",
      },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      display_name: "Dashboard app",
      owner_team_id: owner.teamId,
      description: "made in the dashboard",
    });
    const list = await api(test.url, "/api/v1/internal/projects", { headers: internalClient(owner.token) });
    expect(list.body.is_paginated).toBe(false);
    expect(list.body.items.map((p: { id: string }) => p.id)).toEqual([created.body.id]);

    const adminByToken = {
      "x-stack-project-id": created.body.id,
      "x-stack-access-type": "admin",
      "x-stack-admin-access-token": owner.token,
    };
    const keys = await api(test.url, "/api/v1/internal/api-keys", {
      method: "POST",
      headers: adminByToken,
      body: {
        description: "from the dashboard",
        expires_at_millis: Date.now() + 3_600_000,
        has_publishable_client_key: true,
        has_secret_server_key: true,
        has_super_secret_admin_key: true,
      },
    });
    expect(keys.status).toBe(200);
    expect(keys.body.super_secret_admin_key).toMatch(/^sak_/);
    const users = await api(test.url, "/api/v1/users", {
      headers: keyHeaders(created.body.id, "admin", keys.body),
    });
    expect(users.body).toEqual({ items: [], is_paginated: true, pagination: { next_cursor: null } });
    const patched = await api(test.url, `/api/v1/internal/api-keys/${keys.body.id}`, {
      method: "PATCH",
      headers: adminByToken,
      body: { description: "renamed" },
    });
    expect(patched.body.super_secret_admin_key).toEqual({
      last_four: keys.body.super_secret_admin_key.slice(-4),
    });
    const unchanged = await api(test.url, `/api/v1/internal/api-keys/${keys.body.id}`, {
      method: "PATCH",
      headers: adminByToken,
      body: {},
    });
    expect(unchanged.status).toBe(200);
    expect(unchanged.body).toEqual(patched.body);

    const outsider = await dashboardUser();
    const notAdmin = await api(test.url, "/api/v1/internal/api-keys", {
      headers: { ...adminByToken, "x-stack-admin-access-token": outsider.token },
    });
    expect(notAdmin.status).toBe(401);
    expect(notAdmin.body.code).toBe("ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN");
    // An anonymous dashboard visitor's token is not an admin token of any kind.
    const anonymous = await api(test.url, "/api/v1/auth/anonymous/sign-up", {
      method: "POST",
      headers: internalClient(),
    });
    expect(anonymous.status).toBe(200);
    const anonymousAsAdmin = await api(test.url, "/api/v1/internal/api-keys", {
      headers: { ...adminByToken, "x-stack-admin-access-token": anonymous.body.access_token },
    });
    expect(anonymousAsAdmin.status).toBe(401);
    expect(anonymousAsAdmin.body.code).toBe("UNPARSABLE_ADMIN_ACCESS_TOKEN");
    expect(
      (await api(test.url, "/api/v1/internal/projects", { headers: internalClient(outsider.token) })).body
        .items,
    ).toEqual([]);
    const foreignTeam = await api(test.url, "/api/v1/internal/projects", {
      method: "POST",
      headers: internalClient(outsider.token),
      body: { display_name: "x", owner_team_id: owner.teamId },
    });
    expect(foreignTeam.status).toBe(404);
    expect(foreignTeam.body.code).toBe("TEAM_MEMBERSHIP_NOT_FOUND");

    // A token that outlived its dashboard user is told apart from one of a user who may not manage.
    const leaver = await dashboardUser();
    const me = await api(test.url, "/api/v1/users/me", { headers: internalClient(leaver.token) });
    const deleted = await api(test.url, `/api/v1/users/${me.body.id}`, {
      method: "DELETE",
      headers: keyHeaders("internal", "server", test.internalKeys),
    });
    expect(deleted.status).toBe(200);
    const orphaned = await api(test.url, "/api/v1/internal/api-keys", {
      headers: { ...adminByToken, "x-stack-admin-access-token": leaver.token },
    });
    expect(orphaned.status).toBe(401);
    expect(orphaned.headers.get("x-stack-known-error")).toBeNull();
    expect(orphaned.text).toBe(
      "The user associated with the admin access token is no longer valid. Please refresh the admin access token and try again.",
    );
  });

  it("answers the contract's errors", async () => {
    const noUser = await api(test.url, "/api/v1/internal/projects", { headers: internalClient() });
    expect(noUser.status).toBe(401);
    expect(noUser.body.code).toBe("USER_AUTHENTICATION_REQUIRED");
    const project = await createTestProject(test);
    const noUserElsewhere = await api(test.url, "/api/v1/internal/projects", {
      headers: keyHeaders(project.projectId, "client", project.keys),
    });
    expect(noUserElsewhere.body.code).toBe("USER_AUTHENTICATION_REQUIRED");
    const someone = await signUpWithPassword(test, project);
    const notInternal = await api(test.url, "/api/v1/internal/projects", {
      headers: {
        ...keyHeaders(project.projectId, "client", project.keys),
        "x-stack-access-token": someone.access_token,
      },
    });
    expect(notInternal.status).toBe(401);
    expect(notInternal.body.code).toBe("EXPECTED_INTERNAL_PROJECT");
    const invalid = await api(test.url, "/api/v1/internal/api-keys", {
      headers: {
        "x-stack-project-id": project.projectId,
        "x-stack-access-type": "admin",
        "x-stack-admin-access-token": "invalid",
      },
    });
    expect(invalid.status).toBe(401);
    expect(invalid.body.code).toBe("UNPARSABLE_ADMIN_ACCESS_TOKEN");
    const asServer = await api(test.url, "/api/v1/internal/api-keys", {
      headers: keyHeaders(project.projectId, "server", project.keys),
    });
    expect(asServer.body).toMatchObject({
      code: "INSUFFICIENT_ACCESS_TYPE",
      details: { allowed_access_types: ["admin"] },
    });
  });
});
