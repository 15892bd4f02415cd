import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Mailbox } from "../../../test/mailbox.ts";
import {
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
  project = await createTestProject(test, "Users project");
  other = await createTestProject(test, "Other project");
});
afterAll(async () => {
  await test?.close();
  await mailbox?.close();
});

const client = (token?: string, p = project) => clientHeaders(p, token);
const server = (p = project) => serverHeaders(p);
const freshEmail = () => uniqueEmail();

const signUp = (email?: string) => signUpWithPassword(test, project, email);

const setConfig = (override: Record<string, unknown>, p = project) =>
  patchEnvironmentConfig(test, p, override);

describe("password changes and resets (scenario 14)", () => {
  it("updates the password, keeping only the current session", async () => {
    const session = await signUp();
    const second = await api(test.url, "/api/v1/auth/password/sign-in", {
      method: "POST",
      headers: client(),
      body: { email: session.email, password: session.password },
    });
    const update = await api(test.url, "/api/v1/auth/password/update", {
      method: "POST",
      headers: { ...client(session.access_token), "x-stack-refresh-token": session.refresh_token },
      body: { old_password: session.password, new_password: "a brand new password" },
    });
    expect(update.body).toEqual({ success: true });
    const refresh = (token: string) =>
      api(test.url, "/api/v1/auth/sessions/current/refresh", {
        method: "POST",
        headers: { ...client(), "x-stack-refresh-token": token },
      });
    expect((await refresh(session.refresh_token)).status).toBe(200);
    expect((await refresh(second.body.refresh_token)).body.code).toBe("REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");

    const wrongOld = await api(test.url, "/api/v1/auth/password/update", {
      method: "POST",
      headers: client(session.access_token),
      body: { old_password: "not it at all", new_password: "another new password" },
    });
    expect(wrongOld.body.code).toBe("PASSWORD_CONFIRMATION_MISMATCH");
    const missing = await api(test.url, "/api/v1/auth/password/update", {
      method: "POST",
      headers: client(session.access_token),
      body: { new_password: "another new password" },
    });
    expect(missing.body.code).toBe("SCHEMA_ERROR");
    const signedOut = await api(test.url, "/api/v1/auth/password/update", {
      method: "POST",
      headers: client(),
      body: { old_password: "x", new_password: "another new password" },
    });
    expect(signedOut.body.code).toBe("SCHEMA_ERROR");
    expect(signedOut.body.error).toContain("auth.user must be defined");
  });

  it("refuses password update for users without a password", async () => {
    const created = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers: server(),
      body: { display_name: "Has no password" },
    });
    const session = await api(test.url, "/api/v1/auth/sessions", {
      method: "POST",
      headers: server(),
      body: { user_id: created.body.id },
    });
    const res = await api(test.url, "/api/v1/auth/password/update", {
      method: "POST",
      headers: client(session.body.access_token),
      body: { old_password: "whatever1", new_password: "whatever2" },
    });
    expect(res.body.code).toBe("USER_DOES_NOT_HAVE_PASSWORD");
  });

  it("resets a forgotten password with the e-mailed code", async () => {
    const session = await signUp();
    const send = await api(test.url, "/api/v1/auth/password/send-reset-code", {
      method: "POST",
      headers: client(),
      body: { email: session.email, callback_url: "http://localhost:3000/reset" },
    });
    expect(send.body).toEqual({ success: "maybe, only if user with e-mail exists" });
    const unknown = await api(test.url, "/api/v1/auth/password/send-reset-code", {
      method: "POST",
      headers: client(),
      body: { email: freshEmail(), callback_url: "http://localhost:3000/reset" },
    });
    expect(unknown.body).toEqual(send.body);
    const code = Mailbox.codeOf(await mailbox.waitFor(session.email, /Reset your password/));
    const check = await api(test.url, "/api/v1/auth/password/reset/check-code", {
      method: "POST",
      headers: client(),
      body: { code },
    });
    expect(check.body).toEqual({ is_code_valid: true });
    const reset = await api(test.url, "/api/v1/auth/password/reset", {
      method: "POST",
      headers: client(),
      body: { code, password: "the reset password" },
    });
    expect(reset.body).toEqual({ success: true });
    const signIn = (password: string) =>
      api(test.url, "/api/v1/auth/password/sign-in", {
        method: "POST",
        headers: client(),
        body: { email: session.email, password },
      });
    expect((await signIn(session.password)).body.code).toBe("EMAIL_PASSWORD_MISMATCH");
    expect((await signIn("the reset password")).status).toBe(200);
    const again = await api(test.url, "/api/v1/auth/password/reset", {
      method: "POST",
      headers: client(),
      body: { code, password: "yet another password" },
    });
    expect(again.body.code).toBe("VERIFICATION_CODE_ALREADY_USED");
  });
});

