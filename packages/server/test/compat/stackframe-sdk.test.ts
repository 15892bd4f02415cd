import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  api,
  createTestProject,
  keyHeaders,
  startTestServer,
  type TestProject,
  type TestServer,
} from "../server.ts";
import { type SdkModule, sdkApps, sdkVersions } from "./sdk.ts";

/**
 * The official Stack Auth SDK, unchanged, against Latchkey: 2.8.102 sends `x-stack-*` headers, 2.8.108
 * sends `x-hexclave-*`. A recording proxy in front of the server proves which spelling each used.
 */
// The SDK refreshes below 20 s left and rejects a fresh token with less. `iat` is in whole seconds, so a
// token issued late in a second arrives with up to 1 s less than its lifetime, and the trip to the SDK
// takes the rest: 21 s failed now and then, and 22 s leaves a loaded machine a second. 30 s leaves ten.
const ACCESS_TOKEN_TTL_SECONDS = 30;

let test: TestServer;
let project: TestProject;
let proxy: Server;
let proxyUrl: string;
const seen: { prefix: string; path: string; version: string | undefined }[] = [];

beforeAll(async () => {
  test = await startTestServer({ accessTokenTtlSeconds: ACCESS_TOKEN_TTL_SECONDS });
  project = await createTestProject(test, "SDK project");
  const admin = keyHeaders(project.projectId, "admin", project.keys);
  await api(test.url, "/api/v1/internal/config/override/environment", {
    method: "PATCH",
    headers: admin,
    body: {
      config_override_string: JSON.stringify({
        "apiKeys.enabled.user": true,
        "teams.allowClientTeamCreation": true,
      }),
    },
  });
  proxy = createServer(async (request, response) => {
    const headerNames = Object.keys(request.headers);
    seen.push({
      prefix: headerNames.some((h) => h.startsWith("x-hexclave-"))
        ? "x-hexclave-"
        : headerNames.some((h) => h.startsWith("x-stack-"))
          ? "x-stack-"
          : "none",
      path: request.url ?? "",
      version: (request.headers["x-stack-client-version"] ?? request.headers["x-hexclave-client-version"]) as
        | string
        | undefined,
    });
    const body = await readBody(request);
    const upstream = await fetch(`${test.url}${request.url}`, {
      method: request.method,
      headers: Object.fromEntries(
        Object.entries(request.headers).filter(
          ([k]) => !["host", "connection", "content-length"].includes(k),
        ),
      ) as Record<string, string>,
      body: body.length > 0 ? body : undefined,
    });
    const headers: Record<string, string> = {};
    upstream.headers.forEach((value, key) => {
      if (key !== "content-encoding" && key !== "transfer-encoding" && key !== "content-length")
        headers[key] = value;
    });
    response.writeHead(upstream.status, headers);
    response.end(Buffer.from(await upstream.arrayBuffer()));
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => proxy?.close(resolve));
  await test?.close();
});

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

const apps = (sdk: SdkModule) => sdkApps(sdk, project, proxyUrl);

describe.each(sdkVersions)("@stackframe/js $name", ({ name, sdk, headerPrefix }) => {
  const email = `sdk-${name.replace(/\./g, "-")}-${Date.now()}@example.com`;
  const password = "sdk compat password";

  it("signs up, signs in, reads and updates the current user", async () => {
    const { client } = apps(sdk);
    const before = seen.length;
    const signUp = await client.signUpWithCredential({
      email,
      password,
      noRedirect: true,
      verificationCallbackUrl: "http://localhost:3000/handler/email-verification",
    });
    expect(signUp.status).toBe("ok");
    const user = await client.getUser({ or: "throw" });
    expect(user.primaryEmail).toBe(email);
    expect(user.hasPassword).toBe(true);
    await user.update({ displayName: `SDK ${name}`, clientMetadata: { sdk: name } });
    const again = await client.getUser({ or: "throw" });
    expect(again.displayName).toBe(`SDK ${name}`);
    expect(again.clientMetadata).toEqual({ sdk: name });
    await client.signOut({ redirectUrl: "http://localhost/ignored" }).catch(() => {});

    const fresh = apps(sdk).client;
    const signIn = await fresh.signInWithCredential({ email, password, noRedirect: true });
    expect(signIn.status).toBe("ok");
    expect((await fresh.getUser({ or: "throw" })).id).toBe(user.id);
    const wrong = await apps(sdk).client.signInWithCredential({
      email,
      password: "wrong password!",
      noRedirect: true,
    });
    expect(wrong.status).toBe("error");

    const traffic = seen
      .slice(before)
      .filter((r) => r.path.startsWith("/api/v1/") && !r.path.includes("/auth/oauth/token"));
    expect(traffic.length).toBeGreaterThan(0);
    expect(new Set(traffic.map((r) => r.prefix))).toEqual(new Set([headerPrefix]));
    expect(traffic.some((r) => r.version?.includes(name))).toBe(true);
  });

  it("creates and lists users from the server with pagination", async () => {
    const { server } = apps(sdk);
    const created = [];
    for (let i = 0; i < 3; i++) {
      created.push(
        await server.createUser({
          primaryEmail: `listed-${name}-${i}-${Date.now()}@example.com`,
          primaryEmailAuthEnabled: true,
          password: "server made password",
          displayName: `Listed ${name} ${i}`,
        }),
      );
    }
    const page = await server.listUsers({ limit: 2, query: `Listed ${name}` });
    expect(page).toHaveLength(2);
    expect(page.nextCursor).toEqual(expect.any(String));
    const rest = await server.listUsers({ limit: 2, query: `Listed ${name}`, cursor: page.nextCursor! });
    expect([...page, ...rest].map((u) => u.id).sort()).toEqual(created.map((u) => u.id).sort());
    const one = await server.getUser(created[0]!.id);
    expect(one?.displayName).toBe(`Listed ${name} 0`);
    expect(await server.getUser("00000000-0000-4000-8000-000000000000")).toBeNull();
  });

  it("creates teams, adds members and checks API keys", async () => {
    const { server } = apps(sdk);
    const owner = await server.createUser({
      primaryEmail: `owner-${name}-${Date.now()}@example.com`,
      primaryEmailAuthEnabled: true,
      password,
    });
    const member = await server.createUser({
      primaryEmail: `member-${name}-${Date.now()}@example.com`,
      primaryEmailAuthEnabled: true,
      password,
    });
    const team = await server.createTeam({ displayName: `Team ${name}`, creatorUserId: owner.id });
    await team.addUser(member.id);
    const members = await team.listUsers();
    expect(members.map((m) => m.id).sort()).toEqual([owner.id, member.id].sort());
    expect((await member.listTeams()).map((t) => t.id)).toEqual([team.id]);

    const key = await owner.createApiKey({
      description: `key ${name}`,
      expiresAt: new Date(Date.now() + 3_600_000),
    });
    const byKey = await server.getUser({ apiKey: key.value });
    expect(byKey?.id).toBe(owner.id);
    await key.revoke();
    expect(await server.getUser({ apiKey: key.value })).toBeNull();
  });

  it("lists and revokes sessions", async () => {
    const { client } = apps(sdk);
    expect((await client.signInWithCredential({ email, password, noRedirect: true })).status).toBe("ok");
    const other = apps(sdk).client;
    expect((await other.signInWithCredential({ email, password, noRedirect: true })).status).toBe("ok");
    const otherTokens = await (await other.getUser({ or: "throw" })).currentSession.getTokens();
    const otherSessionId = decodeJwt(otherTokens.accessToken!).refresh_token_id as string;

    const user = await client.getUser({ or: "throw" });
    const sessions = await user.getActiveSessions();
    expect(sessions.filter((s) => s.isCurrentSession)).toHaveLength(1);
    expect(sessions.map((s) => s.id)).toContain(otherSessionId);
    await user.revokeSession(otherSessionId);
    expect((await user.getActiveSessions()).map((s) => s.id)).not.toContain(otherSessionId);
    // The revoked session's refresh token is dead (its short-lived access token simply runs out).
    const refresh = await api(test.url, "/api/v1/auth/sessions/current/refresh", {
      method: "POST",
      headers: {
        "x-stack-project-id": project.projectId,
        "x-stack-access-type": "client",
        "x-stack-refresh-token": otherTokens.refreshToken!,
      },
    });
    expect(refresh.body.code).toBe("REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
  });
});

describe("token refresh after the access token expired", () => {
  it(
    "keeps both SDK versions signed in across expiry, through /auth/oauth/token",
    async () => {
      const signedIn = await Promise.all(
        sdkVersions.map(async ({ name, sdk }) => {
          const { client, server } = apps(sdk);
          const address = `refresh-${name}-${Date.now()}@example.com`;
          await server.createUser({
            primaryEmail: address,
            primaryEmailAuthEnabled: true,
            password: "refresh password",
          });
          expect(
            (
              await client.signInWithCredential({
                email: address,
                password: "refresh password",
                noRedirect: true,
              })
            ).status,
          ).toBe("ok");
          return { client, address };
        }),
      );
      const before = seen.filter((r) => r.path.includes("/auth/oauth/token")).length;
      await new Promise((resolve) => setTimeout(resolve, (ACCESS_TOKEN_TTL_SECONDS + 1) * 1000));
      for (const { client, address } of signedIn) {
        const user = await client.getUser({ or: "throw" });
        expect(user.primaryEmail).toBe(address);
      }
      expect(seen.filter((r) => r.path.includes("/auth/oauth/token")).length).toBeGreaterThanOrEqual(
        before + 2,
      );
    },
    (ACCESS_TOKEN_TTL_SECONDS + 20) * 1000,
  );
});
