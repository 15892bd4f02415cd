import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  adminHeaders,
  api,
  clientHeaders,
  createTestProject,
  expectKnownError,
  serverHeaders,
  signUpWithPassword,
  startTestServer,
  type TestProject,
  type TestServer,
} from "../../../test/server.ts";

/** `DELETE /project-permissions/{user_id}/{permission_id}` (spec core-api §5). */
let test: TestServer;
let project: TestProject;
let other: TestProject;

async function define(p: TestProject, id: string, contained: string[] = []) {
  const res = await api(test.url, "/api/v1/project-permission-definitions", {
    method: "POST",
    headers: adminHeaders(p),
    body: { id, contained_permission_ids: contained },
  });
  expect(res.status).toBe(201);
}

beforeAll(async () => {
  test = await startTestServer();
  project = await createTestProject(test, "Project permissions");
  other = await createTestProject(test, "Other project permissions");
  await define(project, "read_reports");
  await define(project, "write_reports");
  await define(project, "manage_reports", ["read_reports"]);
  await define(other, "read_reports");
});
afterAll(() => test?.close());

const server = (p = project) => serverHeaders(p);
const signUp = (p = project) => signUpWithPassword(test, p);

const grant = async (userId: string, permissionId: string, p = project) => {
  const res = await api(test.url, `/api/v1/project-permissions/${userId}/${permissionId}`, {
    method: "POST",
    headers: server(p),
    body: {},
  });
  expect(res.status).toBe(201);
};

const revoke = (userId: string, permissionId: string, headers: Record<string, string> = server()) =>
  api(test.url, `/api/v1/project-permissions/${userId}/${permissionId}`, {
    method: "DELETE",
    headers,
    body: {},
  });

const direct = async (userId: string, p = project) => {
  const res = await api(test.url, `/api/v1/project-permissions?user_id=${userId}`, { headers: server(p) });
  expect(res.status).toBe(200);
  return (res.body.items as { id: string }[]).map((item) => item.id).sort();
};

describe("DELETE /project-permissions/{user_id}/{permission_id}", () => {
  it("revokes a direct grant of one user only", async () => {
    const user = await signUp();
    const bystander = await signUp();
    await grant(user.user_id, "read_reports");
    await grant(user.user_id, "write_reports");
    await grant(bystander.user_id, "read_reports");

    const res = await revoke(user.user_id, "read_reports");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ success: true });
    expect(await direct(user.user_id)).toEqual(["write_reports"]);
    expect(await direct(bystander.user_id)).toEqual(["read_reports"]);

    // Gone: a second revoke finds nothing.
    const again = await revoke(user.user_id, "read_reports");
    expectKnownError(again, 404, "PERMISSION_NOT_FOUND");
    expect(again.body.details).toEqual({ permission_id: "read_reports" });
  });

  it("works with admin access and for `me` with the user's token", async () => {
    const user = await signUp();
    await grant(user.user_id, "read_reports");
    await grant(user.user_id, "write_reports");
    expect((await revoke(user.user_id, "read_reports", adminHeaders(project))).body).toEqual({
      success: true,
    });
    const asMe = await revoke("me", "write_reports", {
      ...server(),
      "x-stack-access-token": user.access_token,
    });
    expect(asMe.status).toBe(200);
    expect(asMe.body).toEqual({ success: true });
    expect(await direct(user.user_id)).toEqual([]);
    expectKnownError(await revoke("me", "read_reports"), 400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
  });

  it("is not allowed to clients", async () => {
    const user = await signUp();
    await grant(user.user_id, "read_reports");
    for (const userId of ["me", user.user_id]) {
      const res = await revoke(userId, "read_reports", clientHeaders(project, user.access_token));
      expectKnownError(res, 401, "INSUFFICIENT_ACCESS_TYPE");
      expect(res.body.details).toEqual({
        actual_access_type: "client",
        allowed_access_types: ["server", "admin"],
      });
    }
    expect(await direct(user.user_id)).toEqual(["read_reports"]);
  });

  it("revokes only direct grants, not permissions held through a containing one", async () => {
    const user = await signUp();
    await grant(user.user_id, "manage_reports");
    const recursive = await api(
      test.url,
      `/api/v1/project-permissions?user_id=${user.user_id}&recursive=true`,
      {
        headers: server(),
      },
    );
    expect((recursive.body.items as { id: string }[]).map((i) => i.id).sort()).toEqual([
      "manage_reports",
      "read_reports",
    ]);
    expectKnownError(await revoke(user.user_id, "read_reports"), 404, "PERMISSION_NOT_FOUND");
    expect(await direct(user.user_id)).toEqual(["manage_reports"]);
  });

  it("answers PERMISSION_NOT_FOUND for a permission the user does not hold or that is not defined", async () => {
    const user = await signUp();
    const notHeld = await revoke(user.user_id, "write_reports");
    expectKnownError(notHeld, 404, "PERMISSION_NOT_FOUND");
    expect(notHeld.body.details).toEqual({ permission_id: "write_reports" });
    const undefinedPermission = await revoke(user.user_id, "no_such_permission");
    expectKnownError(undefinedPermission, 404, "PERMISSION_NOT_FOUND");
    expect(undefinedPermission.body.details).toEqual({ permission_id: "no_such_permission" });
  });

  it("answers USER_NOT_FOUND for a user that does not exist", async () => {
    expectKnownError(await revoke(randomUUID(), "read_reports"), 404, "USER_NOT_FOUND");
  });

  it("never reaches another project's users", async () => {
    const user = await signUp();
    await grant(user.user_id, "read_reports");
    // Project B knows the permission id but not project A's user.
    const fromOther = await revoke(user.user_id, "read_reports", server(other));
    expect(await direct(user.user_id)).toEqual(["read_reports"]);
    expectKnownError(fromOther, 404, "USER_NOT_FOUND");
  });
});

