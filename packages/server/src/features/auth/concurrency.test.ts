import { hashSync } from "@node-rs/bcrypt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { behindLock, withConnection } from "../../../test/database.ts";
import { Mailbox } from "../../../test/mailbox.ts";
import {
  api,
  clientHeaders,
  createTestProject,
  patchEnvironmentConfig,
  serverHeaders,
  signUpWithPassword,
  startTestServer,
  type TestProject,
  type TestServer,
  uniqueEmail,
} from "../../../test/server.ts";

/** Concurrent requests on one user: each must answer as if it ran alone, before or after the others. */
let test: TestServer;
let mailbox: Mailbox;
let project: TestProject;

beforeAll(async () => {
  mailbox = await Mailbox.start();
  test = await startTestServer({ smtpUrl: mailbox.url });
  project = await createTestProject(test, "Concurrency project");
  await patchEnvironmentConfig(test, project, { "auth.otp.allowSignIn": true });
});
afterAll(async () => {
  await test?.close();
  await mailbox?.close();
});

const post = (path: string, body: unknown, headers = clientHeaders(project)) =>
  api(test.url, `/api/v1${path}`, { method: "POST", headers, body });

/** Runs `request` while the user row is held, and deletes the user once the request waits on it. */
const deletedUnder = <T>(userId: string, request: () => Promise<T>) =>
  behindLock(
    test.database.url,
    {
      lock: "SELECT 1 FROM users WHERE id = $1 FOR UPDATE",
      meanwhile: ["DELETE FROM users WHERE id = $1"],
      params: [userId],
    },
    request,
  );

const anonymousAllowed = { "x-stack-allow-anonymous-user": "true" };

/** How many answers had each status or known-error code. */
function tally(answers: { status: number; body?: { code?: string } }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const answer of answers) {
    const key = answer.body?.code ?? String(answer.status);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

const refresh = (refreshToken: string) =>
  api(test.url, "/api/v1/auth/oauth/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    rawBody: new URLSearchParams({
      grant_type: "refresh_token",
      refresh_token: refreshToken,
      client_id: project.projectId,
      client_secret: project.keys.publishable_client_key ?? "",
    }).toString(),
  });

