import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Mailbox } from "../../../test/mailbox.ts";
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
  uniqueEmail,
} from "../../../test/server.ts";

let test: TestServer;
let mailbox: Mailbox;
let project: TestProject;
let other: TestProject;

beforeAll(async () => {
  mailbox = await Mailbox.start();
  test = await startTestServer({ smtpUrl: mailbox.url });
  project = await createTestProject(test, "Teams project");
  other = await createTestProject(test, "Other project");
});
afterAll(async () => {
  await test?.close();
  await mailbox?.close();
});

const client = (token?: string, p = project) => clientHeaders(p, token);
const server = (p = project) => serverHeaders(p);
const admin = (p = project) => adminHeaders(p);
const freshEmail = () => uniqueEmail();

const signUp = (p = project) => signUpWithPassword(test, p);

const setConfig = (override: Record<string, unknown>, p = project) =>
  patchEnvironmentConfig(test, p, override);

describe("contact channels and verification (scenarios 20, 21)", () => {
  it("adds, lists and deletes channels with the client rules", async () => {
    const session = await signUp();
    const value = freshEmail();
    const add = () =>
      api(test.url, "/api/v1/contact-channels", {
        method: "POST",
        headers: client(session.access_token),
        body: { user_id: "me", type: "email", value, used_for_auth: true },
      });
    const created = await add();
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      value,
      is_primary: false,
      is_verified: false,
      used_for_auth: true,
      user_id: session.user_id,
    });
    const again = await add();
    expect(again.status).toBe(400);
    expect(again.text).toBe("Contact channel already exists");
    const verifiedByServer = await api(test.url, "/api/v1/contact-channels", {
      method: "POST",
      headers: server(),
      body: {
        user_id: session.user_id,
        type: "email",
        value: freshEmail(),
        used_for_auth: false,
        is_verified: true,
      },
    });
    expect(verifiedByServer.body.is_verified).toBe(true);
    const list = await api(test.url, "/api/v1/contact-channels?user_id=me", {
      headers: client(session.access_token),
    });
    expect(list.body.items).toHaveLength(3);
    const stranger = await signUp();
    const forbidden = await api(test.url, `/api/v1/contact-channels?user_id=${stranger.user_id}`, {
      headers: client(session.access_token),
    });
    expect(forbidden.status).toBe(403);
    const noUser = await api(test.url, "/api/v1/contact-channels", { headers: client(session.access_token) });
    expect(noUser.status).toBe(403);
    expect(noUser.text).toBe("Client can only list their own contact channels.");
    const takenForAuth = await api(test.url, "/api/v1/contact-channels", {
      method: "POST",
      headers: client(stranger.access_token),
      body: { user_id: "me", type: "email", value, used_for_auth: true },
    });
    expect(takenForAuth.status).toBe(409);
    expect(takenForAuth.body.code).toBe("CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE");

    const primary = list.body.items.find((c: { is_primary: boolean }) => c.is_primary);
    // A PATCH that changes nothing answers with the channel as it is ({"type":"email"} sets no column).
    for (const body of [{}, { type: "email" }]) {
      const untouched = await api(test.url, `/api/v1/contact-channels/me/${primary.id}`, {
        method: "PATCH",
        headers: client(session.access_token),
        body,
      });
      expect(untouched.status).toBe(200);
      expect(untouched.body).toEqual(primary);
    }
    const del = await api(test.url, `/api/v1/contact-channels/me/${primary.id}`, {
      method: "DELETE",
      headers: client(session.access_token),
    });
    expect(del.body).toEqual({ success: true });
    const me = await api(test.url, "/api/v1/users/me", { headers: client(session.access_token) });
    expect(me.body.primary_email).toBeNull();
  });

  it("verifies a channel once with the e-mailed code", async () => {
    const session = await signUp();
    const channels = await api(test.url, "/api/v1/contact-channels?user_id=me", {
      headers: client(session.access_token),
    });
    const primary = channels.body.items[0];
    const send = await api(test.url, `/api/v1/contact-channels/me/${primary.id}/send-verification-code`, {
      method: "POST",
      headers: client(session.access_token),
      body: { callback_url: "http://localhost:3000/verify" },
    });
    expect(send.body).toEqual({ success: true });
    const code = Mailbox.codeOf(await mailbox.waitFor(session.email, /Verify your e-mail/));
    const check = await api(test.url, "/api/v1/contact-channels/verify/check-code", {
      method: "POST",
      headers: client(),
      body: { code },
    });
    expect(check.body).toEqual({ is_code_valid: true });
    const verify = await api(test.url, "/api/v1/contact-channels/verify", {
      method: "POST",
      headers: client(),
      body: { code },
    });
    expect(verify.body).toEqual({ success: true });
    const reuse = await api(test.url, "/api/v1/contact-channels/verify", {
      method: "POST",
      headers: client(),
      body: { code },
    });
    expect(reuse.status).toBe(409);
    expect(reuse.body.code).toBe("VERIFICATION_CODE_ALREADY_USED");
    const random = await api(test.url, "/api/v1/contact-channels/verify", {
      method: "POST",
      headers: client(),
      body: { code: "a".repeat(45) },
    });
    expect(random.status).toBe(404);
    expect(random.body.code).toBe("VERIFICATION_CODE_NOT_FOUND");
    const resend = await api(test.url, `/api/v1/contact-channels/me/${primary.id}/send-verification-code`, {
      method: "POST",
      headers: client(session.access_token),
      body: { callback_url: "http://localhost:3000/verify" },
    });
    expect(resend.status).toBe(409);
    expect(resend.body.code).toBe("EMAIL_ALREADY_VERIFIED");
    // Already verified is said before the link is judged; another user's channel is refused first.
    const untrustedLink = await api(
      test.url,
      `/api/v1/contact-channels/me/${primary.id}/send-verification-code`,
      {
        method: "POST",
        headers: client(session.access_token),
        body: { callback_url: "https://evil.example.com/verify" },
      },
    );
    expect(untrustedLink.body.code).toBe("EMAIL_ALREADY_VERIFIED");
    const stranger = await signUp();
    const forSomeoneElse = await api(
      test.url,
      `/api/v1/contact-channels/${session.user_id}/${primary.id}/send-verification-code`,
      {
        method: "POST",
        headers: client(stranger.access_token),
        body: { callback_url: "http://localhost:3000/verify" },
      },
    );
    expect(forSomeoneElse.status).toBe(400);
    expect(forSomeoneElse.text).toBe("Can only send verification code for your own user");
    expect(
      (await api(test.url, "/api/v1/users/me", { headers: client(session.access_token) })).body
        .primary_email_verified,
    ).toBe(true);
  });

  it("says so when the channel a code was sent for was deleted meanwhile", async () => {
    const session = await signUp();
    const [primary] = (
      await api(test.url, "/api/v1/contact-channels?user_id=me", { headers: client(session.access_token) })
    ).body.items;
    await api(test.url, `/api/v1/contact-channels/me/${primary.id}/send-verification-code`, {
      method: "POST",
      headers: client(session.access_token),
      body: { callback_url: "http://localhost:3000/verify" },
    });
    const code = Mailbox.codeOf(await mailbox.waitFor(session.email, /Verify your e-mail/));
    await api(test.url, `/api/v1/contact-channels/me/${primary.id}`, {
      method: "DELETE",
      headers: client(session.access_token),
    });
    const verify = await api(test.url, "/api/v1/contact-channels/verify", {
      method: "POST",
      headers: client(),
      body: { code },
    });
    expect(verify.status).toBe(400);
    expect(verify.text).toBe("Contact channel not found. Was your contact channel deleted?");
  });

  it("does not accept another purpose's code", async () => {
    const session = await signUp();
    await api(test.url, "/api/v1/auth/password/send-reset-code", {
      method: "POST",
      headers: client(),
      body: { email: session.email, callback_url: "http://localhost:3000/reset" },
    });
    const resetCode = Mailbox.codeOf(await mailbox.waitFor(session.email, /Reset your password/));
    const res = await api(test.url, "/api/v1/contact-channels/verify", {
      method: "POST",
      headers: client(),
      body: { code: resetCode },
    });
    expect(res.body.code).toBe("VERIFICATION_CODE_NOT_FOUND");
  });
});

