import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { behindLock } from "../../../test/database.ts";
import {
  adminHeaders,
  api,
  createTestProject,
  patchEnvironmentConfig,
  serverHeaders,
  signUpWithPassword,
  startTestServer,
  type TestProject,
  type TestServer,
} from "../../../test/server.ts";

/** Teams, memberships and keys written while what they point at is deleted by another request. */
let test: TestServer;
let project: TestProject;

beforeAll(async () => {
  test = await startTestServer();
  project = await createTestProject(test, "Team concurrency project");
  await patchEnvironmentConfig(test, project, { "apiKeys.enabled.user": true });
});
afterAll(() => test?.close());

const call = (path: string, method = "GET", body?: unknown) =>
  api(test.url, `/api/v1${path}`, { method, headers: serverHeaders(project), body });

async function newTeam(): Promise<string> {
  const team = await call("/teams", "POST", { display_name: "Racing team" });
  expect(team.status).toBe(201);
  return team.body.id;
}

/**
 * Holds a row locked (as a delete of it would) while `request` starts, then runs the delete and
 * commits: the request lands between its own existence check and its write, where a real race puts it.
 */
const deletedUnder = <T>(lockSql: string, deleteSql: string, ids: string[], request: () => Promise<T>) =>
  behindLock(test.database.url, { lock: lockSql, meanwhile: [deleteSql], params: ids }, request);

const jpeg = Buffer.from(
  "ffd8ffe000104a46494600010100000100010000ffc00011080002000303012200021101031101ffd9",
  "hex",
);

async function storedImages(): Promise<number> {
  const { rows } = await test.server.app.database.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM profile_images",
  );
  return rows[0]!.n;
}

describe("writes that race a delete", () => {
  it("answers a member added to a team deleted meanwhile with TEAM_NOT_FOUND", async () => {
    const teamId = await newTeam();
    const user = await signUpWithPassword(test, project);
    const added = await deletedUnder(
      "SELECT 1 FROM teams WHERE id = $1 FOR UPDATE",
      "DELETE FROM teams WHERE id = $1",
      [teamId],
      () => call(`/team-memberships/${teamId}/${user.user_id}`, "POST", {}),
    );
    expect(added.status).toBe(404);
    expect(added.body).toMatchObject({ code: "TEAM_NOT_FOUND", details: { team_id: teamId } });
  });

  it("answers a permission granted to a membership removed meanwhile with TEAM_MEMBERSHIP_NOT_FOUND", async () => {
    const teamId = await newTeam();
    const user = await signUpWithPassword(test, project);
    expect((await call(`/team-memberships/${teamId}/${user.user_id}`, "POST", {})).status).toBe(201);
    const granted = await deletedUnder(
      "SELECT 1 FROM team_members WHERE team_id = $1 AND user_id = $2 FOR UPDATE",
      "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2",
      [teamId, user.user_id],
      () => call(`/team-permissions/${teamId}/${user.user_id}/team_admin`, "POST", {}),
    );
    expect(granted.status).toBe(404);
    expect(granted.body).toMatchObject({
      code: "TEAM_MEMBERSHIP_NOT_FOUND",
      details: { team_id: teamId, user_id: user.user_id },
    });
  });

  it("keeps no picture of a team deleted while its update ran", async () => {
    const teamId = await newTeam();
    const before = await storedImages();
    const patched = await deletedUnder(
      "SELECT 1 FROM teams WHERE id = $1 FOR UPDATE",
      "DELETE FROM teams WHERE id = $1",
      [teamId],
      () =>
        call(`/teams/${teamId}`, "PATCH", {
          profile_image_url: `data:image/jpeg;base64,${jpeg.toString("base64")}`,
        }),
    );
    expect(patched.body).toMatchObject({ code: "TEAM_NOT_FOUND" });
    expect(await storedImages()).toBe(before);
  });

  it("deletes a team once when asked several times at once", async () => {
    const teamId = await newTeam();
    // Holds the team until all four deletes wait on it, so they really overlap.
    const deletes = await behindLock(
      test.database.url,
      { lock: "SELECT 1 FROM teams WHERE id = $1 FOR SHARE", params: [teamId], waiters: 4 },
      () => Promise.all([1, 2, 3, 4].map(() => call(`/teams/${teamId}`, "DELETE"))),
    );
    expect(deletes.map((answer) => answer.body?.code ?? answer.status).sort()).toEqual([
      200,
      "TEAM_NOT_FOUND",
      "TEAM_NOT_FOUND",
      "TEAM_NOT_FOUND",
    ]);
  });

  it("answers a key changed while its user was deleted with API_KEY_NOT_FOUND", async () => {
    const user = await signUpWithPassword(test, project);
    const key = await call("/user-api-keys", "POST", {
      user_id: user.user_id,
      description: "racing key",
      expires_at_millis: null,
    });
    expect(key.status).toBe(200);
    const patched = await deletedUnder(
      "SELECT 1 FROM api_keys WHERE id = $1 FOR UPDATE",
      "DELETE FROM users WHERE id = (SELECT user_id FROM api_keys WHERE id = $1)",
      [key.body.id],
      () => call(`/user-api-keys/${key.body.id}`, "PATCH", { description: "renamed" }),
    );
    expect(patched.status).toBe(404);
    expect(patched.body.code).toBe("API_KEY_NOT_FOUND");
  });
});