describe("user access control (scenarios 15–17)", () => {
  it("keeps server endpoints from clients and server fields from client updates", async () => {
    const session = await signUp();
    for (const [method, path] of [
      ["GET", "/api/v1/users"],
      ["GET", `/api/v1/users/${session.user_id}`],
      ["POST", "/api/v1/users"],
    ] as const) {
      const res = await api(test.url, path, {
        method,
        headers: client(session.access_token),
        body: method === "POST" ? {} : undefined,
      });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe("INSUFFICIENT_ACCESS_TYPE");
    }
    const serverField = await api(test.url, "/api/v1/users/me", {
      method: "PATCH",
      headers: client(session.access_token),
      body: { server_metadata: { a: 1 } },
    });
    expect(serverField.body.code).toBe("SCHEMA_ERROR");
    expect(serverField.body.error).toContain("body contains unknown properties: server_metadata");
    const httpImage = await api(test.url, "/api/v1/users/me", {
      method: "PATCH",
      headers: client(session.access_token),
      body: { profile_image_url: "https://example.com/me.png" },
    });
    expect(httpImage.status).toBe(400);
    expect(httpImage.text).toBe("Invalid profile image URL");
    const emptyName = await api(test.url, "/api/v1/users/me", {
      method: "PATCH",
      headers: client(session.access_token),
      body: { display_name: "", client_metadata: { theme: "dark" } },
    });
    expect(emptyName.status).toBe(200);
    expect(emptyName.body).toMatchObject({ display_name: null, client_metadata: { theme: "dark" } });
  });

  it("lets clients delete themselves only when the project allows it (scenario 16)", async () => {
    const session = await signUp();
    const refused = await api(test.url, "/api/v1/users/me", {
      method: "DELETE",
      headers: client(session.access_token),
    });
    expect(refused.status).toBe(400);
    expect(refused.text).toBe("Client user deletion is not enabled for this project");
    await setConfig({ "users.allowClientUserDeletion": true });
    try {
      const ok = await api(test.url, "/api/v1/users/me", {
        method: "DELETE",
        headers: client(session.access_token),
      });
      expect(ok.body).toEqual({ success: true });
      expect((await api(test.url, `/api/v1/users/${session.user_id}`, { headers: server() })).body.code).toBe(
        "USER_NOT_FOUND",
      );
    } finally {
      await setConfig({ "users.allowClientUserDeletion": false });
    }
  });

  it("creates users on the server with defaults and rules (scenario 17)", async () => {
    const empty = await api(test.url, "/api/v1/users", { method: "POST", headers: server(), body: {} });
    expect(empty.status).toBe(201);
    expect(empty.body).toMatchObject({
      primary_email: null,
      primary_email_verified: false,
      selected_team: null,
      selected_team_id: null,
      is_anonymous: false,
      is_restricted: false,
      restricted_reason: null,
      has_password: false,
      oauth_providers: [],
      risk_scores: { sign_up: { bot: 0, free_trial_abuse: 0 } },
      server_metadata: null,
    });
    const email = freshEmail();
    const withPassword = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers: server(),
      body: {
        primary_email: email,
        primary_email_auth_enabled: true,
        password: "server set password",
        display_name: "Server User",
      },
    });
    expect(withPassword.status).toBe(201);
    const signIn = await api(test.url, "/api/v1/auth/password/sign-in", {
      method: "POST",
      headers: client(),
      body: { email, password: "server set password" },
    });
    expect(signIn.status).toBe(200);
    const both = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers: server(),
      body: { password: "server set password", password_hash: "$2b$04$abcdefghijklmnopqrstuu" },
    });
    expect(both.status).toBe(400);
    const duplicate = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers: server(),
      body: { primary_email: email, primary_email_auth_enabled: true },
    });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.code).toBe("USER_EMAIL_ALREADY_EXISTS");

    const newPassword = await api(test.url, `/api/v1/users/${withPassword.body.id}`, {
      method: "PATCH",
      headers: server(),
      body: { password: "changed by the server" },
    });
    expect(newPassword.status).toBe(200);
    const refresh = await api(test.url, "/api/v1/auth/sessions/current/refresh", {
      method: "POST",
      headers: { ...client(), "x-stack-refresh-token": signIn.body.refresh_token },
    });
    expect(refresh.body.code).toBe("REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
  });

  it("bounds what a server writes: name length, empty passwords, teams on create, passwords where they are off", async () => {
    const create = (body: Record<string, unknown>, p = project) =>
      api(test.url, "/api/v1/users", { method: "POST", headers: server(p), body });
    const patch = (id: string, body: Record<string, unknown>, p = project) =>
      api(test.url, `/api/v1/users/${id}`, { method: "PATCH", headers: server(p), body });
    expect((await create({ display_name: "n".repeat(257) })).body.code).toBe("SCHEMA_ERROR");
    const named = await create({ display_name: "n".repeat(256) });
    expect(named.body.display_name).toHaveLength(256);
    expect((await patch(named.body.id, { display_name: "n".repeat(257) })).body.code).toBe("SCHEMA_ERROR");
    const team = await api(test.url, "/api/v1/teams", {
      method: "POST",
      headers: server(),
      body: { display_name: "Somebody else's", creator_user_id: named.body.id },
    });
    const withTeam = await create({ selected_team_id: team.body.id });
    expect(withTeam.body.code).toBe("SCHEMA_ERROR");

    // An empty password is a too-short one, not a removal: the user keeps theirs, and their sessions.
    const session = await signUp();
    expect((await create({ password: "" })).body.code).toBe("PASSWORD_TOO_SHORT");
    expect((await patch(session.user_id, { password: "" })).body.code).toBe("PASSWORD_TOO_SHORT");
    const me = await api(test.url, "/api/v1/users/me", { headers: client(session.access_token) });
    expect(me.body.has_password).toBe(true);
    const refreshed = await api(test.url, "/api/v1/auth/sessions/current/refresh", {
      method: "POST",
      headers: { ...client(), "x-stack-refresh-token": session.refresh_token },
    });
    expect(refreshed.status).toBe(200);

    const noPasswords = await createTestProject(test, "No passwords");
    const email = freshEmail();
    const hadOne = await create(
      { primary_email: email, primary_email_auth_enabled: true, password: "set before it was off" },
      noPasswords,
    );
    const hasNone = await create(
      { primary_email: freshEmail(), primary_email_auth_enabled: true },
      noPasswords,
    );
    await setConfig({ "auth.password.allowSignIn": false }, noPasswords);
    const added = await patch(hasNone.body.id, { password: "a first password" }, noPasswords);
    expect(added.status).toBe(400);
    expect(added.text).toBe("Password authentication is not enabled for this project.");
    expect((await patch(hasNone.body.id, {}, noPasswords)).body.has_password).toBe(false);
    const changed = await patch(hadOne.body.id, { password: "changed while off" }, noPasswords);
    expect(changed.status).toBe(200);
    expect(changed.body.has_password).toBe(true);
  });

  it("takes sign-in methods only as the project allows them, and names an unverified e-mail first", async () => {
    const methods = await createTestProject(test, "Methods");
    const create = (body: Record<string, unknown>) =>
      api(test.url, "/api/v1/users", { method: "POST", headers: server(methods), body });
    const patch = (id: string, body: Record<string, unknown>) =>
      api(test.url, `/api/v1/users/${id}`, { method: "PATCH", headers: server(methods), body });
    const otpOff = await create({ otp_auth_enabled: true });
    expect(otpOff.status).toBe(400);
    expect(otpOff.text).toBe("OTP auth not enabled in the project");
    const user = await create({ primary_email: freshEmail(), passkey_auth_enabled: true });
    expect(user.body.passkey_auth_enabled).toBe(false);
    expect((await patch(user.body.id, { otp_auth_enabled: true })).text).toBe(
      "OTP auth not enabled in the project",
    );
    const passkey = await patch(user.body.id, { passkey_auth_enabled: true });
    expect(passkey.status).toBe(400);
    expect(passkey.text).toBe(
      "Cannot manually enable passkey auth, it is enabled iff there is a passkey auth method",
    );
    await setConfig({ "auth.otp.allowSignIn": true }, methods);
    expect((await patch(user.body.id, { otp_auth_enabled: true })).body.otp_auth_enabled).toBe(true);
    // Turned off for the project later, a method the user has stays theirs through other updates.
    await setConfig({ "auth.otp.allowSignIn": false }, methods);
    expect((await patch(user.body.id, { otp_auth_enabled: true, display_name: "Kept" })).status).toBe(200);

    // A reason only comes with the restriction itself, even for a user restricted already.
    await patch(user.body.id, { restricted_by_admin: true, restricted_by_admin_reason: "first" });
    const reasonAlone = await patch(user.body.id, { restricted_by_admin_reason: "second" });
    expect(reasonAlone.body.code).toBe("SCHEMA_ERROR");
    expect(reasonAlone.body.error).toContain(
      "restricted_by_admin_reason must be null when restricted_by_admin is not true",
    );
    const lifted = await patch(user.body.id, { restricted_by_admin: false });
    expect(lifted.body).toMatchObject({ restricted_by_admin: false, restricted_by_admin_reason: null });

    await setConfig({ "onboarding.requireEmailVerification": true }, methods);
    const restricted = await patch(user.body.id, { restricted_by_admin: true });
    expect(restricted.body.restricted_reason).toEqual({ type: "email_not_verified" });
    const verified = await patch(user.body.id, { primary_email_verified: true });
    expect(verified.body.restricted_reason).toEqual({ type: "restricted_by_administrator" });
  });

  it("judges what a client's update holds before whether it has a user", async () => {
    const serverField = await api(test.url, "/api/v1/users/me", {
      method: "PATCH",
      headers: client(),
      body: { server_metadata: { plan: "free" } },
    });
    expect(serverField.body.code).toBe("SCHEMA_ERROR");
    const allowedField = await api(test.url, "/api/v1/users/me", {
      method: "PATCH",
      headers: client(),
      body: { display_name: "Nobody" },
    });
    expect(allowedField.body.code).toBe("CANNOT_GET_OWN_USER_WITHOUT_USER");
  });

  it("changes the primary e-mail, keeping the old one as a secondary channel", async () => {
    const session = await signUp();
    const next = freshEmail();
    const res = await api(test.url, `/api/v1/users/${session.user_id}`, {
      method: "PATCH",
      headers: server(),
      body: { primary_email: next },
    });
    expect(res.body).toMatchObject({ primary_email: next, primary_email_verified: false });
    const channels = await api(test.url, `/api/v1/contact-channels?user_id=${session.user_id}`, {
      headers: server(),
    });
    expect(
      channels.body.items.map((c: { value: string; is_primary: boolean }) => [c.value, c.is_primary]),
    ).toEqual([
      [session.email, false],
      [next, true],
    ]);
    // A channel the user had for contact only, made primary, signs in as the primary it replaces did.
    const contactOnly = freshEmail();
    await api(test.url, "/api/v1/contact-channels", {
      method: "POST",
      headers: server(),
      body: { user_id: session.user_id, type: "email", value: contactOnly, used_for_auth: false },
    });
    const promoted = await api(test.url, `/api/v1/users/${session.user_id}`, {
      method: "PATCH",
      headers: server(),
      body: { primary_email: contactOnly },
    });
    expect(promoted.body).toMatchObject({ primary_email: contactOnly, primary_email_auth_enabled: true });
    const signIn = await api(test.url, "/api/v1/auth/password/sign-in", {
      method: "POST",
      headers: client(),
      body: { email: contactOnly, password: session.password },
    });
    expect(signIn.status).toBe(200);
  });
});