describe("personal teams", () => {
  it("gives every new user one when configured, anonymous ones too, named after who they become", async () => {
    const personal = await createTestProject(test, "Personal teams");
    await setConfig({ "teams.createPersonalTeamOnSignUp": true }, personal);
    const selectedTeamOf = async (userId: string) =>
      (await api(test.url, `/api/v1/users/${userId}`, { headers: server(personal) })).body.selected_team;

    const viaPassword = await signUp(personal);
    expect(await selectedTeamOf(viaPassword.user_id)).toMatchObject({
      display_name: `${viaPassword.email}'s Team`,
    });
    const named = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers: server(personal),
      body: { display_name: "Ada" },
    });
    expect(named.body.selected_team.display_name).toBe("Ada's Team");
    const members = await api(test.url, `/api/v1/users?team_id=${named.body.selected_team.id}`, {
      headers: server(personal),
    });
    expect(members.body.items.map((u: { id: string }) => u.id)).toEqual([named.body.id]);

    const anonymous = await api(test.url, "/api/v1/auth/anonymous/sign-up", {
      method: "POST",
      headers: client(undefined, personal),
    });
    const team = await selectedTeamOf(anonymous.body.user_id);
    expect(team.display_name).toBe("Personal Team");
    const email = freshEmail();
    const createdAt = (
      await api(test.url, `/api/v1/users/${anonymous.body.user_id}`, { headers: server(personal) })
    ).body.signed_up_at_millis;
    const beforeUpgrade = Date.now();
    const upgraded = await api(test.url, "/api/v1/auth/password/sign-up", {
      method: "POST",
      headers: { ...client(anonymous.body.access_token, personal), "x-stack-allow-anonymous-user": "true" },
      body: { email, password: "now for real" },
    });
    expect(upgraded.body.user_id).toBe(anonymous.body.user_id);
    expect(await selectedTeamOf(anonymous.body.user_id)).toMatchObject({
      id: team.id,
      display_name: `${email}'s Team`,
    });
    // Its sign-up is dated by the upgrade, not by the anonymous user's creation.
    const signedUpAt = (
      await api(test.url, `/api/v1/users/${anonymous.body.user_id}`, { headers: server(personal) })
    ).body.signed_up_at_millis;
    expect(signedUpAt).toBeGreaterThanOrEqual(beforeUpgrade);
    expect(signedUpAt).toBeGreaterThan(createdAt);

    // A team the user renamed keeps its name.
    const again = await api(test.url, "/api/v1/auth/anonymous/sign-up", {
      method: "POST",
      headers: client(undefined, personal),
    });
    const own = await selectedTeamOf(again.body.user_id);
    await api(test.url, `/api/v1/teams/${own.id}`, {
      method: "PATCH",
      headers: server(personal),
      body: { display_name: "Skunkworks" },
    });
    await api(test.url, `/api/v1/users/${again.body.user_id}`, {
      method: "PATCH",
      headers: server(personal),
      body: { is_anonymous: false, display_name: "Grace" },
    });
    expect((await selectedTeamOf(again.body.user_id)).display_name).toBe("Skunkworks");
  });
});