describe("permission definitions under concurrent requests", () => {
  const definitions = (method = "GET", path = "", body?: unknown) =>
    api(test.url, `/api/v1/project-permission-definitions${path}`, {
      method,
      headers: adminHeaders(project),
      body,
    });

  /** Holds the project's environment config (as a config change does) until `waiters` requests wait on it. */
  const overlapping = <T>(waiters: number, requests: () => Promise<T>[]) =>
    behindLock(
      test.database.url,
      {
        lock: "SELECT 1 FROM environment_config_overrides WHERE project_id = $1 FOR UPDATE",
        params: [project.projectId],
        waiters,
      },
      () => Promise.all(requests()),
    );
  const listed = async () =>
    (await definitions()).body.items as {
      id: string;
      description?: string;
      contained_permission_ids: string[];
    }[];

  it("creates a definition once when asked several times at once", async () => {
    const answers = await overlapping(4, () =>
      [1, 2, 3, 4].map(() => definitions("POST", "", { id: "once", description: "first" })),
    );
    expect(answers.map((answer) => answer.status).sort()).toEqual([201, 400, 400, 400]);
  });

  it("keeps both of two concurrent changes to different fields", async () => {
    await definitions("POST", "", { id: "two_fields", description: "old" });
    await overlapping(2, () => [
      definitions("PATCH", "/two_fields", { description: "new" }),
      definitions("PATCH", "/two_fields", { contained_permission_ids: ["once"] }),
    ]);
    expect((await listed()).find((d) => d.id === "two_fields")).toEqual({
      id: "two_fields",
      description: "new",
      contained_permission_ids: ["once"],
    });
  });

  it("never brings a deleted definition back, nor leaves grants of it", async () => {
    const user = await signUpWithPassword(test, project);
    await definitions("POST", "", { id: "doomed" });
    const grant = () => call(`/project-permissions/${user.user_id}/doomed`, "POST", {});
    expect((await grant()).status).toBe(201);
    const [deleted, patched, granted] = await overlapping(3, () => [
      definitions("DELETE", "/doomed"),
      definitions("PATCH", "/doomed", { description: "revived?" }),
      grant(),
    ]);
    expect(deleted!.status).toBe(200);
    expect([200, "PERMISSION_NOT_FOUND"]).toContain(patched!.body?.code ?? patched!.status);
    expect([201, "PERMISSION_NOT_FOUND"]).toContain(granted!.body?.code ?? granted!.status);
    expect((await listed()).map((d) => d.id)).not.toContain("doomed");
    const { rows } = await test.server.app.database.pool.query(
      "SELECT 1 FROM user_permissions WHERE user_id = $1 AND permission_id = 'doomed'",
      [user.user_id],
    );
    expect(rows).toEqual([]);
  });
});