describe("searching users", () => {
  it("keeps the search current as names and contact channels change", async () => {
    const searched = await createTestProject(test, "Search project");
    const headers = server(searched);
    const found = async (text: string) =>
      (await api(test.url, `/api/v1/users?query=${encodeURIComponent(text)}`, { headers })).body.items.map(
        (u: { id: string }) => u.id,
      );
    const user = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers,
      body: { display_name: "Searchable One", primary_email: "first.address@search.example" },
    });
    const id = user.body.id as string;
    expect(await found("first.address")).toEqual([id]);
    expect(await found("searchable one")).toEqual([id]);
    // Values are kept apart: no match runs from the name into an address.
    expect(await found("Onefirst")).toEqual([]);
    expect(await found("One\u001ffirst")).toEqual([]);

    // Channels added at the same moment are all found (each recomputation waits for and sees the others).
    const values = ["second", "third", "fourth", "fifth", "sixth", "seventh"].map(
      (n) => `${n}.channel@search.example`,
    );
    const added = await Promise.all(
      values.map((value) =>
        api(test.url, "/api/v1/contact-channels", {
          method: "POST",
          headers,
          body: { user_id: id, type: "email", value, used_for_auth: false },
        }),
      ),
    );
    expect(added.map((res) => res.status)).toEqual(values.map(() => 201));
    for (const value of values) expect(await found(value.split("@")[0]!)).toEqual([id]);

    const channelId = added[0]!.body.id as string;
    const renamed = await api(test.url, `/api/v1/contact-channels/${id}/${channelId}`, {
      method: "PATCH",
      headers,
      body: { value: "renamed.channel@search.example" },
    });
    expect(renamed.status).toBe(200);
    expect(await found("second.channel")).toEqual([]);
    expect(await found("renamed.channel")).toEqual([id]);
    const removed = await api(test.url, `/api/v1/contact-channels/${id}/${channelId}`, {
      method: "DELETE",
      headers,
    });
    expect(removed.status).toBe(200);
    expect(await found("renamed.channel")).toEqual([]);

    await api(test.url, `/api/v1/users/${id}`, {
      method: "PATCH",
      headers,
      body: { display_name: "Other Name" },
    });
    expect(await found("Searchable")).toEqual([]);
    expect(await found("other name")).toEqual([id]);
    expect(await found("first.address")).toEqual([id]);
  });
});

