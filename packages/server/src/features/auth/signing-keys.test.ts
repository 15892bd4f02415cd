import { decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../../test/child-process.ts";
import {
  api,
  clientHeaders,
  createTestProject,
  signUpWithPassword,
  startTestServer,
  type TestProject,
  type TestServer,
} from "../../../test/server.ts";
import { rotateSigningRoot, SigningKeys } from "./signing-keys.ts";
import { AccessTokens } from "./tokens.ts";

/** Rotation of the token-signing root: the previous keys stay published and accepted for one rotation. */
let test: TestServer;
let project: TestProject;
beforeAll(async () => {
  test = await startTestServer();
  project = await createTestProject(test, "key rotation");
});
afterAll(() => test?.close());

const kidOf = (token: string) => decodeProtectedHeader(token).kid;
const jwks = async (query = "") =>
  (await api(test.url, `/api/v1/projects/${project.projectId}/.well-known/jwks.json${query}`)).body.keys.map(
    (key: { kid: string }) => key.kid,
  );
const me = (accessToken: string) =>
  api(test.url, "/api/v1/users/me", {
    headers: { ...clientHeaders(project), "x-stack-access-token": accessToken },
  });

/** Rotates as `latchkey keys rotate` does, and lets the test server pick it up as its timer would. */
async function rotate() {
  await rotateSigningRoot(test.server.app.database);
  await test.server.app.signingKeys.reload();
}

describe("token-signing key rotation", () => {
  it("signs with the new keys and keeps accepting tokens of the previous ones", async () => {
    const before = await signUpWithPassword(test, project);
    const oldKid = kidOf(before.access_token);
    expect(await jwks()).toEqual([oldKid]);

    await rotate();
    const published = await jwks();
    expect(published).toHaveLength(2);
    expect(published[1]).toBe(oldKid);
    expect((await me(before.access_token)).status).toBe(200);

    const after = await signUpWithPassword(test, project);
    expect(kidOf(after.access_token)).toBe(published[0]);
    expect((await me(after.access_token)).status).toBe(200);
    // Two keys per audience, the signing one first.
    expect(await jwks("?include_anonymous=true")).toHaveLength(6);
  });

  it("is accepted at once by a process that has not read the new root yet", async () => {
    const otherProcess = await SigningKeys.load(test.server.app.database);
    const tokens = new AccessTokens(otherProcess, test.server.app.env.publicUrl, 600);
    await rotate();
    const session = await signUpWithPassword(test, project);
    const claims = await tokens.verify(session.access_token);
    expect(claims.sub).toBe(session.user_id);
    expect(otherProcess.get(project.projectId, "user").kid).toBe(kidOf(session.access_token));
  });

  it("retires the keys of two rotations ago", async () => {
    const early = await signUpWithPassword(test, project);
    await rotate();
    await rotate();
    const refused = await me(early.access_token);
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe("UNPARSABLE_ACCESS_TOKEN");
    expect(await jwks()).not.toContain(kidOf(early.access_token));
  });

  it("is what `latchkey keys rotate` does, the server picking it up from the database", async () => {
    const session = await signUpWithPassword(test, project);
    const run = (...args: string[]) => runCli(args, { DATABASE_URL: test.database.url });
    const rotated = await run("keys", "rotate");
    expect(rotated.stderr).toBe("");
    expect(rotated.status).toBe(0);
    expect(rotated.stdout).toContain("Rotated the token-signing keys");
    await test.server.app.signingKeys.reload();
    expect((await jwks())[1]).toBe(kidOf(session.access_token));
    expect((await run("keys", "spin")).status).not.toBe(0);
  });
});

describe("derived keys in memory", () => {
  it("keeps at most its bound, least recently used going first, however many projects tokens name", async () => {
    const keys = await SigningKeys.load(test.server.app.database, { maxCachedKeys: 40 });
    const hot = keys.get(project.projectId, "user");
    // Forged tokens naming made-up projects each derive a key before the project is looked up.
    for (let i = 0; i < 300; i++) {
      await keys.verifying(crypto.randomUUID(), "user", "no such kid");
      if (i % 10 === 0) keys.get(project.projectId, "user");
    }
    expect(keys.cachedKeyCount).toBeLessThanOrEqual(40);
    expect(keys.get(project.projectId, "user")).toBe(hot);
    // A key that was dropped is derived again, the same.
    const first = crypto.randomUUID();
    const kid = keys.get(first, "anonymous").kid;
    for (let i = 0; i < 100; i++) keys.get(crypto.randomUUID(), "user");
    expect(keys.get(first, "anonymous").kid).toBe(kid);
  });
});
