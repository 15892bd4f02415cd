import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  adminHeaders,
  api,
  clientHeaders,
  createTestProject,
  expectKnownError,
  patchEnvironmentConfig,
  serverHeaders,
  signUpWithPassword,
  startTestServer,
  type TestProject,
  type TestServer,
} from "../../../test/server.ts";

/**
 * Reads and updates of user and team API keys (spec core-api §7): `GET /team-api-keys`,
 * `GET|PATCH /team-api-keys/{id}` and `GET /user-api-keys/{id}`.
 */
let test: TestServer;
let project: TestProject;
let other: TestProject;
let disabled: TestProject;

beforeAll(async () => {
  test = await startTestServer();
  project = await createTestProject(test, "API keys project");
  other = await createTestProject(test, "Other API keys project");
  disabled = await createTestProject(test, "No API keys project");
  const enabled = { "apiKeys.enabled.user": true, "apiKeys.enabled.team": true };
  await patchEnvironmentConfig(test, project, enabled);
  await patchEnvironmentConfig(test, other, enabled);
});
afterAll(() => test?.close());

const client = (token?: string, p = project) => clientHeaders(p, token);
const server = (p = project) => serverHeaders(p);
const signUp = (p = project) => signUpWithPassword(test, p);

async function createTeam(creatorUserId: string, p = project): Promise<string> {
  const team = await api(test.url, "/api/v1/teams", {
    method: "POST",
    headers: server(p),
    body: { display_name: "Key team", creator_user_id: creatorUserId },
  });
  expect(team.status).toBe(201);
  return team.body.id;
}

async function addMember(teamId: string, userId: string, p = project) {
  const added = await api(test.url, `/api/v1/team-memberships/${teamId}/${userId}`, {
    method: "POST",
    headers: server(p),
    body: {},
  });
  expect(added.status).toBe(201);
}

async function createKey(
  type: "user" | "team",
  headers: Record<string, string>,
  body: Record<string, unknown>,
) {
  const created = await api(test.url, `/api/v1/${type}-api-keys`, { method: "POST", headers, body });
  expect(created.status).toBe(200);
  return created.body as { id: string; value: string; created_at_millis: number };
}

/** A team with an admin (its creator, who holds $manage_api_keys), a plain member and two keys. */
async function teamWithKeys() {
  const owner = await signUp();
  const member = await signUp();
  const teamId = await createTeam(owner.user_id);
  await addMember(teamId, member.user_id);
  const expiresAt = Date.now() + 3_600_000;
  const first = await createKey("team", client(owner.access_token), {
    description: "first",
    expires_at_millis: expiresAt,
    team_id: teamId,
  });
  const second = await createKey("team", server(), {
    description: "second",
    expires_at_millis: null,
    is_public: true,
    team_id: teamId,
  });
  return { owner, member, teamId, first, second, expiresAt };
}

describe("GET /team-api-keys", () => {
  it("lists a team's keys newest first, obfuscated, to server and to members who manage keys", async () => {
    const { owner, teamId, first, second, expiresAt } = await teamWithKeys();
    const expected = [
      {
        id: second.id,
        description: "second",
        created_at_millis: second.created_at_millis,
        is_public: true,
        type: "team",
        team_id: teamId,
        value: { last_four: second.value.slice(-4) },
      },
      {
        id: first.id,
        description: "first",
        created_at_millis: first.created_at_millis,
        expires_at_millis: expiresAt,
        is_public: false,
        type: "team",
        team_id: teamId,
        value: { last_four: first.value.slice(-4) },
      },
    ];
    const asServer = await api(test.url, `/api/v1/team-api-keys?team_id=${teamId}`, { headers: server() });
    expect(asServer.status).toBe(200);
    expect(asServer.body).toEqual({ items: expected, is_paginated: false });
    const asAdmin = await api(test.url, `/api/v1/team-api-keys?team_id=${teamId}`, {
      headers: adminHeaders(project),
    });
    expect(asAdmin.body).toEqual({ items: expected, is_paginated: false });
    const asOwner = await api(test.url, `/api/v1/team-api-keys?team_id=${teamId}`, {
      headers: client(owner.access_token),
    });
    expect(asOwner.status).toBe(200);
    expect(asOwner.body).toEqual({ items: expected, is_paginated: false });

    // Another team of the same project has its own (empty) list.
    const otherTeam = await createTeam(owner.user_id);
    const empty = await api(test.url, `/api/v1/team-api-keys?team_id=${otherTeam}`, { headers: server() });
    expect(empty.body).toEqual({ items: [], is_paginated: false });
  });

  it("hides the team from clients who may not manage its keys", async () => {
    const { member, teamId } = await teamWithKeys();
    const outsider = await signUp();
    for (const token of [member.access_token, outsider.access_token]) {
      const res = await api(test.url, `/api/v1/team-api-keys?team_id=${teamId}`, { headers: client(token) });
      expectKnownError(res, 404, "API_KEY_NOT_FOUND");
    }
    const signedOut = await api(test.url, `/api/v1/team-api-keys?team_id=${teamId}`, { headers: client() });
    expectKnownError(signedOut, 401, "USER_AUTHENTICATION_REQUIRED");
  });

  it("requires team_id and the team-key feature flag", async () => {
    const noTeam = await api(test.url, "/api/v1/team-api-keys", { headers: server() });
    expectKnownError(noTeam, 400, "SCHEMA_ERROR");
    const off = await api(test.url, `/api/v1/team-api-keys?team_id=${randomUUID()}`, {
      headers: server(disabled),
    });
    expect(off.status).toBe(400);
    expect(off.headers.get("x-stack-known-error")).toBeNull();
    expect(off.text).toBe("Team API keys are not enabled for this project.");
  });

  it("never shows a project's keys to another project", async () => {
    const { teamId } = await teamWithKeys();
    const fromOther = await api(test.url, `/api/v1/team-api-keys?team_id=${teamId}`, {
      headers: server(other),
    });
    expect(fromOther.status).toBe(200);
    expect(fromOther.body).toEqual({ items: [], is_paginated: false });
  });
});

