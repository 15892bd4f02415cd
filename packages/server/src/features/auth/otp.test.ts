import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Mailbox } from "../../../test/mailbox.ts";
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
let mailbox: Mailbox;
let project: TestProject;

beforeAll(async () => {
  mailbox = await Mailbox.start();
  test = await startTestServer({ smtpUrl: mailbox.url });
  project = await createTestProject(test, "OTP project");
});
afterAll(async () => {
  await test?.close();
  await mailbox?.close();
});

const headers = () => ({ "x-stack-project-id": project.projectId, "x-stack-access-type": "client" });

async function sendCode(email: string) {
  const res = await api(test.url, "/api/v1/auth/otp/send-sign-in-code", {
    method: "POST",
    headers: headers(),
    body: { email, callback_url: "http://localhost:3000/magic" },
  });
  return res;
}

describe("one-time codes and magic links", () => {
  it("is refused while OTP sign-in is off", async () => {
    const res = await sendCode("off@example.com");
    expect(res.status).toBe(403);
    expect(res.headers.get("content-type")).toContain("text/plain");
  });

  it("signs up with the OTP plus nonce, then signs in with the magic link", async () => {
    await api(test.url, "/api/v1/internal/config/override/environment", {
      method: "PATCH",
      headers: keyHeaders(project.projectId, "admin", project.keys),
      body: { config_override_string: JSON.stringify({ "auth.otp.allowSignIn": true }) },
    });
    const email = `otp-${Date.now()}@example.com`;
    const sent = await sendCode(email);
    expect(sent.status).toBe(200);
    expect(sent.body.nonce).toHaveLength(39);
    const mail = await mailbox.waitFor(email, /sign-in code/);
    const otp = /: ([0-9A-Z]{6})$/.exec(mail.subject)![1]!;
    const check = await api(test.url, "/api/v1/auth/otp/sign-in/check-code", {
      method: "POST",
      headers: headers(),
      body: { code: otp + sent.body.nonce },
    });
    expect(check.body).toEqual({ is_code_valid: true });
    const signUp = await api(test.url, "/api/v1/auth/otp/sign-in", {
      method: "POST",
      headers: headers(),
      body: { code: otp + sent.body.nonce },
    });
    expect(signUp.status).toBe(200);
    expect(signUp.body.is_new_user).toBe(true);
    const me = await api(test.url, "/api/v1/users/me", {
      headers: { ...headers(), "x-stack-access-token": signUp.body.access_token },
    });
    expect(me.body).toMatchObject({
      primary_email: email,
      primary_email_verified: true,
      otp_auth_enabled: true,
      has_password: false,
    });

    await sendCode(email);
    const link = Mailbox.codeOf(await mailbox.waitFor(email, /sign-in code/));
    const signIn = await api(test.url, "/api/v1/auth/otp/sign-in", {
      method: "POST",
      headers: headers(),
      body: { code: link },
    });
    expect(signIn.body).toMatchObject({ is_new_user: false, user_id: signUp.body.user_id });
    const reused = await api(test.url, "/api/v1/auth/otp/sign-in", {
      method: "POST",
      headers: headers(),
      body: { code: link },
    });
    expect(reused.body.code).toBe("VERIFICATION_CODE_ALREADY_USED");
  });

  it.each([
    ["sign-in", "/api/v1/auth/otp/sign-in"],
    ["check-code", "/api/v1/auth/otp/sign-in/check-code"],
  ])("kills a code after 20 wrong guesses of its six characters at %s", async (_, guessPath) => {
    const email = `guess-${Date.now()}@example.com`;
    const sent = await sendCode(email);
    const otp = /: ([0-9A-Z]{6})$/.exec((await mailbox.waitFor(email, /sign-in code/)).subject)![1]!;
    const wrong = otp === "AAAAAA" ? "BBBBBB" : "AAAAAA";
    for (let i = 0; i < 20; i++) {
      const miss = await api(test.url, guessPath, {
        method: "POST",
        headers: headers(),
        body: { code: wrong + sent.body.nonce },
      });
      expect(miss.body.code).toBe("VERIFICATION_CODE_NOT_FOUND");
    }
    for (const usePath of ["/api/v1/auth/otp/sign-in/check-code", "/api/v1/auth/otp/sign-in"]) {
      const right = await api(test.url, usePath, {
        method: "POST",
        headers: headers(),
        body: { code: otp + sent.body.nonce },
      });
      expect(right.body.code, usePath).toBe("VERIFICATION_CODE_MAX_ATTEMPTS_REACHED");
    }
  });

  it("answers a wrong guess without taking a second connection, so guesses cannot starve the pool", async () => {
    // With one connection, a guess counted inside its sign-in transaction waits for itself.
    const solo = await startTestServer({ databasePoolSize: 1, databasePoolWaitMs: 2_000 });
    try {
      const soloProject = await createTestProject(solo, "OTP, one connection");
      await api(solo.url, "/api/v1/internal/config/override/environment", {
        method: "PATCH",
        headers: keyHeaders(soloProject.projectId, "admin", soloProject.keys),
        body: { config_override_string: JSON.stringify({ "auth.otp.allowSignIn": true }) },
      });
      const miss = await api(solo.url, "/api/v1/auth/otp/sign-in", {
        method: "POST",
        headers: { "x-stack-project-id": soloProject.projectId, "x-stack-access-type": "client" },
        body: { code: `AAAAAA${"n".repeat(39)}` },
      });
      expect(miss.status).toBe(404);
      expect(miss.body.code).toBe("VERIFICATION_CODE_NOT_FOUND");
    } finally {
      await solo.close();
    }
  });
});