describe("refreshing a session while the user row is locked", () => {
  it("answers at once, so a transaction that holds the user and then revokes sessions cannot deadlock it", async () => {
    const user = await signUpWithPassword(test, project);
    await withConnection(test.database.url, async (locker) => {
      // What a password change and a user delete do: the user row first, then the user's sessions.
      await locker.query("BEGIN");
      await locker.query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", [user.user_id]);
      const refreshed = await refresh(user.refresh_token);
      expect(refreshed.status).toBe(200);
      expect(refreshed.body.access_token).toEqual(expect.any(String));
      await locker.query("DELETE FROM sessions WHERE user_id = $1", [user.user_id]);
      await locker.query("COMMIT");
    });
    expect((await refresh(user.refresh_token)).body.code).toBe("REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
  });

  it("keeps every refresh and every password change whole when they race", async () => {
    const user = await signUpWithPassword(test, project);
    const sessions = await Promise.all(
      Array.from({ length: 4 }, () =>
        api(test.url, "/api/v1/auth/sessions", {
          method: "POST",
          headers: serverHeaders(project),
          body: { user_id: user.user_id },
        }),
      ),
    );
    const tokens = sessions.map((session) => session.body.refresh_token as string);
    const answers = await Promise.all([
      ...tokens.flatMap((token) => [refresh(token), refresh(token)]),
      api(test.url, `/api/v1/users/${user.user_id}`, {
        method: "PATCH",
        headers: serverHeaders(project),
        body: { password: "a brand new password" },
      }),
    ]);
    // A refresh that ran first answers 200, one that ran after the change finds its session gone.
    for (const answer of answers) {
      expect(answer.status === 200 || answer.body?.code === "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED").toBe(true);
    }
    expect(answers.at(-1)?.status).toBe(200);
    const signIn = await api(test.url, "/api/v1/auth/password/sign-in", {
      method: "POST",
      headers: clientHeaders(project),
      body: { email: user.email, password: "a brand new password" },
    });
    expect(signIn.status).toBe(200);
  });
});

describe("credentials changed by concurrent requests", () => {
  it("upgrades an anonymous user once; the other sign-ups of that session find it upgraded", async () => {
    const anonymous = await post("/auth/anonymous/sign-up", {});
    expect(anonymous.status).toBe(200);
    const email = uniqueEmail("upgrade");
    const asAnonymous = clientHeaders(project, anonymous.body.access_token, anonymousAllowed);
    const answers = await Promise.all(
      Array.from({ length: 6 }, () =>
        post("/auth/password/sign-up", { email, password: "upgrade password" }, asAnonymous),
      ),
    );
    // One upgrade; the rest come second, so they sign the address up anew and find it taken.
    expect(tally(answers)).toEqual({ "200": 1, USER_EMAIL_ALREADY_EXISTS: 5 });
    const upgraded = answers.find((answer) => answer.status === 200)!;
    expect(upgraded.body.user_id).toBe(anonymous.body.user_id);
    expect((await refresh(upgraded.body.refresh_token)).status).toBe(200);
  });

  it("changes a password once for one old password, and sets a missing one once", async () => {
    const user = await signUpWithPassword(test, project);
    const asUser = clientHeaders(project, user.access_token);
    const updates = await Promise.all(
      ["first", "second", "third", "fourth"].map((name) =>
        post(
          "/auth/password/update",
          { old_password: user.password, new_password: `${name} new password` },
          asUser,
        ),
      ),
    );
    expect(tally(updates)).toEqual({ "200": 1, PASSWORD_CONFIRMATION_MISMATCH: 3 });

    const passwordless = await post("/auth/anonymous/sign-up", {});
    const asPasswordless = clientHeaders(project, passwordless.body.access_token, anonymousAllowed);
    const sets = await Promise.all(
      ["first", "second", "third", "fourth"].map((name) =>
        post("/auth/password/set", { password: `${name} set password` }, asPasswordless),
      ),
    );
    expect(tally(sets)).toEqual({ "200": 1, "400": 3 });
  });

  it("signs both codes of one new address in as one user", async () => {
    const email = uniqueEmail("otp");
    const codes: string[] = [];
    for (const _ of [1, 2]) {
      const sent = await post("/auth/otp/send-sign-in-code", {
        email,
        callback_url: "http://localhost:3000/magic",
      });
      const mail = await mailbox.waitFor(email, /sign-in code/);
      codes.push(/: ([0-9A-Z]{6})$/.exec(mail.subject)![1]! + sent.body.nonce);
    }
    const answers = await Promise.all(codes.map((code) => post("/auth/otp/sign-in", { code })));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
    expect(answers[0]!.body.user_id).toBe(answers[1]!.body.user_id);
    expect(answers.map((answer) => answer.body.is_new_user).sort()).toEqual([false, true]);
  });

  it("opens no session for a sign-in whose password changed while it was checked", async () => {
    const user = await signUpWithPassword(test, project);
    // A password change in progress: the credential rewritten, the sessions not yet revoked. The
    // sign-in matches the old hash, still the committed one, then reaches the changing row.
    const signIn = await behindLock(
      test.database.url,
      {
        lock: "UPDATE password_credentials SET password_hash = 'changed' WHERE user_id = $1",
        meanwhile: ["DELETE FROM sessions WHERE user_id = $1"],
        params: [user.user_id],
      },
      () => post("/auth/password/sign-in", { email: user.email, password: user.password }),
    );
    expect(signIn.body.code).toBe("EMAIL_PASSWORD_MISMATCH");
    const { rows } = await test.server.app.database.pool.query("SELECT 1 FROM sessions WHERE user_id = $1", [
      user.user_id,
    ]);
    expect(rows).toEqual([]);
  });

  it("answers a sign-in whose user is deleted under it as a wrong password", async () => {
    const user = await signUpWithPassword(test, project);
    const signIn = await deletedUnder(user.user_id, () =>
      post("/auth/password/sign-in", { email: user.email, password: user.password }),
    );
    expect(signIn.body.code).toBe("EMAIL_PASSWORD_MISMATCH");
  });

  it("answers a server-made session for a user deleted under it as a missing user id", async () => {
    const user = await signUpWithPassword(test, project);
    const created = await deletedUnder(user.user_id, () =>
      post("/auth/sessions", { user_id: user.user_id }, serverHeaders(project)),
    );
    expect(created.status).toBe(400);
    expect(created.body).toMatchObject({
      code: "USER_ID_DOES_NOT_EXIST",
      details: { user_id: user.user_id },
    });
  });

  it("signs a new user up with a code whose user was deleted while it was used", async () => {
    const user = await signUpWithPassword(test, project);
    const sent = await post("/auth/otp/send-sign-in-code", {
      email: user.email,
      callback_url: "http://localhost:3000/magic",
    });
    const mail = await mailbox.waitFor(user.email, /sign-in code/);
    const code = /: ([0-9A-Z]{6})$/.exec(mail.subject)![1]! + sent.body.nonce;
    const signedIn = await deletedUnder(user.user_id, () => post("/auth/otp/sign-in", { code }));
    expect(signedIn.status).toBe(200);
    expect(signedIn.body.is_new_user).toBe(true);
    expect(signedIn.body.user_id).not.toBe(user.user_id);
  });

  it("gives a new address to whichever of an OTP code and a password sign-up comes first", async () => {
    const email = uniqueEmail("both-ways");
    const sent = await post("/auth/otp/send-sign-in-code", {
      email,
      callback_url: "http://localhost:3000/magic",
    });
    const mail = await mailbox.waitFor(email, /sign-in code/);
    const code = /: ([0-9A-Z]{6})$/.exec(mail.subject)![1]! + sent.body.nonce;
    const tenancy = await test.server.app.database.pool.query(
      "SELECT id FROM tenancies WHERE project_id = $1",
      [project.projectId],
    );
    // Holds the address, so both requests reach it before either makes the user.
    const [signUp, otp] = await behindLock(
      test.database.url,
      {
        lock: "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        params: [`auth-email:${tenancy.rows[0].id}:${email}`],
        waiters: 2,
      },
      () =>
        Promise.all([
          post("/auth/password/sign-up", { email, password: "both ways password" }),
          post("/auth/otp/sign-in", { code }),
        ]),
    );
    // Whichever came first has the address. A password sign-up leaves it unproven, so the code does not
    // open that account; a code that came first signed the address up, and the password finds it taken.
    if (signUp!.status === 200) {
      expect(otp!.status).toBe(409);
      expect(otp!.body).toMatchObject({
        code: "USER_EMAIL_ALREADY_EXISTS",
        details: { would_work_if_email_was_verified: true },
      });
    } else {
      expect(signUp!.body.code).toBe("USER_EMAIL_ALREADY_EXISTS");
      expect(otp!.status).toBe(200);
      expect(otp!.body.is_new_user).toBe(true);
    }
  });

  it("signs an imported bcrypt user in twice at once: the second finds the first's rehash and takes it", async () => {
    const email = uniqueEmail("bcrypt");
    const created = await post(
      "/users",
      {
        primary_email: email,
        primary_email_auth_enabled: true,
        password_hash: hashSync("imported password", { cost: 4 }),
      },
      serverHeaders(project),
    );
    // Both sign-ins check the bcrypt hash, then wait to rehash it to argon2id over a held credential.
    const answers = await behindLock(
      test.database.url,
      {
        lock: "SELECT 1 FROM password_credentials WHERE user_id = $1 FOR UPDATE",
        params: [created.body.id],
        waiters: 2,
      },
      () =>
        Promise.all(
          [1, 2].map(() => post("/auth/password/sign-in", { email, password: "imported password" })),
        ),
    );
    expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
  });
});
