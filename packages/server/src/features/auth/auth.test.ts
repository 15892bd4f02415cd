import { hashSync } from "@node-rs/bcrypt";
import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  api,
  createTestProject,
  keyHeaders,
  startTestServer,
  type TestProject,
  type TestServer,
} from "../../../test/server.ts";
import { totpAt } from "./totp.ts";

let test: TestServer;
let project: TestProject;
let other: TestProject;

beforeAll(async () => {
  test = await startTestServer();
  project = await createTestProject(test, "Auth project");
  other = await createTestProject(test, "Other project");
});
afterAll(() => test?.close());

const client = (p = project, extra: Record<string, string> = {}) => ({
  "x-stack-project-id": p.projectId,
  "x-stack-access-type": "client",
  ...extra,
});
const server = (p = project) => keyHeaders(p.projectId, "server", p.keys);
let counter = 0;
const freshEmail = () => `user${++counter}-${Date.now()}@example.com`;

async function signUp(email = freshEmail(), password = "correct horse battery") {
  const res = await api(test.url, "/api/v1/auth/password/sign-up", {
    method: "POST",
    headers: client(),
    body: { email, password },
  });
  expect(res.status).toBe(200);
  return {
    email,
    password,
    ...(res.body as { access_token: string; refresh_token: string; user_id: string }),
  };
}

describe("/users/me and tokens (scenarios 4, 5, 8)", () => {
  it("answers the auth errors of scenario 4", async () => {
    expect((await api(test.url, "/api/v1/users/me")).body.code).toBe("ACCESS_TYPE_REQUIRED");
    expect((await api(test.url, "/api/v1/users/me", { headers: client() })).body.code).toBe(
      "CANNOT_GET_OWN_USER_WITHOUT_USER",
    );
    const bad = await api(test.url, "/api/v1/users/me", {
      headers: client(project, { "x-stack-access-token": "12341234" }),
    });
    expect(bad.status).toBe(401);
    expect(bad.body.code).toBe("UNPARSABLE_ACCESS_TOKEN");
    const refreshOnly = await api(test.url, "/api/v1/users/me", {
      headers: client(project, { "x-stack-refresh-token": "x" }),
    });
    expect(refreshOnly.body.code).toBe("CANNOT_GET_OWN_USER_WITHOUT_USER");
  });

  it("signs up and reads the user at client and server level (scenario 5)", async () => {
    const session = await signUp();
    const me = await api(test.url, "/api/v1/users/me", {
      headers: client(project, { "x-stack-access-token": session.access_token }),
    });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      id: session.user_id,
      primary_email: session.email,
      has_password: true,
      primary_email_verified: false,
      is_anonymous: false,
      is_restricted: false,
    });
    expect(me.body).not.toHaveProperty("server_metadata");
    expect(me.body).not.toHaveProperty("last_active_at_millis");
    const asServer = await api(test.url, "/api/v1/users/me", {
      headers: { ...server(), "x-stack-access-token": session.access_token },
    });
    expect(asServer.body).toHaveProperty("server_metadata", null);
    expect(asServer.body).toHaveProperty("last_active_at_millis");
    expect(asServer.body.primary_email_auth_enabled).toBe(true);
  });

  it("issues an ES256 token with the SDK's claim set, verifiable with the JWKS (scenario 8)", async () => {
    const session = await signUp();
    const header = decodeProtectedHeader(session.access_token);
    expect(header.alg).toBe("ES256");
    const claims = decodeJwt(session.access_token);
    expect(claims).toMatchObject({
      sub: session.user_id,
      aud: project.projectId,
      project_id: project.projectId,
      branch_id: "main",
      role: "authenticated",
      email: session.email,
      email_verified: false,
      is_anonymous: false,
      is_restricted: false,
      restricted_reason: null,
      requires_totp_mfa: false,
      selected_team_id: null,
      name: null,
    });
    expect(claims.exp! - claims.iat!).toBe(600);
    expect(typeof claims.signed_up_at).toBe("number");
    const sessions = await api(test.url, `/api/v1/auth/sessions?user_id=${session.user_id}`, {
      headers: server(),
    });
    expect(sessions.body.items.map((s: { id: string }) => s.id)).toContain(claims.refresh_token_id);

    const jwks = await api(test.url, `/api/v1/projects/${project.projectId}/.well-known/jwks.json`);
    expect(jwks.status).toBe(200);
    expect(jwks.headers.get("cache-control")).toBe("public, max-age=3600");
    const jwk = jwks.body.keys.find((k: { kid: string }) => k.kid === header.kid);
    expect(jwk).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256" });
    await jwtVerify(session.access_token, await importJWK(jwk, "ES256"));
    expect(
      (await api(test.url, "/api/v1/projects/00000000-0000-4000-8000-000000000000/.well-known/jwks.json"))
        .status,
    ).toBe(404);
  });

  it("refuses project A's token on project B", async () => {
    const session = await signUp();
    const res = await api(test.url, "/api/v1/users/me", {
      headers: client(other, { "x-stack-access-token": session.access_token }),
    });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({
      code: "INVALID_PROJECT_FOR_ACCESS_TOKEN",
      details: { expected_project_id: other.projectId, actual_project_id: project.projectId },
    });
  });
});

