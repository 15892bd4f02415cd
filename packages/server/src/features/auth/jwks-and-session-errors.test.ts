import { decodeJwt, decodeProtectedHeader, importJWK, type JWK, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
} from "../../../test/server.ts";
import { AccessTokens, type TokenUserClaims } from "./tokens.ts";

/**
 * The JWKS endpoint and its anonymous-user alias (spec core-api §6.6), and the error answers of
 * `DELETE /auth/sessions/current` and of request authentication (§1.2, §1.3, §6.3).
 */
let test: TestServer;
let project: TestProject;
let other: TestProject;
/** A project with `onboarding.requireEmailVerification`: its new password users are restricted. */
let verifying: TestProject;

beforeAll(async () => {
  test = await startTestServer();
  project = await createTestProject(test, "JWKS project");
  other = await createTestProject(test, "Other JWKS project");
  verifying = await createTestProject(test, "Verification-required project");
  await patchEnvironmentConfig(test, verifying, { "onboarding.requireEmailVerification": true });
});
afterAll(() => test?.close());

const client = (p = project, extra: Record<string, string> = {}) => clientHeaders(p, undefined, extra);
const server = (p = project) => serverHeaders(p);
const kidOf = (token: string) => decodeProtectedHeader(token).kid;

interface PublicJwk extends JWK {
  kid: string;
}

const jwks = (projectId: string, query = "") =>
  api(test.url, `/api/v1/projects/${projectId}/.well-known/jwks.json${query}`);
const kids = async (projectId: string, query = "") => {
  const res = await jwks(projectId, query);
  expect(res.status).toBe(200);
  return (res.body.keys as PublicJwk[]).map((key) => key.kid);
};

async function anonymousSignUp(p = project) {
  const res = await api(test.url, "/api/v1/auth/anonymous/sign-up", { method: "POST", headers: client(p) });
  expect(res.status).toBe(200);
  return res.body as { access_token: string; refresh_token: string; user_id: string };
}

/** A user restricted by an administrator, signed in through `POST /auth/sessions`. */
async function restrictedByAdmin(p = project) {
  const created = await api(test.url, "/api/v1/users", {
    method: "POST",
    headers: server(p),
    body: { restricted_by_admin: true, restricted_by_admin_reason: "under review" },
  });
  expect(created.status).toBe(201);
  const session = await api(test.url, "/api/v1/auth/sessions", {
    method: "POST",
    headers: server(p),
    body: { user_id: created.body.id },
  });
  expect(session.status).toBe(200);
  return {
    user_id: created.body.id as string,
    ...(session.body as { access_token: string; refresh_token: string }),
  };
}

const signOut = (headers: Record<string, string>) =>
  api(test.url, "/api/v1/auth/sessions/current", { method: "DELETE", headers, body: {} });

const refresh = (refreshToken: string, p = project) =>
  api(test.url, "/api/v1/auth/sessions/current/refresh", {
    method: "POST",
    headers: client(p, { "x-stack-refresh-token": refreshToken }),
  });

/** The same token as `accessToken`, re-issued with the server's own keys but expired two minutes ago. */
async function expiredCopyOf(accessToken: string): Promise<string> {
  const claims = decodeJwt(accessToken) as unknown as TokenUserClaims & {
    project_id: string;
    branch_id: string;
    refresh_token_id: string;
  };
  const tokens = new AccessTokens(test.server.app.signingKeys, test.server.app.env.publicUrl, -120);
  return tokens.issue({
    projectId: claims.project_id,
    branchId: claims.branch_id,
    sessionId: claims.refresh_token_id,
    user: {
      sub: claims.sub,
      name: claims.name,
      email: claims.email,
      email_verified: claims.email_verified,
      selected_team_id: claims.selected_team_id,
      signed_up_at: claims.signed_up_at,
      is_anonymous: claims.is_anonymous,
      is_restricted: claims.is_restricted,
      restricted_reason: claims.restricted_reason,
      requires_totp_mfa: claims.requires_totp_mfa,
    },
  });
}