describe("which account a code opens", () => {
  const server = () => keyHeaders(project.projectId, "server", project.keys);
  const setConfig = (override: Record<string, unknown>) =>
    api(test.url, "/api/v1/internal/config/override/environment", {
      method: "PATCH",
      headers: keyHeaders(project.projectId, "admin", project.keys),
      body: { config_override_string: JSON.stringify(override) },
    });
  /** Asks for a code for `email` and reads it from the e-mail: the six characters plus the nonce. */
  async function codeFor(email: string, extraHeaders: Record<string, string> = {}) {
    const sent = await api(test.url, "/api/v1/auth/otp/send-sign-in-code", {
      method: "POST",
      headers: { ...headers(), ...extraHeaders },
      body: { email, callback_url: "http://localhost:3000/magic" },
    });
    // Asking for a code says nothing about the address: the answer is the same for every one.
    expect(sent.status).toBe(200);
    const mail = await mailbox.waitFor(email, /sign-in code/);
    return /: ([0-9A-Z]{6})$/.exec(mail.subject)![1]! + sent.body.nonce;
  }
  const signIn = (code: string, extraHeaders: Record<string, string> = {}) =>
    api(test.url, "/api/v1/auth/otp/sign-in", {
      method: "POST",
      headers: { ...headers(), ...extraHeaders },
      body: { code },
    });
  const unique = (name: string) => `${name}-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`;

  beforeAll(async () => {
    await setConfig({ "auth.otp.allowSignIn": true });
  });

  it("does not open an account whose address nobody has proven: its creator may be someone else", async () => {
    const email = unique("squatted");
    const squatter = await api(test.url, "/api/v1/auth/password/sign-up", {
      method: "POST",
      headers: headers(),
      body: { email, password: "the squatter's password" },
    });
    const refused = await signIn(await codeFor(email));
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({
      code: "USER_EMAIL_ALREADY_EXISTS",
      details: { email, would_work_if_email_was_verified: true },
    });
    // Once the address is verified, the code signs in to that account and adds the method to it.
    await api(test.url, `/api/v1/users/${squatter.body.user_id}`, {
      method: "PATCH",
      headers: server(),
      body: { primary_email_verified: true },
    });
    const accepted = await signIn(await codeFor(email));
    expect(accepted.body).toMatchObject({ user_id: squatter.body.user_id, is_new_user: false });
    const user = await api(test.url, `/api/v1/users/${squatter.body.user_id}`, { headers: server() });
    expect(user.body.otp_auth_enabled).toBe(true);
  });

  it("asks a user with TOTP for the second factor, with the code used up", async () => {
    const email = unique("totp");
    const created = await api(test.url, "/api/v1/users", {
      method: "POST",
      headers: server(),
      body: { primary_email: email, primary_email_verified: true, primary_email_auth_enabled: true },
    });
    const secret = Buffer.from("otp second factor!");
    await api(test.url, `/api/v1/users/${created.body.id}`, {
      method: "PATCH",
      headers: server(),
      body: { totp_secret_base64: secret.toString("base64") },
    });
    const code = await codeFor(email);
    const first = await signIn(code);
    expect(first.status).toBe(400);
    expect(first.body.code).toBe("MULTI_FACTOR_AUTHENTICATION_REQUIRED");
    expect((await signIn(code)).body.code).toBe("VERIFICATION_CODE_ALREADY_USED");
    const second = await api(test.url, "/api/v1/auth/mfa/sign-in", {
      method: "POST",
      headers: headers(),
      body: {
        type: "totp",
        totp: totpAt(secret, Date.now() / 1000),
        code: first.body.details.attempt_code,
      },
    });
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ user_id: created.body.id, is_new_user: false });
  });

  it("makes an anonymous user the account of a new address, keeping its id", async () => {
    const anonymous = await api(test.url, "/api/v1/auth/anonymous/sign-up", {
      method: "POST",
      headers: headers(),
    });
    const asAnonymous = {
      "x-stack-access-token": anonymous.body.access_token,
      "x-stack-allow-anonymous-user": "true",
    };
    const email = unique("upgraded");
    const signedIn = await signIn(await codeFor(email, asAnonymous), asAnonymous);
    expect(signedIn.body).toMatchObject({ user_id: anonymous.body.user_id, is_new_user: true });
    const user = await api(test.url, `/api/v1/users/${anonymous.body.user_id}`, { headers: server() });
    expect(user.body).toMatchObject({
      is_anonymous: false,
      primary_email: email,
      primary_email_verified: true,
      otp_auth_enabled: true,
    });
  });

  it("signs no new address up while sign-ups are off, but still signs known ones in", async () => {
    const known = unique("known");
    const existing = await signIn(await codeFor(known));
    await setConfig({ "auth.otp.allowSignIn": true, "auth.allowSignUp": false });
    try {
      const refused = await signIn(await codeFor(unique("newcomer")));
      expect(refused.body.code).toBe("SIGN_UP_NOT_ENABLED");
      const again = await signIn(await codeFor(known));
      expect(again.body).toMatchObject({ user_id: existing.body.user_id, is_new_user: false });
    } finally {
      await setConfig({ "auth.otp.allowSignIn": true, "auth.allowSignUp": true });
    }
  });
});