describe("password sign-up and sign-in (scenarios 6, 7)", () => {
  it("rejects duplicates, short passwords and untrusted callback URLs", async () => {
    const { email } = await signUp();
    const dup = await api(test.url, "/api/v1/auth/password/sign-up", {
      method: "POST",
      headers: client(),
      body: { email, password: "another password" },
    });
    expect(dup.status).toBe(409);
    expect(dup.body).toMatchObject({
      code: "USER_EMAIL_ALREADY_EXISTS",
      details: { email, would_work_if_email_was_verified: false },
    });
    for (const password of ["", "short"]) {
      const res = await api(test.url, "/api/v1/auth/password/sign-up", {
        method: "POST",
        headers: client(),
        body: { email: freshEmail(), password },
      });
      expect(res.body).toMatchObject({ code: "PASSWORD_TOO_SHORT", details: { min_length: 8 } });
    }
    const untrusted = await api(test.url, "/api/v1/auth/password/sign-up", {
      method: "POST",
      headers: client(),
      body: {
        email: freshEmail(),
        password: "long enough pw",
        verification_callback_url: "http://invalid-domain.com",
      },
    });
    expect(untrusted.body.code).toBe("REDIRECT_URL_NOT_WHITELISTED");
  });

  it("signs in, and refuses wrong credentials without saying which part was wrong", async () => {
    const { email, password, user_id } = await signUp();
    const ok = await api(test.url, "/api/v1/auth/password/sign-in", {
      method: "POST",
      headers: client(),
      body: { email: ` ${email.toUpperCase()} `, password },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.user_id).toBe(user_id);
    const wrong = await api(test.url, "/api/v1/auth/password/sign-in", {
      method: "POST",
      headers: client(),
      body: { email, password: "wrong password" },
    });
    const unknown = await api(test.url, "/api/v1/auth/password/sign-in", {
      method: "POST",
      headers: client(),
      body: { email: freshEmail(), password },
    });
    expect(wrong.body.code).toBe("EMAIL_PASSWORD_MISMATCH");
    expect(unknown.body.code).toBe("EMAIL_PASSWORD_MISMATCH");
    expect(wrong.body.error).toBe(unknown.body.error);
    const empty = await api(test.url, "/api/v1/auth/password/sign-in", {
      method: "POST",
      headers: client(),
      body: { email: "", password },
    });
    expect(empty.body.code).toBe("SCHEMA_ERROR");
    expect(empty.body.error).toContain("body.email must not be empty");
  });

  it("verifies imported bcrypt hashes and upgrades them to argon2id", async () => {
    const email = freshEmail();
    const bcryptHash = hashSync("password123", { cost: 4 });
    expect(bcryptHash).toMatch(/^\$2b\$04\$/);
    const created = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers: server(),
      body: { primary_email: email, primary_email_auth_enabled: true, password_hash: bcryptHash },
    });
    expect(created.status).toBe(201);
    const signIn = await api(test.url, "/api/v1/auth/password/sign-in", {
      method: "POST",
      headers: client(),
      body: { email, password: "password123" },
    });
    expect(signIn.status).toBe(200);
    const { default: pg } = await import("pg");
    const db = new pg.Client({ connectionString: test.database.url });
    await db.connect();
    const { rows } = await db.query("SELECT password_hash FROM password_credentials WHERE user_id = $1", [
      created.body.id,
    ]);
    await db.end();
    expect(rows[0].password_hash).toMatch(/^\$argon2id\$/);
    const again = await api(test.url, "/api/v1/auth/password/sign-in", {
      method: "POST",
      headers: client(),
      body: { email, password: "password123" },
    });
    expect(again.status).toBe(200);
  });

  it("refuses to import a hash whose cost would stall every sign-in, on create and on update", async () => {
    // Hours per verification, run in one of the hashing slots all sign-ins share.
    const stalling = "$argon2id$v=19$m=8,t=20000000,p=1$c29tZXNhbHQ$aGFzaA";
    const created = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers: server(),
      body: { primary_email: freshEmail(), primary_email_auth_enabled: true, password_hash: stalling },
    });
    expect(created.status).toBe(400);
    expect(created.text).toContain("its cost is above what this server verifies");
    const user = await api(test.url, "/api/v1/users", { method: "POST", headers: server(), body: {} });
    const updated = await api(test.url, `/api/v1/users/${user.body.id}`, {
      method: "PATCH",
      headers: server(),
      body: { password_hash: "$2b$31$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234" },
    });
    expect(updated.status).toBe(400);
    expect(updated.text).toContain("its cost is above what this server verifies");
  });
});