describe("GET /projects/{project_id}/.well-known/jwks.json", () => {
  it("publishes normal-user keys by default and adds restricted, then anonymous, keys on request", async () => {
    const user = await signUpWithPassword(test, project);
    const restricted = await restrictedByAdmin();
    const anonymous = await anonymousSignUp();
    expect(decodeJwt(restricted.access_token).aud).toBe(`${project.projectId}:restricted`);
    expect(decodeJwt(anonymous.access_token).aud).toBe(`${project.projectId}:anon`);
    const [normalKid, restrictedKid, anonymousKid] = [user, restricted, anonymous].map((s) =>
      kidOf(s.access_token),
    );

    const base = await kids(project.projectId);
    expect(base).toContain(normalKid);
    expect(base).not.toContain(restrictedKid);
    expect(base).not.toContain(anonymousKid);
    expect(await kids(project.projectId, "?include_restricted=false&include_anonymous=false")).toEqual(base);

    const withRestricted = await kids(project.projectId, "?include_restricted=true");
    expect(withRestricted).toHaveLength(2 * base.length);
    expect(withRestricted).toEqual(expect.arrayContaining([...base, restrictedKid]));
    expect(withRestricted).not.toContain(anonymousKid);

    // include_anonymous implies restricted, whatever include_restricted says.
    for (const query of ["?include_anonymous=true", "?include_anonymous=true&include_restricted=false"]) {
      const withAnonymous = await kids(project.projectId, query);
      expect(withAnonymous).toHaveLength(3 * base.length);
      expect(withAnonymous).toEqual(expect.arrayContaining([...withRestricted, anonymousKid]));
    }
  });

  it("serves EC P-256 keys, cacheable, that verify each kind of token", async () => {
    const restricted = await restrictedByAdmin();
    const anonymous = await anonymousSignUp();
    const res = await jwks(project.projectId, "?include_anonymous=true");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("public, max-age=3600");
    const keys = res.body.keys as PublicJwk[];
    for (const key of keys) {
      expect(key).toMatchObject({ kty: "EC", alg: "ES256", crv: "P-256" });
      expect(key.x).toEqual(expect.any(String));
      expect(key.y).toEqual(expect.any(String));
      expect(key).not.toHaveProperty("d");
    }
    for (const token of [restricted.access_token, anonymous.access_token]) {
      const key = keys.find((k) => k.kid === kidOf(token));
      expect(key).toBeDefined();
      const { payload } = await jwtVerify(token, await importJWK(key!, "ES256"));
      expect(payload.project_id).toBe(project.projectId);
    }
  });

  it("has keys of its own per project", async () => {
    const user = await signUpWithPassword(test, project);
    const otherKids = await kids(other.projectId, "?include_anonymous=true");
    expect(otherKids).not.toContain(kidOf(user.access_token));
    expect(otherKids).toHaveLength((await kids(project.projectId, "?include_anonymous=true")).length);
  });

  it("validates its query and answers an unknown project with text 404", async () => {
    for (const query of ["?include_restricted=yes", "?include_anonymous=1", "?extra=true"]) {
      expectKnownError(await jwks(project.projectId, query), 400, "SCHEMA_ERROR");
    }
    const unknown = await jwks("00000000-0000-4000-8000-000000000000", "?include_anonymous=true");
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("x-stack-known-error")).toBeNull();
  });
});