describe("listing users (scenario 18)", () => {
  it("pages with a cursor, both directions, and filters", async () => {
    const listed = await createTestProject(test, "List project");
    const headers = server(listed);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await api(test.url, "/api/v1/users", {
        method: "POST",
        headers,
        body: { display_name: `Lister ${i}`, primary_email: `lister${i}@list.example` },
      });
      ids.push(res.body.id);
    }
    await api(test.url, "/api/v1/users", { method: "POST", headers, body: { is_anonymous: true } });

    const all = await api(test.url, "/api/v1/users", { headers });
    expect(all.body.is_paginated).toBe(true);
    expect(all.body.items.map((u: { id: string }) => u.id)).toEqual(ids);
    const first = await api(test.url, "/api/v1/users?limit=2", { headers });
    expect(first.body.items).toHaveLength(2);
    expect(first.body.pagination.next_cursor).toBe(ids[2]);
    const rest = await api(test.url, `/api/v1/users?limit=3&cursor=${first.body.pagination.next_cursor}`, {
      headers,
    });
    expect([...first.body.items, ...rest.body.items].map((u: { id: string }) => u.id)).toEqual(ids);
    expect(rest.body.pagination.next_cursor).toBeNull();
    const desc = await api(test.url, "/api/v1/users?desc=true&limit=2", { headers });
    expect(desc.body.items.map((u: { id: string }) => u.id)).toEqual([ids[4], ids[3]]);

    const search = await api(test.url, "/api/v1/users?query=LISTER3", { headers });
    expect(search.body.items.map((u: { id: string }) => u.id)).toEqual([ids[3]]);
    const byEmail = await api(test.url, "/api/v1/users?query=lister1%40list", { headers });
    expect(byEmail.body.items.map((u: { id: string }) => u.id)).toEqual([ids[1]]);
    const byId = await api(test.url, `/api/v1/users?query=${ids[2]}`, { headers });
    expect(byId.body.items.map((u: { id: string }) => u.id)).toEqual([ids[2]]);
    // Short text (no trigram to look up) and longer text take different plans; both match substrings.
    const found = async (text: string) =>
      (await api(test.url, `/api/v1/users?query=${encodeURIComponent(text)}`, { headers })).body.items.map(
        (u: { id: string }) => u.id,
      );
    expect(await found("2@")).toEqual([ids[2]]);
    expect(await found("ER 4")).toEqual([ids[4]]);
    expect(await found("list.EXAMPLE")).toEqual(ids);
    expect(await found("%")).toEqual([]);
    expect(await found("lister_")).toEqual([]);

    expect(
      (await api(test.url, "/api/v1/users?include_anonymous=true", { headers })).body.items,
    ).toHaveLength(6);
    expect(
      (await api(test.url, "/api/v1/users?include_anonymous=true&only_anonymous=true", { headers })).body
        .items,
    ).toHaveLength(1);
    const badOnly = await api(test.url, "/api/v1/users?only_anonymous=true", { headers });
    expect(badOnly.status).toBe(400);
    expect(badOnly.headers.get("content-type")).toContain("text/plain");
    const unknown = await api(test.url, "/api/v1/users?extra=1", { headers });
    expect(unknown.body.code).toBe("SCHEMA_ERROR");
  });
});