describe("refresh and sessions (scenarios 9–13)", () => {
  it("refreshes through both endpoints and fails for garbage tokens", async () => {
    const session = await signUp();
    const refreshed = await api(test.url, "/api/v1/auth/sessions/current/refresh", {
      method: "POST",
      headers: client(project, { "x-stack-refresh-token": session.refresh_token }),
    });
    expect(refreshed.status).toBe(200);
    const me = await api(test.url, "/api/v1/users/me", {
      headers: client(project, { "x-stack-access-token": refreshed.body.access_token }),
    });
    expect(me.body.id).toBe(session.user_id);
    const invalid = await api(test.url, "/api/v1/auth/sessions/current/refresh", {
      method: "POST",
      headers: client(project, { "x-stack-refresh-token": "something-invalid" }),
    });
    expect(invalid.status).toBe(401);
    expect(invalid.body.code).toBe("REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");

    const form = (refresh: string, secret = "__stack_public_client__") =>
      api(test.url, "/api/v1/auth/oauth/token", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        rawBody: new URLSearchParams({
          grant_type: "refresh_token",
          refresh_token: refresh,
          client_id: project.projectId,
          client_secret: secret,
        }).toString(),
      });
    const oauth = await form(session.refresh_token);
    expect(oauth.status).toBe(200);
    expect(oauth.body).toMatchObject({ token_type: "Bearer", refresh_token: session.refresh_token });
    expect(decodeJwt(oauth.body.access_token).sub).toBe(session.user_id);
    expect((await form("garbage")).body.code).toBe("REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    expect((await form(session.refresh_token, "pck_wrong")).body.code).toBe(
      "INVALID_OAUTH_CLIENT_ID_OR_SECRET",
    );
    expect((await form(session.refresh_token, project.keys.publishable_client_key!)).status).toBe(200);
    expect(oauth.headers.get("pragma")).toBe("no-cache");
    expect(oauth.body.after_callback_redirect_url).toBeNull();

    const post = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
      api(test.url, "/api/v1/auth/oauth/token", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
        rawBody: new URLSearchParams(fields).toString(),
      });
    // Client credentials as HTTP Basic, as OAuth libraries send them by default.
    const basic = `Basic ${Buffer.from(`${project.projectId}:__stack_public_client__`).toString("base64")}`;
    const viaBasic = await post(
      { grant_type: "refresh_token", refresh_token: session.refresh_token },
      { authorization: basic },
    );
    expect(viaBasic.status).toBe(200);
    expect(decodeJwt(viaBasic.body.access_token).sub).toBe(session.user_id);
    // No credentials at all: the OAuth error, naming no client.
    const anonymous = await post({ grant_type: "refresh_token", refresh_token: session.refresh_token });
    expect(anonymous.status).toBe(400);
    expect(anonymous.body.code).toBe("INVALID_OAUTH_CLIENT_ID_OR_SECRET");
    expect(anonymous.body.details).toEqual({ client_id: null });
    const noRefreshToken = await post({
      grant_type: "refresh_token",
      client_id: project.projectId,
      client_secret: "__stack_public_client__",
    });
    expect(noRefreshToken.status).toBe(400);
    expect(noRefreshToken.body).toEqual({
      error: "invalid_request",
      error_description: "Missing parameter: `refresh_token`",
    });
    const unknownGrant = await post({
      grant_type: "password",
      client_id: project.projectId,
      client_secret: "__stack_public_client__",
    });
    expect(unknownGrant.body.code).toBe("SCHEMA_ERROR");

    await api(test.url, `/api/v1/users/${session.user_id}`, { method: "DELETE", headers: server() });
    const afterDelete = await api(test.url, "/api/v1/auth/sessions/current/refresh", {
      method: "POST",
      headers: client(project, { "x-stack-refresh-token": session.refresh_token }),
    });
    expect(afterDelete.body.code).toBe("REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
  });

  it("signs out the current session (scenario 11)", async () => {
    const session = await signUp();
    const out = await api(test.url, "/api/v1/auth/sessions/current", {
      method: "DELETE",
      headers: client(project, { "x-stack-access-token": session.access_token }),
      body: {},
    });
    expect(out.body).toEqual({ success: true });
    const refresh = await api(test.url, "/api/v1/auth/sessions/current/refresh", {
      method: "POST",
      headers: client(project, { "x-stack-refresh-token": session.refresh_token }),
    });
    expect(refresh.body.code).toBe("REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
  });

  it("creates server sessions with bounded lifetimes (scenario 12)", async () => {
    const session = await signUp();
    const asClient = await api(test.url, "/api/v1/auth/sessions", {
      method: "POST",
      headers: client(),
      body: { user_id: session.user_id },
    });
    expect(asClient.body).toMatchObject({
      code: "INSUFFICIENT_ACCESS_TYPE",
      details: { allowed_access_types: ["server", "admin"] },
    });
    const tooLong = await api(test.url, "/api/v1/auth/sessions", {
      method: "POST",
      headers: server(),
      body: { user_id: session.user_id, expires_in_millis: 370 * 24 * 3600 * 1000 },
    });
    expect(tooLong.body.code).toBe("SCHEMA_ERROR");
    expect(tooLong.body.error).toContain("must be less than or equal to 31708800000");
    const unknown = await api(test.url, "/api/v1/auth/sessions", {
      method: "POST",
      headers: server(),
      body: { user_id: "00000000-0000-4000-8000-000000000000" },
    });
    expect(unknown.body.code).toBe("USER_ID_DOES_NOT_EXIST");
    const short = await api(test.url, "/api/v1/auth/sessions", {
      method: "POST",
      headers: server(),
      body: { user_id: session.user_id, expires_in_millis: 1500 },
    });
    expect(short.status).toBe(200);
    const refresh = () =>
      api(test.url, "/api/v1/auth/sessions/current/refresh", {
        method: "POST",
        headers: client(project, { "x-stack-refresh-token": short.body.refresh_token }),
      });
    expect((await refresh()).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1700));
    expect((await refresh()).body.code).toBe("REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
  });

  it("lists and deletes sessions with the client rules (scenario 13)", async () => {
    const session = await signUp();
    const extra = await api(test.url, "/api/v1/auth/sessions", {
      method: "POST",
      headers: server(),
      body: { user_id: session.user_id },
    });
    const impersonation = await api(test.url, "/api/v1/auth/sessions", {
      method: "POST",
      headers: server(),
      body: { user_id: session.user_id, is_impersonation: true },
    });
    expect(impersonation.status).toBe(200);
    const headers = client(project, { "x-stack-access-token": session.access_token });
    const list = await api(test.url, "/api/v1/auth/sessions?user_id=me", { headers });
    expect(list.body.items).toHaveLength(2);
    expect(list.body.items.filter((s: { is_current_session: boolean }) => s.is_current_session)).toHaveLength(
      1,
    );
    const adminList = await api(test.url, `/api/v1/auth/sessions?user_id=${session.user_id}`, {
      headers: keyHeaders(project.projectId, "admin", project.keys),
    });
    expect(adminList.body.items).toHaveLength(3);

    const extraId = decodeJwt(extra.body.access_token).refresh_token_id as string;
    const currentId = decodeJwt(session.access_token).refresh_token_id as string;
    expect(
      (await api(test.url, `/api/v1/auth/sessions/${extraId}?user_id=me`, { method: "DELETE", headers }))
        .status,
    ).toBe(200);
    expect((await api(test.url, "/api/v1/auth/sessions?user_id=me", { headers })).body.items).toHaveLength(1);
    const current = await api(test.url, `/api/v1/auth/sessions/${currentId}?user_id=me`, {
      method: "DELETE",
      headers,
    });
    expect(current.body.code).toBe("CANNOT_DELETE_CURRENT_SESSION");

    const someoneElse = await signUp();
    expect(
      (await api(test.url, `/api/v1/auth/sessions?user_id=${someoneElse.user_id}`, { headers })).status,
    ).toBe(403);
    const signedOut = await api(test.url, `/api/v1/auth/sessions?user_id=${someoneElse.user_id}`, {
      headers: client(),
    });
    expect(signedOut.body.code).toBe("CANNOT_GET_OWN_USER_WITHOUT_USER");
    const missing = await api(test.url, "/api/v1/auth/sessions", { headers: server() });
    expect(missing.body.code).toBe("SCHEMA_ERROR");
    expect(missing.body.error).toContain("query.user_id must be defined");
  });

  it("lets a client end only its own user's sessions, never one it merely knows the id of", async () => {
    const victim = await signUp();
    // Any of the victim's access tokens, even an expired one, names the session.
    const victimSession = decodeJwt(victim.access_token).refresh_token_id as string;
    const attacker = await signUp();
    const attempts = [
      { query: "", headers: client() },
      { query: `?user_id=${victim.user_id}`, headers: client() },
      { query: "", headers: client(project, { "x-stack-access-token": attacker.access_token }) },
      { query: "?user_id=me", headers: client(project, { "x-stack-access-token": attacker.access_token }) },
    ];
    for (const { query, headers } of attempts) {
      const refused = await api(test.url, `/api/v1/auth/sessions/${victimSession}${query}`, {
        method: "DELETE",
        headers,
      });
      expect(refused.status).toBe(404);
      expect(refused.text).toBe("Session not found.");
    }
    const refresh = await api(test.url, "/api/v1/auth/sessions/current/refresh", {
      method: "POST",
      headers: client(project, { "x-stack-refresh-token": victim.refresh_token }),
    });
    expect(refresh.status).toBe(200);
    // The server may end any session of the project, with or without naming its user.
    const byServer = await api(test.url, `/api/v1/auth/sessions/${victimSession}`, {
      method: "DELETE",
      headers: server(),
    });
    expect(byServer.status).toBe(200);
  });
});