describe("/projects-anonymous-users/{project_id}/.well-known/*", () => {
  const redirectStatuses = [301, 302, 303, 307, 308];
  const manual = (path: string) => fetch(`${test.url}${path}`, { redirect: "manual" });

  it("redirects the JWKS to the project's JWKS with include_anonymous=true", async () => {
    const res = await manual(`/api/v1/projects-anonymous-users/${project.projectId}/.well-known/jwks.json`);
    expect(redirectStatuses).toContain(res.status);
    const location = new URL(res.headers.get("location") ?? "", test.url);
    expect(`${location.origin}${location.pathname}`).toBe(
      `${test.url}/api/v1/projects/${project.projectId}/.well-known/jwks.json`,
    );
    expect(location.searchParams.get("include_anonymous")).toBe("true");

    // Followed, it serves exactly the anonymous-inclusive key set.
    const followed = await api(
      test.url,
      `/api/v1/projects-anonymous-users/${project.projectId}/.well-known/jwks.json`,
    );
    expect(followed.status).toBe(200);
    const direct = await jwks(project.projectId, "?include_anonymous=true");
    expect(followed.body).toEqual(direct.body);
    const anonymous = await anonymousSignUp();
    expect((followed.body.keys as PublicJwk[]).map((k) => k.kid)).toContain(kidOf(anonymous.access_token));

    // The anonymous issuer is this alias path, so it must lead to the keys for anonymous tokens.
    expect(decodeJwt(anonymous.access_token).iss).toBe(
      `${test.server.app.env.publicUrl}/api/v1/projects-anonymous-users/${project.projectId}`,
    );
  });

  it("redirects an unknown project too, whose JWKS then answers 404", async () => {
    const unknown = "00000000-0000-4000-8000-000000000000";
    const res = await manual(`/api/v1/projects-anonymous-users/${unknown}/.well-known/jwks.json`);
    expect(redirectStatuses).toContain(res.status);
    const followed = await api(test.url, `/api/v1/projects-anonymous-users/${unknown}/.well-known/jwks.json`);
    expect(followed.status).toBe(404);
  });

  it("redirects any .well-known path, not only jwks.json, keeping the query", async () => {
    const res = await manual(
      `/api/v1/projects-anonymous-users/${project.projectId}/.well-known/openid-configuration?lang=en`,
    );
    expect(redirectStatuses).toContain(res.status);
    const location = new URL(res.headers.get("location") ?? "", test.url);
    expect(location.pathname).toBe(`/api/v1/projects/${project.projectId}/.well-known/openid-configuration`);
    expect(location.searchParams.get("include_anonymous")).toBe("true");
    expect(location.searchParams.get("lang")).toBe("en");
  });

  it("sends restricted users' issuer to the keys with include_restricted=true", async () => {
    const res = await manual(`/api/v1/projects-restricted-users/${project.projectId}/.well-known/jwks.json`);
    expect(redirectStatuses).toContain(res.status);
    const location = new URL(res.headers.get("location") ?? "", test.url);
    expect(location.pathname).toBe(`/api/v1/projects/${project.projectId}/.well-known/jwks.json`);
    expect(location.searchParams.get("include_restricted")).toBe("true");
    expect(location.searchParams.has("include_anonymous")).toBe(false);
  });
});