describe("teams and memberships (scenarios 22, 23)", () => {
  it("applies the client rules for listing and creating teams", async () => {
    const session = await signUp();
    expect((await api(test.url, "/api/v1/teams", { headers: client(session.access_token) })).status).toBe(
      403,
    );
    const mine = await api(test.url, "/api/v1/teams?user_id=me", { headers: client(session.access_token) });
    expect(mine.body).toEqual({ items: [], is_paginated: false });
    const signedOut = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: client(),
      body: { display_name: "T" },
    });
    expect(signedOut.status).toBe(401);
    expect(signedOut.body.code).toBe("USER_AUTHENTICATION_REQUIRED");
    const disabled = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: client(session.access_token),
      body: { display_name: "T" },
    });
    expect(disabled.status).toBe(403);
    await setConfig({ "teams.allowClientTeamCreation": true });
    const stranger = await signUp();
    const forOther = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: client(session.access_token),
      body: { display_name: "T", creator_user_id: stranger.user_id },
    });
    expect(forOther.status).toBe(403);
    const created = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: client(session.access_token),
      body: { display_name: "Client team", creator_user_id: "me" },
    });
    expect(created.status).toBe(201);
    expect(created.body).not.toHaveProperty("server_metadata");
    const notMember = await api(test.url, `/api/v1/teams/${created.body.id}`, {
      headers: client(stranger.access_token),
    });
    expect(notMember.status).toBe(404);
    expect(notMember.body.code).toBe("TEAM_MEMBERSHIP_NOT_FOUND");
    const perms = await api(test.url, `/api/v1/team-permissions?team_id=${created.body.id}&user_id=me`, {
      headers: client(session.access_token),
    });
    expect(perms.body.items).toEqual([
      { id: "team_admin", team_id: created.body.id, user_id: session.user_id },
    ]);
    const recursive = await api(
      test.url,
      `/api/v1/team-permissions?team_id=${created.body.id}&user_id=me&recursive=true`,
      {
        headers: client(session.access_token),
      },
    );
    expect(recursive.body.items.map((p: { id: string }) => p.id)).toContain("$update_team");
    const rename = await api(test.url, `/api/v1/teams/${created.body.id}`, {
      method: "PATCH",
      headers: client(session.access_token),
      body: { display_name: "" },
    });
    expect(rename.body.display_name).toBe("");
    for (const field of ["server_metadata", "client_read_only_metadata"]) {
      const serverOnly = await api(test.url, `/api/v1/teams/${created.body.id}`, {
        method: "PATCH",
        headers: client(session.access_token),
        body: { [field]: { plan: "free forever" } },
      });
      expect(serverOnly.status).toBe(400);
      expect(serverOnly.body.code).toBe("SCHEMA_ERROR");
    }
    const unchanged = await api(test.url, `/api/v1/teams/${created.body.id}`, { headers: server() });
    expect(unchanged.body.server_metadata).toBeNull();
    expect(unchanged.body.client_read_only_metadata).toBeNull();
  });

  it("tells a client that is no member of a team so, whether or not the team exists", async () => {
    const owner = await signUp();
    const outsider = await signUp();
    const team = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: server(),
      body: { display_name: "Members only", creator_user_id: owner.user_id },
    });
    const missing = "00000000-0000-4000-8000-000000000000";
    for (const teamId of [team.body.id, missing]) {
      for (const [method, body] of [
        ["GET", undefined],
        ["PATCH", { display_name: "Taken over" }],
        ["DELETE", undefined],
      ] as const) {
        const res = await api(test.url, `/api/v1/teams/${teamId}`, {
          method,
          headers: client(outsider.access_token),
          ...(body ? { body } : {}),
        });
        expect(res.body.code, `${method} ${teamId}`).toBe("TEAM_MEMBERSHIP_NOT_FOUND");
      }
      const removeOwner = await api(test.url, `/api/v1/team-memberships/${teamId}/${owner.user_id}`, {
        method: "DELETE",
        headers: client(outsider.access_token),
      });
      expect(removeOwner.body.code).toBe("TEAM_MEMBERSHIP_NOT_FOUND");
    }
    expect(
      (await api(test.url, `/api/v1/teams/${team.body.id}`, { headers: server() })).body.display_name,
    ).toBe("Members only");
    const unknownUser = await api(test.url, `/api/v1/team-memberships/${team.body.id}/${missing}`, {
      method: "DELETE",
      headers: server(),
    });
    expect(unknownUser.body.code).toBe("USER_NOT_FOUND");
    const notMember = await api(test.url, `/api/v1/team-memberships/${team.body.id}/${outsider.user_id}`, {
      method: "DELETE",
      headers: server(),
    });
    expect(notMember.body.code).toBe("TEAM_MEMBERSHIP_NOT_FOUND");
  });

  it("tells a signed-out client it has no user wherever it names one", async () => {
    const someone = await signUp();
    const team = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: server(),
      body: { display_name: "Somebody's", creator_user_id: someone.user_id },
    });
    const id = someone.user_id;
    for (const [method, path] of [
      ["GET", `/teams?user_id=${id}`],
      ["GET", `/contact-channels?user_id=${id}`],
      ["GET", `/team-permissions?team_id=${team.body.id}&user_id=${id}`],
      ["GET", `/project-permissions?user_id=${id}`],
      ["GET", `/team-member-profiles?team_id=${team.body.id}`],
      ["GET", `/team-member-profiles/${team.body.id}/${id}`],
      ["DELETE", `/team-memberships/${team.body.id}/${id}`],
    ] as const) {
      const res = await api(test.url, `/api/v1${path}`, { method, headers: client() });
      expect(res.body.code, `${method} ${path}`).toBe("CANNOT_GET_OWN_USER_WITHOUT_USER");
    }
  });

  it("manages memberships and permissions from the server", async () => {
    const creator = await signUp();
    const member = await signUp();
    const noCreator = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: server(),
      body: { display_name: "x", creator_user_id: "00000000-0000-4000-8000-000000000000" },
    });
    expect(noCreator.status).toBe(404);
    expect(noCreator.body.code).toBe("USER_NOT_FOUND");
    const team = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: server(),
      body: {
        display_name: "Server team",
        creator_user_id: creator.user_id,
        server_metadata: { plan: "pro" },
      },
    });
    expect(team.status).toBe(201);
    expect(team.body.server_metadata).toEqual({ plan: "pro" });
    const path = `/api/v1/team-memberships/${team.body.id}/${member.user_id}`;
    const asClient = await api(test.url, path, {
      method: "POST",
      headers: client(creator.access_token),
      body: {},
    });
    expect(asClient.body.code).toBe("INSUFFICIENT_ACCESS_TYPE");
    const add = await api(test.url, path, { method: "POST", headers: server(), body: {} });
    expect(add.status).toBe(201);
    expect(add.body).toEqual({ team_id: team.body.id, user_id: member.user_id });
    const repeat = await api(test.url, path, { method: "POST", headers: server(), body: {} });
    expect(repeat.status).toBe(409);
    expect(repeat.body.code).toBe("TEAM_MEMBERSHIP_ALREADY_EXISTS");
    const unknownUser = await api(
      test.url,
      `/api/v1/team-memberships/${team.body.id}/00000000-0000-4000-8000-000000000000`,
      {
        method: "POST",
        headers: server(),
        body: {},
      },
    );
    expect(unknownUser.body.code).toBe("USER_NOT_FOUND");

    const noPermission = await api(test.url, `/api/v1/teams/${team.body.id}`, {
      method: "PATCH",
      headers: client(member.access_token),
      body: { display_name: "hijack" },
    });
    expect(noPermission.status).toBe(401);
    expect(noPermission.body).toMatchObject({
      code: "TEAM_PERMISSION_REQUIRED",
      details: { team_id: team.body.id, user_id: member.user_id, permission_id: "$update_team" },
    });
    const noDelete = await api(test.url, `/api/v1/teams/${team.body.id}`, {
      method: "DELETE",
      headers: client(member.access_token),
    });
    expect(noDelete.body.code).toBe("TEAM_PERMISSION_REQUIRED");

    const membersList = await api(test.url, `/api/v1/users?team_id=${team.body.id}`, { headers: server() });
    expect(membersList.body.items.map((u: { id: string }) => u.id).sort()).toEqual(
      [creator.user_id, member.user_id].sort(),
    );
    const profiles = await api(test.url, `/api/v1/team-member-profiles?team_id=${team.body.id}`, {
      headers: client(creator.access_token),
    });
    expect(profiles.body.items).toHaveLength(2);

    const leave = await api(test.url, `/api/v1/team-memberships/${team.body.id}/me`, {
      method: "DELETE",
      headers: client(member.access_token),
    });
    expect(leave.body).toEqual({ success: true });
    const gone = await api(test.url, `/api/v1/team-memberships/${team.body.id}/me`, {
      method: "DELETE",
      headers: client(member.access_token),
    });
    expect(gone.body.code).toBe("TEAM_MEMBERSHIP_NOT_FOUND");

    const select = await api(test.url, "/api/v1/users/me", {
      method: "PATCH",
      headers: client(creator.access_token),
      body: { selected_team_id: team.body.id },
    });
    expect(select.body.selected_team).toMatchObject({ id: team.body.id, display_name: "Server team" });
    expect(select.body.selected_team).not.toHaveProperty("server_metadata");
  });

  it("keeps member profiles and permissions inside their project", async () => {
    const owner = await signUp();
    const team = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: server(),
      body: { display_name: "Private", creator_user_id: owner.user_id },
    });
    // To project B, project A's team and user do not exist.
    const fromOther = server(other);
    const listed = await api(test.url, `/api/v1/team-member-profiles?team_id=${team.body.id}`, {
      headers: fromOther,
    });
    expect(listed.body.code).toBe("TEAM_NOT_FOUND");
    const byUser = await api(test.url, `/api/v1/team-member-profiles?user_id=${owner.user_id}`, {
      headers: fromOther,
    });
    expect(byUser.body.code).toBe("USER_NOT_FOUND");
    const profile = await api(test.url, `/api/v1/team-member-profiles/${team.body.id}/${owner.user_id}`, {
      headers: fromOther,
    });
    expect(profile.body.code).toBe("USER_NOT_FOUND");
    expect(
      (await api(test.url, `/api/v1/team-permissions?team_id=${team.body.id}`, { headers: fromOther })).body
        .items,
    ).toEqual([]);
    const grant = await api(
      test.url,
      `/api/v1/team-permissions/${team.body.id}/${owner.user_id}/team_member`,
      {
        method: "POST",
        headers: fromOther,
        body: {},
      },
    );
    expect(grant.body.code).toBe("USER_NOT_FOUND");
    expect(
      (await api(test.url, `/api/v1/project-permissions?user_id=${owner.user_id}`, { headers: fromOther }))
        .body.items,
    ).toEqual([]);
    const own = await api(test.url, `/api/v1/team-member-profiles?team_id=${team.body.id}`, {
      headers: server(),
    });
    expect(own.body.items).toHaveLength(1);
    expect(own.body.items[0].user.id).toBe(owner.user_id);
  });

  it("keeps teams inside their project", async () => {
    const teamB = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: server(other),
      body: { display_name: "B team" },
    });
    expect((await api(test.url, `/api/v1/teams/${teamB.body.id}`, { headers: server() })).body.code).toBe(
      "TEAM_NOT_FOUND",
    );
    const listA = await api(test.url, "/api/v1/teams", { headers: server() });
    expect(listA.body.items.map((t: { id: string }) => t.id)).not.toContain(teamB.body.id);
    const userA = await signUp();
    const cross = await api(test.url, `/api/v1/team-memberships/${teamB.body.id}/${userA.user_id}`, {
      method: "POST",
      headers: server(),
      body: {},
    });
    expect(cross.status).toBe(404);
  });
});