describe("anonymous users (scenario 19)", () => {
  it("signs up anonymously even with sign-ups disabled, and needs the allow header", async () => {
    const admin = keyHeaders(project.projectId, "admin", project.keys);
    const disable = await api(test.url, "/api/v1/internal/config/override/environment", {
      method: "PATCH",
      headers: admin,
      body: { config_override_string: JSON.stringify({ "auth.allowSignUp": false }) },
    });
    expect(disable.status).toBe(200);
    try {
      const anon = await api(test.url, "/api/v1/auth/anonymous/sign-up", {
        method: "POST",
        headers: client(),
      });
      expect(anon.status).toBe(200);
      expect(decodeJwt(anon.body.access_token).aud).toBe(`${project.projectId}:anon`);
      const me = await api(test.url, "/api/v1/users/me", {
        headers: client(project, {
          "x-stack-access-token": anon.body.access_token,
          "x-stack-allow-anonymous-user": "true",
        }),
      });
      expect(me.body).toMatchObject({
        is_anonymous: true,
        is_restricted: true,
        restricted_reason: { type: "anonymous" },
      });
      const refused = await api(test.url, "/api/v1/users/me", {
        headers: client(project, {
          "x-stack-access-token": anon.body.access_token,
          "x-stack-allow-anonymous-user": "false",
        }),
      });
      expect(refused.status).toBe(401);
      expect(refused.body.code).toBe("ANONYMOUS_AUTHENTICATION_NOT_ALLOWED");
      const signUpRefused = await api(test.url, "/api/v1/auth/password/sign-up", {
        method: "POST",
        headers: client(),
        body: { email: freshEmail(), password: "long enough pw" },
      });
      expect(signUpRefused.body.code).toBe("SIGN_UP_NOT_ENABLED");
    } finally {
      await api(test.url, "/api/v1/internal/config/override/environment", {
        method: "PATCH",
        headers: admin,
        body: { config_override_string: JSON.stringify({ "auth.allowSignUp": true }) },
      });
    }
  });
});