describe("GET /team-api-keys/{id}", () => {
  it("reads one key for server, admin and members who manage keys", async () => {
    const { owner, teamId, first, expiresAt } = await teamWithKeys();
    const expected = {
      id: first.id,
      description: "first",
      created_at_millis: first.created_at_millis,
      expires_at_millis: expiresAt,
      is_public: false,
      type: "team",
      team_id: teamId,
      value: { last_four: first.value.slice(-4) },
    };
    for (const headers of [server(), adminHeaders(project), client(owner.access_token)]) {
      const res = await api(test.url, `/api/v1/team-api-keys/${first.id}?team_id=${teamId}`, { headers });
      expect(res.status).toBe(200);
      expect(res.body).toEqual(expected);
    }
  });

  it("answers the contract's errors", async () => {
    const { member, teamId, first } = await teamWithKeys();
    const read = (id: string, query: string, headers: Record<string, string>) =>
      api(test.url, `/api/v1/team-api-keys/${id}${query}`, { headers });

    const noTeam = await read(first.id, "", server());
    expectKnownError(noTeam, 400, "SCHEMA_ERROR");
    expect(noTeam.body.error).toContain("query.team_id must be defined");
    // The team named is required but does not choose the key: the key's own team decides.
    const namingAnotherTeam = await read(first.id, `?team_id=${randomUUID()}`, server());
    expect(namingAnotherTeam.status).toBe(200);
    expect(namingAnotherTeam.body.team_id).toBe(teamId);
    expectKnownError(await read(randomUUID(), `?team_id=${teamId}`, server()), 404, "API_KEY_NOT_FOUND");
    expectKnownError(
      await read(first.id, `?team_id=${teamId}`, client(member.access_token)),
      404,
      "API_KEY_NOT_FOUND",
    );
    expectKnownError(
      await read(first.id, `?team_id=${teamId}`, client()),
      401,
      "USER_AUTHENTICATION_REQUIRED",
    );

    // An outsider who manages keys of its own team cannot reach this team's key through it.
    const outsider = await signUp();
    const ownTeam = await createTeam(outsider.user_id);
    expectKnownError(
      await read(first.id, `?team_id=${teamId}`, client(outsider.access_token)),
      404,
      "API_KEY_NOT_FOUND",
    );
    expectKnownError(
      await read(first.id, `?team_id=${ownTeam}`, client(outsider.access_token)),
      404,
      "API_KEY_NOT_FOUND",
    );

    // A user key is not a team key.
    const userKey = await createKey("user", client(member.access_token), {
      description: "mine",
      expires_at_millis: null,
      user_id: "me",
    });
    expectKnownError(await read(userKey.id, `?team_id=${teamId}`, server()), 404, "API_KEY_NOT_FOUND");

    const off = await read(first.id, `?team_id=${teamId}`, server(disabled));
    expect(off.status).toBe(400);
    expect(off.text).toBe("Team API keys are not enabled for this project.");
  });

  it("never shows a project's key to another project", async () => {
    const { teamId, first } = await teamWithKeys();
    const fromOther = await api(test.url, `/api/v1/team-api-keys/${first.id}?team_id=${teamId}`, {
      headers: server(other),
    });
    expectKnownError(fromOther, 404, "API_KEY_NOT_FOUND");
    const adminOfOther = await api(test.url, `/api/v1/team-api-keys/${first.id}?team_id=${teamId}`, {
      headers: adminHeaders(other),
    });
    expectKnownError(adminOfOther, 404, "API_KEY_NOT_FOUND");
  });
});