describe("user and team API keys (scenario 24)", () => {
  it("creates, checks and revokes keys", async () => {
    const session = await signUp();
    const create = (
      body: Record<string, unknown>,
      headers: Record<string, string> = client(session.access_token),
    ) => api(test.url, "/api/v1/user-api-keys", { method: "POST", headers, body });
    const disabled = await create({ description: "k", expires_at_millis: null, user_id: "me" });
    expect(disabled.status).toBe(400);
    expect(disabled.text).toBe("User API keys are not enabled for this project.");
    await setConfig({ "apiKeys.enabled.user": true, "apiKeys.enabled.team": true });

    const secret = await create({ description: "secret", expires_at_millis: null, user_id: "me" });
    expect(secret.status).toBe(200);
    expect(secret.body.value).toMatch(/^sk_[0-9a-z]{45}[0-9a-f]{32}user[0-9a-z]574ck4u7h[0-9a-f]{8}$/);
    const pub = await create({
      description: "public",
      expires_at_millis: Date.now() + 3_600_000,
      is_public: true,
      user_id: "me",
    });
    expect(pub.body.value).toMatch(/^pk_/);
    const check = (apiKey: string, type = "user") =>
      api(test.url, `/api/v1/${type}-api-keys/check`, {
        method: "POST",
        headers: server(),
        body: { api_key: apiKey },
      });
    const checked = await check(secret.body.value);
    expect(checked.body).toMatchObject({
      id: secret.body.id,
      user_id: session.user_id,
      type: "user",
      value: { last_four: secret.body.value.slice(-4) },
    });

    const expired = await create({ description: "old", expires_at_millis: Date.now() - 1000, user_id: "me" });
    expect((await check(expired.body.value)).body.code).toBe("API_KEY_EXPIRED");
    expect((await check("sk_unknown")).body.code).toBe("API_KEY_NOT_FOUND");

    const team = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: server(),
      body: { display_name: "Key team", creator_user_id: session.user_id },
    });
    const teamKey = await api(test.url, "/api/v1/team-api-keys", {
      method: "POST",
      headers: client(session.access_token),
      body: { description: "team", expires_at_millis: null, team_id: team.body.id },
    });
    expect(teamKey.status).toBe(200);
    const wrongType = await check(teamKey.body.value);
    expect(wrongType.body).toMatchObject({
      code: "WRONG_API_KEY_TYPE",
      details: { expected_type: "user", actual_type: "team" },
    });
    expect((await check(teamKey.body.value, "team")).body.team_id).toBe(team.body.id);

    const revoke = () =>
      api(test.url, `/api/v1/user-api-keys/${secret.body.id}?user_id=me`, {
        method: "PATCH",
        headers: client(session.access_token),
        body: { revoked: true },
      });
    const first = await revoke();
    expect(first.body.manually_revoked_at_millis).toEqual(expect.any(Number));
    expect((await check(secret.body.value)).body.code).toBe("API_KEY_REVOKED");
    const second = await revoke();
    expect(second.body.manually_revoked_at_millis).toBe(first.body.manually_revoked_at_millis);

    const stranger = await signUp();
    const forOther = await create({ description: "x", expires_at_millis: null, user_id: stranger.user_id });
    expect(forOther.status).toBe(403);
    const listNoUser = await api(test.url, "/api/v1/user-api-keys", { headers: server() });
    expect(listNoUser.body.code).toBe("SCHEMA_ERROR");
    const list = await api(test.url, `/api/v1/user-api-keys?user_id=${session.user_id}`, {
      headers: server(),
    });
    expect(list.body.items.map((k: { id: string }) => k.id)[0]).toBe(expired.body.id);
    expect(list.body.items.every((k: { value: unknown }) => typeof k.value === "object")).toBe(true);

    // Project B, with user keys enabled too, does not know project A's key.
    await setConfig({ "apiKeys.enabled.user": true }, other);
    const otherProjectCheck = await api(test.url, "/api/v1/user-api-keys/check", {
      method: "POST",
      headers: server(other),
      body: { api_key: pub.body.value },
    });
    expect(otherProjectCheck.status).toBe(404);
    expect(otherProjectCheck.body.code).toBe("API_KEY_NOT_FOUND");
  });
});