const TOTP_SECRET_BASE64 = "c2VjcmV0c2VjcmV0";

/** Creates a user with a TOTP secret and signs in with its password: the answer asks for the code. */
async function signInTotpUser() {
  const email = freshEmail();
  await api(test.url, "/api/v1/users", {
    method: "POST",
    headers: server(),
    body: {
      primary_email: email,
      primary_email_auth_enabled: true,
      password: "totp user password",
      totp_secret_base64: TOTP_SECRET_BASE64,
    },
  });
  const res = await api(test.url, "/api/v1/auth/password/sign-in", {
    method: "POST",
    headers: client(),
    body: { email, password: "totp user password" },
  });
  expect(res.status).toBe(400);
  expect(res.body.code).toBe("MULTI_FACTOR_AUTHENTICATION_REQUIRED");
  return Object.assign(res, { email });
}

describe("more sign-in rules and isolation", () => {
  it("refuses password auth when the project turned it off", async () => {
    const admin = keyHeaders(other.projectId, "admin", other.keys);
    await api(test.url, "/api/v1/internal/config/override/environment", {
      method: "PATCH",
      headers: admin,
      body: { config_override_string: JSON.stringify({ "auth.password.allowSignIn": false }) },
    });
    const signUpOff = await api(test.url, "/api/v1/auth/password/sign-up", {
      method: "POST",
      headers: client(other),
      body: { email: freshEmail(), password: "long enough pw" },
    });
    expect(signUpOff.body.code).toBe("PASSWORD_AUTHENTICATION_NOT_ENABLED");
    const signInOff = await api(test.url, "/api/v1/auth/password/sign-in", {
      method: "POST",
      headers: client(other),
      body: { email: freshEmail(), password: "long enough pw" },
    });
    expect(signInOff.body.code).toBe("PASSWORD_AUTHENTICATION_NOT_ENABLED");
    await api(test.url, "/api/v1/internal/config/override/environment", {
      method: "PATCH",
      headers: admin,
      body: { config_override_string: JSON.stringify({ "auth.password.allowSignIn": true }) },
    });
  });

  it("asks users with TOTP for their second factor", async () => {
    const res = await signInTotpUser();
    const attemptCode = res.body.details.attempt_code;
    expect(attemptCode).toHaveLength(45);

    const mfa = (totp: string) =>
      api(test.url, "/api/v1/auth/mfa/sign-in", {
        method: "POST",
        headers: client(),
        body: { type: "totp", totp, code: attemptCode },
      });
    const secret = Buffer.from(TOTP_SECRET_BASE64, "base64");
    const right = totpAt(secret, Date.now() / 1000);
    const wrong = right === "000000" ? "111111" : "000000";
    expect((await mfa(wrong)).body.code).toBe("INVALID_TOTP_CODE");
    // Codes of the wrong shape are wrong codes too, not malformed requests; a short one is not padded.
    for (const malformed of ["12345", right.slice(1), `${right} `, "abcdef", ""]) {
      const answer = await mfa(malformed);
      expect(answer.status, malformed).toBe(400);
      expect(answer.body.code, malformed).toBe("INVALID_TOTP_CODE");
    }
    const ok = await mfa(right);
    expect(ok.status).toBe(200);
    expect(ok.body.access_token).toEqual(expect.any(String));
    expect((await mfa(right)).body.code).toBe("VERIFICATION_CODE_ALREADY_USED");
  });

  it("keeps sessions and contact channels inside their project", async () => {
    const a = await signUp();
    const inOther = await api(test.url, `/api/v1/auth/sessions?user_id=${a.user_id}`, {
      headers: server(other),
    });
    expect(inOther.body.items).toEqual([]);
    const sessionId = decodeJwt(a.access_token).refresh_token_id as string;
    const deleteFromOther = await api(test.url, `/api/v1/auth/sessions/${sessionId}`, {
      method: "DELETE",
      headers: server(other),
    });
    expect(deleteFromOther.status).toBe(404);
    const refresh = await api(test.url, "/api/v1/auth/sessions/current/refresh", {
      method: "POST",
      headers: client(other, { "x-stack-refresh-token": a.refresh_token }),
    });
    expect(refresh.body.code).toBe("REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    const channels = await api(test.url, `/api/v1/contact-channels?user_id=${a.user_id}`, {
      headers: server(other),
    });
    expect(channels.body.items).toEqual([]);
    const mine = await api(test.url, `/api/v1/contact-channels?user_id=${a.user_id}`, { headers: server() });
    const channelId = mine.body.items[0].id;
    const crossRead = await api(test.url, `/api/v1/contact-channels/${a.user_id}/${channelId}`, {
      headers: server(other),
    });
    expect(crossRead.status).toBe(404);
    const crossDelete = await api(test.url, `/api/v1/contact-channels/${a.user_id}/${channelId}`, {
      method: "DELETE",
      headers: server(other),
    });
    expect(crossDelete.status).toBe(400);
    expect(
      (await api(test.url, `/api/v1/contact-channels?user_id=${a.user_id}`, { headers: server() })).body
        .items,
    ).toHaveLength(1);
  });
});