describe("PATCH /team-api-keys/{id}", () => {
  it("renames and revokes once, for members who manage keys", async () => {
    const { owner, teamId, first } = await teamWithKeys();
    const patch = (body: unknown, headers = client(owner.access_token)) =>
      api(test.url, `/api/v1/team-api-keys/${first.id}?team_id=${teamId}`, {
        method: "PATCH",
        headers,
        body,
      });

    const renamed = await patch({ description: "renamed" });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({
      id: first.id,
      description: "renamed",
      team_id: teamId,
      type: "team",
    });
    expect(renamed.body).not.toHaveProperty("manually_revoked_at_millis");
    expect(renamed.body.value).toEqual({ last_four: first.value.slice(-4) });

    const check = () =>
      api(test.url, "/api/v1/team-api-keys/check", {
        method: "POST",
        headers: server(),
        body: { api_key: first.value },
      });
    expect((await check()).status).toBe(200);

    const revoked = await patch({ revoked: true }, server());
    expect(revoked.status).toBe(200);
    expect(revoked.body.manually_revoked_at_millis).toEqual(expect.any(Number));
    expect(revoked.body.description).toBe("renamed");
    expectKnownError(await check(), 401, "API_KEY_REVOKED");
    const again = await patch({ revoked: true, description: "after revocation" });
    expect(again.body.manually_revoked_at_millis).toBe(revoked.body.manually_revoked_at_millis);
    expect(again.body.description).toBe("after revocation");

    const read = await api(test.url, `/api/v1/team-api-keys/${first.id}?team_id=${teamId}`, {
      headers: server(),
    });
    expect(read.body).toEqual(again.body);
  });

  it("answers the contract's errors and leaves the key as it was", async () => {
    const { member, teamId, first } = await teamWithKeys();
    const patch = (id: string, query: string, body: unknown, headers: Record<string, string>) =>
      api(test.url, `/api/v1/team-api-keys/${id}${query}`, { method: "PATCH", headers, body });

    expectKnownError(await patch(first.id, "", { description: "x" }, server()), 400, "SCHEMA_ERROR");
    expectKnownError(
      await patch(first.id, `?team_id=${teamId}`, { description: "x", team_id: teamId }, server()),
      400,
      "SCHEMA_ERROR",
    );
    expectKnownError(
      await patch(randomUUID(), `?team_id=${teamId}`, { description: "x" }, server()),
      404,
      "API_KEY_NOT_FOUND",
    );
    expectKnownError(
      await patch(first.id, `?team_id=${teamId}`, { revoked: true }, client(member.access_token)),
      404,
      "API_KEY_NOT_FOUND",
    );
    expectKnownError(
      await patch(first.id, `?team_id=${teamId}`, { revoked: true }, server(other)),
      404,
      "API_KEY_NOT_FOUND",
    );

    const read = await api(test.url, `/api/v1/team-api-keys/${first.id}?team_id=${teamId}`, {
      headers: server(),
    });
    expect(read.body.description).toBe("first");
    expect(read.body).not.toHaveProperty("manually_revoked_at_millis");
    const check = await api(test.url, "/api/v1/team-api-keys/check", {
      method: "POST",
      headers: server(),
      body: { api_key: first.value },
    });
    expect(check.status).toBe(200);
  });
});

