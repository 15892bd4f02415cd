import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Mailbox } from "../../../test/mailbox.ts";
import {
  api,
  clientHeaders,
  createTestProject,
  serverHeaders,
  signUpWithPassword,
  startTestServer,
  type TestProject,
  type TestServer,
  uniqueEmail,
} from "../../../test/server.ts";

/** The legacy `POST /contact-channels/send-verification-code` (spec core-api §4). */
let test: TestServer;
let mailbox: Mailbox;
let project: TestProject;

beforeAll(async () => {
  mailbox = await Mailbox.start();
  test = await startTestServer({ smtpUrl: mailbox.url });
  project = await createTestProject(test, "Legacy verification project");
});
afterAll(async () => {
  await test?.close();
  await mailbox?.close();
});

const path = "/api/v1/contact-channels/send-verification-code";
const callbackUrl = "http://localhost:3000/handler/email-verification";

const sendLegacy = (headers: Record<string, string>, body: unknown) =>
  api(test.url, path, { method: "POST", headers, body });

const client = (accessToken?: string) => clientHeaders(project, accessToken);

/** A user made by the server, signed in through `POST /auth/sessions`. */
async function serverUser(body: Record<string, unknown>) {
  const created = await api(test.url, "/api/v1/users", {
    method: "POST",
    headers: serverHeaders(project),
    body,
  });
  expect(created.status).toBe(201);
  const session = await api(test.url, "/api/v1/auth/sessions", {
    method: "POST",
    headers: serverHeaders(project),
    body: { user_id: created.body.id },
  });
  expect(session.status).toBe(200);
  return { user_id: created.body.id as string, access_token: session.body.access_token as string };
}