describe("second factor after a password change", () => {
  it("opens no session with a first step whose password has changed since", async () => {
    const res = await signInTotpUser();
    const code = res.body.details.attempt_code;
    const userId = (
      await api(test.url, `/api/v1/users?query=${encodeURIComponent(res.email)}`, { headers: server() })
    ).body.items[0].id;
    const changed = await api(test.url, `/api/v1/users/${userId}`, {
      method: "PATCH",
      headers: server(),
      body: { password: "a password set meanwhile" },
    });
    expect(changed.status).toBe(200);
    const second = await api(test.url, "/api/v1/auth/mfa/sign-in", {
      method: "POST",
      headers: client(),
      body: {
        type: "totp",
        totp: totpAt(Buffer.from(TOTP_SECRET_BASE64, "base64"), Date.now() / 1000),
        code,
      },
    });
    expect(second.body.code).toBe("EMAIL_PASSWORD_MISMATCH");
  });
});

describe("second-factor guessing", () => {
  it("kills the attempt code after 20 wrong TOTP codes", async () => {
    const res = await signInTotpUser();
    const code = res.body.details.attempt_code;
    const right = totpAt(Buffer.from(TOTP_SECRET_BASE64, "base64"), Date.now() / 1000);
    const wrong = right === "000000" ? "111111" : "000000";
    for (let i = 0; i < 20; i++) {
      await api(test.url, "/api/v1/auth/mfa/sign-in", {
        method: "POST",
        headers: client(),
        body: { type: "totp", totp: wrong, code },
      });
    }
    const late = await api(test.url, "/api/v1/auth/mfa/sign-in", {
      method: "POST",
      headers: client(),
      body: { type: "totp", totp: right, code },
    });
    expect(late.body.code).toBe("VERIFICATION_CODE_MAX_ATTEMPTS_REACHED");
  });

  const mfaTry = (code: string, totp: string) =>
    api(test.url, "/api/v1/auth/mfa/sign-in", {
      method: "POST",
      headers: client(),
      body: { type: "totp", totp, code },
    });

  it("counts every try of a concurrent burst, so a burst gets no more than 20 either", async () => {
    const code = (await signInTotpUser()).body.details.attempt_code;
    const right = totpAt(Buffer.from(TOTP_SECRET_BASE64, "base64"), Date.now() / 1000);
    const wrong = right === "000000" ? "111111" : "000000";
    const burst = await Promise.all(Array.from({ length: 40 }, () => mfaTry(code, wrong)));
    const answers = burst.map((r) => r.body.code);
    expect(answers.filter((a) => a === "INVALID_TOTP_CODE")).toHaveLength(20);
    expect(answers.filter((a) => a === "VERIFICATION_CODE_MAX_ATTEMPTS_REACHED")).toHaveLength(20);
    expect((await mfaTry(code, right)).body.code).toBe("VERIFICATION_CODE_MAX_ATTEMPTS_REACHED");
  });

  it("takes the right code on the twentieth try", async () => {
    const code = (await signInTotpUser()).body.details.attempt_code;
    const right = totpAt(Buffer.from(TOTP_SECRET_BASE64, "base64"), Date.now() / 1000);
    const wrong = right === "000000" ? "111111" : "000000";
    for (let i = 0; i < 19; i++) expect((await mfaTry(code, wrong)).body.code).toBe("INVALID_TOTP_CODE");
    const twentieth = await mfaTry(code, right);
    expect(twentieth.status).toBe(200);
    expect(twentieth.body.access_token).toBeTruthy();
  });
});