describe("tenant isolation of users", () => {
  it("never shows or changes project B's users through project A's keys", async () => {
    const b = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers: server(other),
      body: { display_name: "Only in B" },
    });
    expect((await api(test.url, `/api/v1/users/${b.body.id}`, { headers: server() })).body.code).toBe(
      "USER_NOT_FOUND",
    );
    expect(
      (
        await api(test.url, `/api/v1/users/${b.body.id}`, {
          method: "PATCH",
          headers: server(),
          body: { display_name: "x" },
        })
      ).body.code,
    ).toBe("USER_NOT_FOUND");
    expect(
      (await api(test.url, `/api/v1/users/${b.body.id}`, { method: "DELETE", headers: server() })).body.code,
    ).toBe("USER_NOT_FOUND");
    const listA = await api(test.url, `/api/v1/users?query=${b.body.id}`, { headers: server() });
    expect(listA.body.items).toEqual([]);
    const stillThere = await api(test.url, `/api/v1/users/${b.body.id}`, { headers: server(other) });
    expect(stillThere.body.display_name).toBe("Only in B");
    const sessionInB = await api(test.url, "/api/v1/auth/sessions", {
      method: "POST",
      headers: server(),
      body: { user_id: b.body.id },
    });
    expect(sessionInB.body.code).toBe("USER_ID_DOES_NOT_EXIST");
  });

  it("lists every contact channel of the project to a server that names no user, and none of B's", async () => {
    const email = (name: string) => `${name}-${randomUUID()}@example.com`;
    const inA = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers: server(),
      body: { primary_email: email("a") },
    });
    const inB = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers: server(other),
      body: { primary_email: email("b") },
    });
    const values = (items: { value: string }[]) => items.map((channel) => channel.value);
    const allOfA = await api(test.url, "/api/v1/contact-channels", { headers: server() });
    expect(allOfA.status).toBe(200);
    expect(values(allOfA.body.items)).toContain(inA.body.primary_email);
    expect(values(allOfA.body.items)).not.toContain(inB.body.primary_email);
    const [channelOfB] = (
      await api(test.url, `/api/v1/contact-channels?user_id=${inB.body.id}`, { headers: server(other) })
    ).body.items;
    const byIdFromA = await api(test.url, `/api/v1/contact-channels?contact_channel_id=${channelOfB.id}`, {
      headers: server(),
    });
    expect(byIdFromA.body.items).toEqual([]);
    const byIdFromB = await api(test.url, `/api/v1/contact-channels?contact_channel_id=${channelOfB.id}`, {
      headers: server(other),
    });
    expect(values(byIdFromB.body.items)).toEqual([inB.body.primary_email]);
    const badId = await api(test.url, "/api/v1/contact-channels?contact_channel_id=nope", {
      headers: server(),
    });
    expect(badId.body.code).toBe("SCHEMA_ERROR");
  });
});