describe("GET /user-api-keys/{id}", () => {
  async function userWithKey() {
    const owner = await signUp();
    const key = await createKey("user", client(owner.access_token), {
      description: "personal",
      expires_at_millis: null,
      user_id: "me",
    });
    const expected = {
      id: key.id,
      description: "personal",
      created_at_millis: key.created_at_millis,
      is_public: false,
      type: "user",
      user_id: owner.user_id,
      value: { last_four: key.value.slice(-4) },
    };
    return { owner, key, expected };
  }

  it("reads a key for server, admin and its own user", async () => {
    const { owner, key, expected } = await userWithKey();
    const reads: [string, Record<string, string>][] = [
      ["", server()],
      [`?user_id=${owner.user_id}`, server()],
      ["", adminHeaders(project)],
      ["", client(owner.access_token)],
      ["?user_id=me", client(owner.access_token)],
    ];
    for (const [query, headers] of reads) {
      const res = await api(test.url, `/api/v1/user-api-keys/${key.id}${query}`, { headers });
      expect(res.status).toBe(200);
      expect(res.body).toEqual(expected);
    }
  });

  const expectOwnKeysOnly = (res: { status: number; headers: Headers; text: string }) => {
    expect(res.status).toBe(403);
    expect(res.headers.get("x-stack-known-error")).toBeNull();
    expect(res.text).toBe("Client can only manage their own api keys");
  };

  it("refuses another user's key to a client naming that user", async () => {
    const { owner, key } = await userWithKey();
    const stranger = await signUp();
    const res = await api(test.url, `/api/v1/user-api-keys/${key.id}?user_id=${owner.user_id}`, {
      headers: client(stranger.access_token),
    });
    expectOwnKeysOnly(res);
    const signedOut = await api(test.url, `/api/v1/user-api-keys/${key.id}`, { headers: client() });
    expectKnownError(signedOut, 401, "USER_AUTHENTICATION_REQUIRED");
  });

  it("refuses another user's key to a client that names no user (the key's owner is checked)", async () => {
    const { key } = await userWithKey();
    const stranger = await signUp();
    const res = await api(test.url, `/api/v1/user-api-keys/${key.id}`, {
      headers: client(stranger.access_token),
    });
    expectOwnKeysOnly(res);
  });

  it("finds the key by its id alone: the owner a query names plays no part (upstream)", async () => {
    const { owner, key, expected } = await userWithKey();
    const stranger = await signUp();
    const namingSomeoneElse = await api(
      test.url,
      `/api/v1/user-api-keys/${key.id}?user_id=${stranger.user_id}`,
      {
        headers: server(),
      },
    );
    expect(namingSomeoneElse.status).toBe(200);
    expect(namingSomeoneElse.body).toEqual(expected);
    // Its owner naming someone else still reads it; a stranger naming itself still may not.
    const ownerNamingStranger = await api(
      test.url,
      `/api/v1/user-api-keys/${key.id}?user_id=${stranger.user_id}`,
      {
        headers: client(owner.access_token),
      },
    );
    expect(ownerNamingStranger.body).toEqual(expected);
    expectOwnKeysOnly(
      await api(test.url, `/api/v1/user-api-keys/${key.id}?user_id=me`, {
        headers: client(stranger.access_token),
      }),
    );
    // A key that does not exist is not found, before a signed-out client is asked to sign in.
    expectKnownError(
      await api(test.url, `/api/v1/user-api-keys/${randomUUID()}`, { headers: client() }),
      404,
      "API_KEY_NOT_FOUND",
    );
  });

  it("lists only with a user_id, saying so in upstream's words", async () => {
    const res = await api(test.url, "/api/v1/user-api-keys", { headers: server() });
    expectKnownError(res, 400, "SCHEMA_ERROR");
    expect(res.body.error).toBe("user_id is required for user API keys");
  });

  it("answers API_KEY_NOT_FOUND for unknown ids and team keys", async () => {
    const { owner } = await userWithKey();
    expectKnownError(
      await api(test.url, `/api/v1/user-api-keys/${randomUUID()}`, { headers: server() }),
      404,
      "API_KEY_NOT_FOUND",
    );
    expectKnownError(
      await api(test.url, `/api/v1/user-api-keys/${randomUUID()}`, { headers: client(owner.access_token) }),
      404,
      "API_KEY_NOT_FOUND",
    );
    const teamId = await createTeam(owner.user_id);
    const teamKey = await createKey("team", server(), {
      description: "team",
      expires_at_millis: null,
      team_id: teamId,
    });
    expectKnownError(
      await api(test.url, `/api/v1/user-api-keys/${teamKey.id}`, { headers: server() }),
      404,
      "API_KEY_NOT_FOUND",
    );
    const off = await api(test.url, `/api/v1/user-api-keys/${randomUUID()}`, { headers: server(disabled) });
    expect(off.status).toBe(400);
    expect(off.text).toBe("User API keys are not enabled for this project.");
  });

  it("never shows a project's key to another project", async () => {
    const { key } = await userWithKey();
    expectKnownError(
      await api(test.url, `/api/v1/user-api-keys/${key.id}`, { headers: server(other) }),
      404,
      "API_KEY_NOT_FOUND",
    );
    const otherUser = await signUp(other);
    expectKnownError(
      await api(test.url, `/api/v1/user-api-keys/${key.id}`, {
        headers: client(otherUser.access_token, other),
      }),
      404,
      "API_KEY_NOT_FOUND",
    );
  });
});