describe("legacy POST /contact-channels/send-verification-code", () => {
  it("e-mails a link whose code verifies the primary e-mail", async () => {
    const session = await signUpWithPassword(test, project);
    const sent = await sendLegacy(client(session.access_token), {
      email: session.email,
      callback_url: callbackUrl,
    });
    expect(sent.status).toBe(200);
    expect(sent.body).toEqual({ success: true });

    const mail = await mailbox.waitFor(session.email, /Verify your e-mail/);
    const link = /https?:\/\/\S+/.exec(mail.text)?.[0];
    expect(link?.startsWith(`${callbackUrl}?`)).toBe(true);
    const code = Mailbox.codeOf(mail);
    expect(code).toHaveLength(45);

    const verify = await api(test.url, "/api/v1/contact-channels/verify", {
      method: "POST",
      headers: client(),
      body: { code },
    });
    expect(verify.body).toEqual({ success: true });
    const me = await api(test.url, "/api/v1/users/me", { headers: client(session.access_token) });
    expect(me.body).toMatchObject({ primary_email: session.email, primary_email_verified: true });

    // Once verified, asking again is refused.
    const again = await sendLegacy(client(session.access_token), {
      email: session.email,
      callback_url: callbackUrl,
    });
    expect(again.status).toBe(409);
    expect(again.headers.get("x-stack-known-error")).toBe("EMAIL_ALREADY_VERIFIED");
    expect(again.body.code).toBe("EMAIL_ALREADY_VERIFIED");
  });

  it("works with server access for the user of the access token", async () => {
    const session = await signUpWithPassword(test, project);
    const sent = await sendLegacy(
      { ...serverHeaders(project), "x-stack-access-token": session.access_token },
      { email: session.email, callback_url: callbackUrl },
    );
    expect(sent.body).toEqual({ success: true });
    const mail = await mailbox.waitFor(session.email, /Verify your e-mail/);
    expect(Mailbox.codeOf(mail)).toHaveLength(45);
  });

  it("needs a signed-in user", async () => {
    const session = await signUpWithPassword(test, project);
    for (const headers of [client(), serverHeaders(project)]) {
      const res = await sendLegacy(headers, { email: session.email, callback_url: callbackUrl });
      expect(res.status).toBe(400);
      expect(res.headers.get("x-stack-known-error")).toBe("SCHEMA_ERROR");
      expect(res.body.code).toBe("SCHEMA_ERROR");
      expect(res.body.error).toContain("auth.user must be defined");
    }
  });

  it("refuses an e-mail that is not the user's primary e-mail", async () => {
    const session = await signUpWithPassword(test, project);
    const other = uniqueEmail("not-primary");
    const res = await sendLegacy(client(session.access_token), { email: other, callback_url: callbackUrl });
    expect(res.status).toBe(400);
    expect(res.headers.get("x-stack-known-error")).toBe("EMAIL_IS_NOT_PRIMARY_EMAIL");
    expect(res.body).toMatchObject({
      code: "EMAIL_IS_NOT_PRIMARY_EMAIL",
      details: { email: other, primary_email: session.email },
    });

    // Another user's primary e-mail is not this user's either.
    const stranger = await signUpWithPassword(test, project);
    const foreign = await sendLegacy(client(session.access_token), {
      email: stranger.email,
      callback_url: callbackUrl,
    });
    expect(foreign.body).toMatchObject({
      code: "EMAIL_IS_NOT_PRIMARY_EMAIL",
      details: { email: stranger.email, primary_email: session.email },
    });

    // A non-primary channel of the same user does not count either.
    const secondary = uniqueEmail("secondary");
    const added = await api(test.url, "/api/v1/contact-channels", {
      method: "POST",
      headers: client(session.access_token),
      body: { user_id: "me", type: "email", value: secondary, used_for_auth: false },
    });
    expect(added.status).toBe(201);
    const nonPrimary = await sendLegacy(client(session.access_token), {
      email: secondary,
      callback_url: callbackUrl,
    });
    expect(nonPrimary.body).toMatchObject({
      code: "EMAIL_IS_NOT_PRIMARY_EMAIL",
      details: { email: secondary, primary_email: session.email },
    });
  });

  it("reports a null primary e-mail for a user without one", async () => {
    const user = await serverUser({});
    const email = uniqueEmail("no-primary");
    const res = await sendLegacy(client(user.access_token), { email, callback_url: callbackUrl });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      code: "EMAIL_IS_NOT_PRIMARY_EMAIL",
      details: { email, primary_email: null },
    });
  });

  it("refuses a callback URL outside the trusted domains", async () => {
    const session = await signUpWithPassword(test, project);
    const res = await sendLegacy(client(session.access_token), {
      email: session.email,
      callback_url: "https://evil.example.com/verify",
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("x-stack-known-error")).toBe("REDIRECT_URL_NOT_WHITELISTED");
    expect(res.body.code).toBe("REDIRECT_URL_NOT_WHITELISTED");
  });

  it("refuses an already verified primary e-mail before looking at the callback URL", async () => {
    const email = uniqueEmail("verified");
    const user = await serverUser({
      primary_email: email,
      primary_email_verified: true,
      primary_email_auth_enabled: true,
    });
    const res = await sendLegacy(client(user.access_token), { email, callback_url: callbackUrl });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe("EMAIL_ALREADY_VERIFIED");
    // Upstream checks `primary_email_verified` before the callback URL's domain.
    const untrusted = await sendLegacy(client(user.access_token), {
      email,
      callback_url: "https://evil.example.com/verify",
    });
    expect(untrusted.status).toBe(409);
    expect(untrusted.body.code).toBe("EMAIL_ALREADY_VERIFIED");
  });

  it("validates the body strictly", async () => {
    const session = await signUpWithPassword(test, project);
    const missing = await sendLegacy(client(session.access_token), { email: session.email });
    expect(missing.status).toBe(400);
    expect(missing.body.code).toBe("SCHEMA_ERROR");
    const extra = await sendLegacy(client(session.access_token), {
      email: session.email,
      callback_url: callbackUrl,
      user_id: "me",
    });
    expect(extra.status).toBe(400);
    expect(extra.body.code).toBe("SCHEMA_ERROR");
    expect(extra.body.error).toContain("body contains unknown properties: user_id");
  });
});