describe("DELETE /auth/sessions/current errors", () => {
  it("answers ACCESS_TOKEN_EXPIRED without an access token, and ends no session", async () => {
    const session = await signUpWithPassword(test, project);
    const requests = [
      client(),
      client(project, { "x-stack-refresh-token": session.refresh_token }),
      server(),
      { ...server(), "x-stack-refresh-token": session.refresh_token },
    ];
    for (const headers of requests) {
      const before = Date.now();
      const res = await signOut(headers);
      expectKnownError(res, 401, "ACCESS_TOKEN_EXPIRED");
      expect(res.body.details).toMatchObject({ project_id: null, user_id: null, refresh_token_id: null });
      // Upstream says the missing token expired now, and says when in the message.
      expect(res.body.details.expired_at_millis).toBeGreaterThanOrEqual(before);
      expect(res.body.details.expired_at_millis).toBeLessThanOrEqual(Date.now());
      expect(res.body.error).toContain(
        `(The access token expired at ${new Date(res.body.details.expired_at_millis).toISOString()}.)`,
      );
    }
    expect((await refresh(session.refresh_token)).status).toBe(200);
  });

  it("answers REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED once the session is gone", async () => {
    const session = await signUpWithPassword(test, project);
    const headers = clientHeaders(project, session.access_token);
    expect((await signOut(headers)).body).toEqual({ success: true });
    expectKnownError(await signOut(headers), 401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
  });

  it("answers ACCESS_TOKEN_EXPIRED with the token's details for an expired access token", async () => {
    const session = await signUpWithPassword(test, project);
    const expired = await expiredCopyOf(session.access_token);
    const claims = decodeJwt(expired);
    const res = await signOut(clientHeaders(project, expired));
    expectKnownError(res, 401, "ACCESS_TOKEN_EXPIRED");
    expect(res.body.details).toEqual({
      expired_at_millis: claims.exp! * 1000,
      project_id: project.projectId,
      user_id: session.user_id,
      refresh_token_id: claims.refresh_token_id,
    });
    // The session itself was not touched.
    expect((await refresh(session.refresh_token)).status).toBe(200);
  });

  it("answers RESTRICTED_USER_NOT_ALLOWED for a restricted user unless the request allows them", async () => {
    const session = await signUpWithPassword(test, verifying);
    expect(decodeJwt(session.access_token)).toMatchObject({
      is_restricted: true,
      restricted_reason: { type: "email_not_verified" },
    });
    const refused = await signOut(clientHeaders(verifying, session.access_token));
    expectKnownError(refused, 403, "RESTRICTED_USER_NOT_ALLOWED");
    expect(refused.body.details).toEqual({ restricted_reason: { type: "email_not_verified" } });
    // The token check comes before the key check (spec §1.2 steps 5 and 7).
    const wrongKey = await signOut({
      ...serverHeaders(verifying),
      "x-stack-secret-server-key": "ssk_wrong",
      "x-stack-access-token": session.access_token,
    });
    expectKnownError(wrongKey, 403, "RESTRICTED_USER_NOT_ALLOWED");
    expect((await refresh(session.refresh_token, verifying)).status).toBe(200);

    const allowed = await signOut(
      clientHeaders(verifying, session.access_token, { "x-stack-allow-restricted-user": "true" }),
    );
    expect(allowed.status).toBe(200);
    expect(allowed.body).toEqual({ success: true });
    expectKnownError(
      await refresh(session.refresh_token, verifying),
      401,
      "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED",
    );
  });

  it("names the administrator as the reason for a user restricted by one", async () => {
    const restricted = await restrictedByAdmin();
    const refused = await signOut(clientHeaders(project, restricted.access_token));
    expectKnownError(refused, 403, "RESTRICTED_USER_NOT_ALLOWED");
    expect(refused.body.details).toEqual({ restricted_reason: { type: "restricted_by_administrator" } });
    const viaAnonymousHeader = await signOut(
      clientHeaders(project, restricted.access_token, { "x-stack-allow-anonymous-user": "true" }),
    );
    expect(viaAnonymousHeader.body).toEqual({ success: true });
  });

  it("answers ANONYMOUS_AUTHENTICATION_NOT_ALLOWED, not RESTRICTED_USER_NOT_ALLOWED, for anonymous users", async () => {
    const anonymous = await anonymousSignUp();
    const extras: Record<string, string>[] = [{}, { "x-stack-allow-restricted-user": "true" }];
    for (const extra of extras) {
      const res = await signOut(clientHeaders(project, anonymous.access_token, extra));
      expectKnownError(res, 401, "ANONYMOUS_AUTHENTICATION_NOT_ALLOWED");
    }
    const allowed = await signOut(
      clientHeaders(project, anonymous.access_token, { "x-stack-allow-anonymous-user": "true" }),
    );
    expect(allowed.body).toEqual({ success: true });
  });
});

describe("ADMIN_ACCESS_TOKEN_EXPIRED (spec §1.3)", () => {
  const internalClient = (token?: string) => clientHeaders({ projectId: "internal" } as TestProject, token);

  /** A dashboard user of the internal project who owns a new project. */
  async function dashboardOwner() {
    const owner = await signUpWithPassword(test, { projectId: "internal" } as TestProject);
    const me = await api(test.url, "/api/v1/users/me", { headers: internalClient(owner.access_token) });
    const created = await api(test.url, "/api/v1/internal/projects", {
      method: "POST",
      headers: internalClient(owner.access_token),
      body: { display_name: "Dashboard-managed", owner_team_id: me.body.selected_team_id },
    });
    expect(created.status).toBe(201);
    return { token: owner.access_token, projectId: created.body.id as string };
  }

  it("refuses an expired admin access token, for every access type", async () => {
    const owner = await dashboardOwner();
    const headers = (type: string, token: string) => ({
      "x-stack-project-id": owner.projectId,
      "x-stack-access-type": type,
      "x-stack-admin-access-token": token,
    });
    const fresh = await api(test.url, "/api/v1/internal/projects/current", {
      headers: headers("admin", owner.token),
    });
    expect(fresh.status).toBe(200);

    const expired = await expiredCopyOf(owner.token);
    const expiredAtMillis = decodeJwt(expired).exp! * 1000;
    for (const [type, path] of [
      ["admin", "/api/v1/internal/projects/current"],
      ["server", "/api/v1/users"],
      ["client", "/api/v1/projects/current"],
    ] as const) {
      const res = await api(test.url, path, { headers: headers(type, expired) });
      expectKnownError(res, 401, "ADMIN_ACCESS_TOKEN_EXPIRED");
      expect(res.body.details).toEqual({ expired_at_millis: expiredAtMillis });
    }
  });

  it("refuses a sign-out carrying an expired admin access token, and ends no session", async () => {
    const owner = await dashboardOwner();
    const user = await signUpWithPassword(test, { projectId: owner.projectId } as TestProject);
    const expired = await expiredCopyOf(owner.token);
    const res = await signOut({
      "x-stack-project-id": owner.projectId,
      "x-stack-access-type": "server",
      "x-stack-admin-access-token": expired,
      "x-stack-access-token": user.access_token,
    });
    expectKnownError(res, 401, "ADMIN_ACCESS_TOKEN_EXPIRED");
    const stillSignedIn = await api(test.url, "/api/v1/auth/sessions/current/refresh", {
      method: "POST",
      headers: clientHeaders({ projectId: owner.projectId } as TestProject, undefined, {
        "x-stack-refresh-token": user.refresh_token,
      }),
    });
    expect(stillSignedIn.status).toBe(200);
  });
});

describe("forged access tokens", () => {
  /** An unsigned token: only its claims matter, it must never get as far as a signature check. */
  const forged = (projectId: string) =>
    [
      Buffer.from(JSON.stringify({ alg: "ES256", kid: "k" })).toString("base64url"),
      Buffer.from(
        JSON.stringify({ project_id: projectId, aud: projectId, sub: crypto.randomUUID() }),
      ).toString("base64url"),
      "c2lnbmF0dXJl",
    ].join(".");

  it("refuses one naming a project id too long to be any project's, user or admin token alike", async () => {
    const projectId = "é".repeat(600);
    const asUser = await api(test.url, "/api/v1/users/me", {
      headers: client(project, { "x-stack-access-token": forged(projectId) }),
    });
    expectKnownError(asUser, 401, "UNPARSABLE_ACCESS_TOKEN");
    const asAdmin = await api(test.url, "/api/v1/internal/projects", {
      headers: {
        "x-stack-access-type": "admin",
        "x-stack-project-id": "internal",
        "x-stack-admin-access-token": forged(projectId),
      },
    });
    expectKnownError(asAdmin, 401, "UNPARSABLE_ADMIN_ACCESS_TOKEN");
  });
});