// A server start and twenty password checks.
describe("sign-in rate limit", { timeout: 60_000 }, () => {
  // An hour's window: the sliding count carries over a window boundary, so a test may straddle one
  // (rate-limit.test.ts covers the arithmetic with a clock of its own).
  const WINDOW_SECONDS = 3600;
  const startLimitedServer = (signInRateLimit: number) =>
    startTestServer({ signInRateLimit, signInRateLimitWindowSeconds: WINDOW_SECONDS });

  it("answers 429 with Retry-After past the per-address budget, and old windows are pruned", async () => {
    const limited = await startLimitedServer(3);
    try {
      const p = await createTestProject(limited, "Limited");
      const headers = { "x-stack-project-id": p.projectId, "x-stack-access-type": "client" };
      const attempt = () =>
        api(limited.url, "/api/v1/auth/password/sign-in", {
          method: "POST",
          headers,
          body: { email: "nobody@example.com", password: "whatever1" },
        });
      for (let i = 0; i < 3; i++) expect((await attempt()).body.code).toBe("EMAIL_PASSWORD_MISMATCH");
      const blocked = await attempt();
      expect(blocked.status).toBe(429);
      expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
      const { pruneRateLimits } = await import("./rate-limit.ts");
      expect(
        await pruneRateLimits(limited.server.app.database.db, WINDOW_SECONDS, {
          now: new Date(Date.now() + 2 * 3_600_000),
        }),
      ).toBeGreaterThan(0);
      expect((await attempt()).body.code).toBe("EMAIL_PASSWORD_MISMATCH");
    } finally {
      await limited.close();
    }
  });

  it("refuses even the right password once an address's budget is spent, and caps one IP across addresses", async () => {
    const limited = await startLimitedServer(2);
    try {
      const p = await createTestProject(limited, "Limited");
      const headers = { "x-stack-project-id": p.projectId, "x-stack-access-type": "client" };
      const signIn = (email: string, password: string) =>
        api(limited.url, "/api/v1/auth/password/sign-in", {
          method: "POST",
          headers,
          body: { email, password },
        });
      const signUp = await api(limited.url, "/api/v1/auth/password/sign-up", {
        method: "POST",
        headers,
        body: { email: "real@example.com", password: "right password" },
      });
      expect(signUp.status).toBe(200);
      expect((await signIn("real@example.com", "wrong password")).status).toBe(400);
      expect((await signIn("real@example.com", "right password")).status).toBe(200);
      const blocked = await signIn("real@example.com", "right password");
      expect(blocked.status).toBe(429);
      // The per-IP budget is ten times the per-address one: 20 attempts, 3 of them made above.
      for (let i = 0; i < 17; i++)
        expect((await signIn(`other${i}@example.com`, "whatever1")).status).toBe(400);
      expect((await signIn("fresh@example.com", "whatever1")).status).toBe(429);
    } finally {
      await limited.close();
    }
  });
});