describe("grants and revocations in the wrong place", () => {
  it("names the scope a permission belongs to when granted in the other one", async () => {
    const user = await signUp();
    const team = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: server(),
      body: { display_name: "Scopes", creator_user_id: user.user_id },
    });
    const asProject = await api(test.url, `/api/v1/project-permissions/${user.user_id}/team_member`, {
      method: "POST",
      headers: server(),
      body: {},
    });
    expectKnownError(asProject, 404, "WRONG_PERMISSION_SCOPE");
    expect(asProject.body).toMatchObject({
      details: { permission_id: "team_member", expected_scope: "project", actual_scope: "team" },
    });
    const asTeam = await api(
      test.url,
      `/api/v1/team-permissions/${team.body.id}/${user.user_id}/read_reports`,
      {
        method: "POST",
        headers: server(),
        body: {},
      },
    );
    expectKnownError(asTeam, 404, "WRONG_PERMISSION_SCOPE");
    expect(asTeam.body).toMatchObject({
      details: { permission_id: "read_reports", expected_scope: "team", actual_scope: "project" },
    });
    const undefinedOne = await api(test.url, `/api/v1/project-permissions/${user.user_id}/nothing_like_it`, {
      method: "POST",
      headers: server(),
      body: {},
    });
    expectKnownError(undefinedOne, 404, "PERMISSION_NOT_FOUND");
    for (const inherited of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      const res = await api(test.url, `/api/v1/project-permissions/${user.user_id}/${inherited}`, {
        method: "POST",
        headers: server(),
        body: {},
      });
      expectKnownError(res, 404, "PERMISSION_NOT_FOUND");
    }
  });

  it("says which team grant is missing when revoking one a member does not have", async () => {
    const user = await signUp();
    const team = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: server(),
      body: { display_name: "Revocations", creator_user_id: user.user_id },
    });
    const revokeTeam = (userId: string, permissionId: string) =>
      api(test.url, `/api/v1/team-permissions/${team.body.id}/${userId}/${permissionId}`, {
        method: "DELETE",
        headers: server(),
      });
    const notGranted = await revokeTeam(user.user_id, "$invite_members");
    expectKnownError(notGranted, 401, "TEAM_PERMISSION_NOT_FOUND");
    expect(notGranted.body.details).toEqual({
      team_id: team.body.id,
      user_id: user.user_id,
      permission_id: "$invite_members",
    });
    const stranger = await signUp();
    expectKnownError(await revokeTeam(stranger.user_id, "team_member"), 404, "TEAM_MEMBERSHIP_NOT_FOUND");
    expectKnownError(await revokeTeam(randomUUID(), "team_member"), 404, "USER_NOT_FOUND");
    // What a member has, it loses.
    expect((await revokeTeam(user.user_id, "team_admin")).status).toBe(200);
  });
});