describe("users created with OAuth accounts", () => {
  const displayName = `imported ${randomUUID()}`;
  const create = (providers: { id: string; account_id: string }[]) =>
    api(test.url, "/api/v1/users", {
      method: "POST",
      headers: server(),
      body: { display_name: displayName, oauth_providers: providers },
    });

  it("links each account to one user only, and refuses what would not fit its index", async () => {
    const accountId = randomUUID();
    const first = await create([{ id: "github", account_id: accountId }]);
    expect(first.status).toBe(201);
    expect(first.body.oauth_providers).toEqual([{ id: "github", account_id: accountId, email: null }]);
    expect(first.body.auth_with_email).toBe(false);

    const taken = await create([{ id: "github", account_id: accountId }]);
    expectKnownError(taken, 400, "OAUTH_PROVIDER_ACCOUNT_ID_ALREADY_USED_FOR_SIGN_IN");
    const twice = await create([
      { id: "google", account_id: accountId },
      { id: "google", account_id: accountId },
    ]);
    expectKnownError(twice, 400, "OAUTH_PROVIDER_ACCOUNT_ID_ALREADY_USED_FOR_SIGN_IN");
    const long = await create([{ id: "github", account_id: randomBytes(300).toString("hex") }]);
    expectKnownError(long, 400, "SCHEMA_ERROR");
    // The refused creations left nobody behind.
    const listed = await api(test.url, `/api/v1/users?query=${encodeURIComponent(displayName)}`, {
      headers: server(),
    });
    expect(listed.body.items.map((u: { id: string }) => u.id)).toEqual([first.body.id]);
  });
});