describe("permission definitions", () => {
  it("defines, grants, expands and deletes a team permission", async () => {
    const defs = `/api/v1/team-permission-definitions`;
    const created = await api(test.url, defs, {
      method: "POST",
      headers: admin(),
      body: { id: "moderator", description: "Moderates", contained_permission_ids: ["$read_members"] },
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: "moderator",
      description: "Moderates",
      contained_permission_ids: ["$read_members"],
    });
    // A PATCH keeps what it does not name, and answers the whole definition.
    const described = await api(test.url, `${defs}/moderator`, {
      method: "PATCH",
      headers: admin(),
      body: { description: "Moderates posts" },
    });
    expect(described.body).toEqual({
      id: "moderator",
      description: "Moderates posts",
      contained_permission_ids: ["$read_members"],
    });
    const widened = await api(test.url, `${defs}/moderator`, {
      method: "PATCH",
      headers: admin(),
      body: { contained_permission_ids: ["$read_members", "$invite_members"] },
    });
    expect(widened.body).toEqual({
      id: "moderator",
      description: "Moderates posts",
      contained_permission_ids: ["$invite_members", "$read_members"],
    });
    const list = await api(test.url, defs, { headers: admin() });
    expect(list.body.items.find((d: { id: string }) => d.id === "moderator")).toEqual(widened.body);
    expect(list.body.items.map((d: { id: string }) => d.id).sort()).toEqual([
      "moderator",
      "team_admin",
      "team_member",
    ]);
    expect((await api(test.url, defs, { headers: server() })).body.code).toBe("INSUFFICIENT_ACCESS_TYPE");

    const user = await signUp();
    const team = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: server(),
      body: { display_name: "Mods", creator_user_id: user.user_id },
    });
    const grant = await api(test.url, `/api/v1/team-permissions/${team.body.id}/${user.user_id}/moderator`, {
      method: "POST",
      headers: server(),
      body: {},
    });
    expect(grant.status).toBe(201);
    const unknown = await api(test.url, `/api/v1/team-permissions/${team.body.id}/${user.user_id}/nope`, {
      method: "POST",
      headers: server(),
      body: {},
    });
    expect(unknown.body.code).toBe("PERMISSION_NOT_FOUND");
    const expanded = await api(
      test.url,
      `/api/v1/team-permissions?team_id=${team.body.id}&user_id=${user.user_id}&permission_id=moderator`,
      {
        headers: server(),
      },
    );
    expect(expanded.body.items).toEqual([{ id: "moderator", team_id: team.body.id, user_id: user.user_id }]);

    const removed = await api(test.url, `${defs}/moderator`, { method: "DELETE", headers: admin() });
    expect(removed.body).toEqual({ success: true });
    const after = await api(
      test.url,
      `/api/v1/team-permissions?team_id=${team.body.id}&user_id=${user.user_id}`,
      { headers: server() },
    );
    expect(after.body.items.map((p: { id: string }) => p.id)).toEqual(["team_admin"]);
    expect(
      (await api(test.url, `${defs}/moderator`, { method: "PATCH", headers: admin(), body: {} })).body.code,
    ).toBe("PERMISSION_NOT_FOUND");
    // Project B never saw it.
    expect(
      (await api(test.url, defs, { headers: admin(other) })).body.items.map((d: { id: string }) => d.id),
    ).not.toContain("moderator");
  });

  it("finds no permission in what every object inherits, and can define one by such a name", async () => {
    const user = await signUp();
    const team = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: server(),
      body: { display_name: "Inherited names", creator_user_id: user.user_id },
    });
    const grantPath = (id: string) => `/api/v1/team-permissions/${team.body.id}/${user.user_id}/${id}`;
    for (const id of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      const grant = await api(test.url, grantPath(id), { method: "POST", headers: server(), body: {} });
      expectKnownError(grant, 404, "PERMISSION_NOT_FOUND");
    }
    // Defined for real, such a name works like any other, containing what it says.
    const defs = "/api/v1/team-permission-definitions";
    for (const body of [
      { id: "to_string_child" },
      { id: "constructor", contained_permission_ids: ["to_string_child"] },
    ])
      expect((await api(test.url, defs, { method: "POST", headers: admin(), body })).status).toBe(201);
    expect(
      (await api(test.url, grantPath("constructor"), { method: "POST", headers: server(), body: {} })).status,
    ).toBe(201);
    const held = await api(
      test.url,
      `/api/v1/team-permissions?team_id=${team.body.id}&user_id=${user.user_id}&recursive=true`,
      { headers: server() },
    );
    const ids = held.body.items.map((p: { id: string }) => p.id);
    expect(ids).toContain("constructor");
    expect(ids).toContain("to_string_child");
    expect(ids).not.toContain("__proto__");
    for (const id of ["constructor", "to_string_child"])
      expect((await api(test.url, `${defs}/${id}`, { method: "DELETE", headers: admin() })).status).toBe(200);
  });

  it("refuses ids the config or the grants' index cannot hold", async () => {
    const defs = "/api/v1/team-permission-definitions";
    const define = (body: Record<string, unknown>) =>
      api(test.url, defs, { method: "POST", headers: admin(), body });
    for (const body of [
      { id: "p".repeat(6000) },
      { id: "p".repeat(257) },
      { id: "__proto__" },
      { id: "a.b" },
      { id: "odd", contained_permission_ids: ["a.b", "__proto__", "team_member"] },
      { id: "odd", contained_permission_ids: ["a.b"] },
      { id: "odd", contained_permission_ids: ["__proto__"] },
      { id: "odd", contained_permission_ids: ["p".repeat(257)] },
    ]) {
      const refused = await define(body);
      expect(refused.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(refused.body.code).toBe("SCHEMA_ERROR");
    }
    const listed = await api(test.url, defs, { headers: admin() });
    expect(listed.body.items.map((d: { id: string }) => d.id)).not.toContain("odd");

    const longest = "p".repeat(256);
    expect((await define({ id: longest, contained_permission_ids: ["team_member"] })).status).toBe(201);
    const widened = await api(test.url, `${defs}/${longest}`, {
      method: "PATCH",
      headers: admin(),
      body: { contained_permission_ids: ["team_member", "a.b"] },
    });
    expect(widened.body.code).toBe("SCHEMA_ERROR");
    const after = await api(test.url, defs, { headers: admin() });
    expect(after.body.items.find((d: { id: string }) => d.id === longest)).toEqual({
      id: longest,
      contained_permission_ids: ["team_member"],
    });
    await api(test.url, `${defs}/${longest}`, { method: "DELETE", headers: admin() });
  });
});