describe("password routes in upstream's order, and where passwords are off", () => {
  it("checks the new password's rules first, and refuses every password route once passwords are off", async () => {
    const user = await signUp();
    const asUser = client(project, { "x-stack-access-token": user.access_token });
    const post = (path: string, body: Record<string, unknown>, headers = asUser) =>
      api(test.url, `/api/v1/auth/password/${path}`, { method: "POST", headers, body });
    // A wrong old password and a short new one: the rules speak first.
    expect((await post("update", { old_password: "not it at all", new_password: "short" })).body.code).toBe(
      "PASSWORD_TOO_SHORT",
    );
    // So on set, before "already has a password".
    expect((await post("set", { password: "short" })).body.code).toBe("PASSWORD_TOO_SHORT");
    expect((await post("set", { password: "long enough one" })).text).toBe(
      "User already has a password set.",
    );

    const noPasswords = await createTestProject(test, "Passwords off");
    const signedUp = await api(test.url, "/api/v1/auth/password/sign-up", {
      method: "POST",
      headers: client(noPasswords),
      body: { email: freshEmail(), password: "made before it was off" },
    });
    await api(test.url, "/api/v1/internal/config/override/environment", {
      method: "PATCH",
      headers: keyHeaders(noPasswords.projectId, "admin", noPasswords.keys),
      body: { config_override_string: JSON.stringify({ "auth.password.allowSignIn": false }) },
    });
    const there = client(noPasswords, { "x-stack-access-token": signedUp.body.access_token });
    for (const [path, body] of [
      ["update", { old_password: "made before it was off", new_password: "a new one for it" }],
      ["set", { password: "a new one for it" }],
      ["send-reset-code", { email: "anyone@example.com", callback_url: "http://localhost:3000/reset" }],
      ["reset", { code: "a".repeat(45), password: "a new one for it" }],
    ] as const) {
      const refused = await post(path, body, there);
      expect(refused.body.code, path).toBe("PASSWORD_AUTHENTICATION_NOT_ENABLED");
    }
  });

  it("upgrades no anonymous user through password sign-up while sign-ups are off", async () => {
    const closed = await createTestProject(test, "Sign-ups off");
    const anonymous = await api(test.url, "/api/v1/auth/anonymous/sign-up", {
      method: "POST",
      headers: client(closed),
    });
    await api(test.url, "/api/v1/internal/config/override/environment", {
      method: "PATCH",
      headers: keyHeaders(closed.projectId, "admin", closed.keys),
      body: { config_override_string: JSON.stringify({ "auth.allowSignUp": false }) },
    });
    const refused = await api(test.url, "/api/v1/auth/password/sign-up", {
      method: "POST",
      headers: client(closed, {
        "x-stack-access-token": anonymous.body.access_token,
        "x-stack-allow-anonymous-user": "true",
      }),
      body: { email: freshEmail(), password: "would be an upgrade" },
    });
    expect(refused.body.code).toBe("SIGN_UP_NOT_ENABLED");
    const still = await api(test.url, `/api/v1/users/${anonymous.body.user_id}`, { headers: server(closed) });
    expect(still.body.is_anonymous).toBe(true);
  });
});

describe("request headers as the SDK sends them", () => {
  it("reads an empty header as none, and takes the SDK's stand-in for no publishable key", async () => {
    const emptyServerKey = await api(test.url, "/api/v1/users", {
      headers: {
        "x-stack-project-id": project.projectId,
        "x-stack-access-type": "server",
        "x-stack-secret-server-key": "",
      },
    });
    expect(emptyServerKey.body.code).toBe("SERVER_AUTHENTICATION_REQUIRED");
    const emptyAdminKey = await api(test.url, "/api/v1/internal/api-keys", {
      headers: {
        "x-stack-project-id": project.projectId,
        "x-stack-access-type": "admin",
        "x-stack-super-secret-admin-key": "",
      },
    });
    expect(emptyAdminKey.body.code).toBe("ADMIN_AUTHENTICATION_REQUIRED");
    const emptyToken = await api(test.url, "/api/v1/users/me", {
      headers: client(project, { "x-stack-access-token": "" }),
    });
    expect(emptyToken.body.code).toBe("CANNOT_GET_OWN_USER_WITHOUT_USER");
    // An empty x-stack- header does not hide the x-hexclave- spelling of it.
    const user = await signUp();
    const hexclave = await api(test.url, "/api/v1/users/me", {
      headers: client(project, { "x-stack-access-token": "", "x-hexclave-access-token": user.access_token }),
    });
    expect(hexclave.body.id).toBe(user.user_id);

    const sentinel = client(project, { "x-stack-publishable-client-key": "__stack_public_client__" });
    expect((await api(test.url, "/api/v1/projects/current", { headers: sentinel })).status).toBe(200);
    const requiring = await createTestProject(test, "Keys required");
    const required = await api(test.url, "/api/v1/internal/config/override/project", {
      method: "PATCH",
      headers: keyHeaders(requiring.projectId, "admin", requiring.keys),
      body: { config_override_string: JSON.stringify({ "project.requirePublishableClientKey": true }) },
    });
    expect(required.status).toBe(200);
    const refused = await api(test.url, "/api/v1/projects/current", {
      headers: client(requiring, { "x-stack-publishable-client-key": "__stack_public_client__" }),
    });
    expect(refused.body.code).toBe("PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT");
  });

  it("asks for the refresh token header by name when a refresh comes without one", async () => {
    const missing = await api(test.url, "/api/v1/auth/sessions/current/refresh", {
      method: "POST",
      headers: client(),
    });
    expect(missing.status).toBe(400);
    expect(missing.body.code).toBe("SCHEMA_ERROR");
    expect(missing.body.error).toContain("headers.x-stack-refresh-token must be defined");
    // Sent but empty, in either spelling: a token that matches no session, as upstream answers.
    for (const name of ["x-stack-refresh-token", "x-hexclave-refresh-token"]) {
      const empty = await api(test.url, "/api/v1/auth/sessions/current/refresh", {
        method: "POST",
        headers: client(undefined, { [name]: "" }),
      });
      expect(empty.status, name).toBe(401);
      expect(empty.body.code, name).toBe("REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    }
  });
});
