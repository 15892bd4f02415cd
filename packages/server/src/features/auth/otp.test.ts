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

  it("kills a code after 20 wrong guesses of its six characters", async () => {
    const email = `guess-${Date.now()}@example.com`;
    const sent = await sendCode(email);
    const otp = /: ([0-9A-Z]{6})$/.exec((await mailbox.waitFor(email, /sign-in code/)).subject)![1]!;
    const wrong = otp === "AAAAAA" ? "BBBBBB" : "AAAAAA";
    for (let i = 0; i < 20; i++) {
      const miss = await api(test.url, "/api/v1/auth/otp/sign-in", {
        method: "POST",
        headers: headers(),
        body: { code: wrong + sent.body.nonce },
      });
      expect(miss.body.code).toBe("VERIFICATION_CODE_NOT_FOUND");
    }
    const right = await api(test.url, "/api/v1/auth/otp/sign-in", {
      method: "POST",
      headers: headers(),
      body: { code: otp + sent.body.nonce },
    });
    expect(right.body.code).toBe("VERIFICATION_CODE_MAX_ATTEMPTS_REACHED");
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
