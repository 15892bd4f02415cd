import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { enableAnalytics, queryAnalytics } from "../../../test/analytics.ts";
import { Mailbox } from "../../../test/mailbox.ts";
import {
  api,
  clientHeaders,
  createTestProject,
  patchEnvironmentConfig,
  serverHeaders,
  startTestServer,
  type TestProject,
  type TestServer,
  uniqueEmail,
} from "../../../test/server.ts";
import { emailBaseForRisk, normalizeEmailForRisk, signUpFacts } from "./sign-up-risk.ts";

/**
 * Bot challenges (Turnstile) and sign-up risk scores, over HTTP. Turnstile's siteverify is played by a
 * local server that judges tokens by their text: `pass`, `pass:<action>`, `pass@<hostname>`, `fail`,
 * and `down` (answers 503).
 */
let mailbox: Mailbox;
let siteverify: Server;
let test: TestServer;
const verifications: { secret: string | null; response: string | null; remoteip: string | null }[] = [];

beforeAll(async () => {
  siteverify = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    const form = new URLSearchParams(body);
    const token = form.get("response") ?? "";
    verifications.push({ secret: form.get("secret"), response: token, remoteip: form.get("remoteip") });
    if (token === "down") return res.writeHead(503).end();
    const [, action = "sign_up_with_credential"] = token.split(":");
    const [, hostname = "localhost"] = token.split("@");
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ success: token.startsWith("pass"), action, hostname }));
  });
  siteverify.listen(0, "127.0.0.1");
  await once(siteverify, "listening");
  mailbox = await Mailbox.start();
  test = await startTestServer({
    smtpUrl: mailbox.url,
    trustProxy: true,
    turnstileSecretKey: "test-turnstile-secret",
    turnstileSiteverifyUrl: `http://127.0.0.1:${(siteverify.address() as AddressInfo).port}/siteverify`,
  });
});
afterAll(async () => {
  await test?.close();
  await mailbox?.close();
  siteverify?.close();
});

let addressCounter = 0;
/**
 * A fresh address that does not look like the others: `uniqueEmail()`'s `user-<n>-<time>` are a
 * made-up series by the risk score's own measure (one base, `user@…`), so they would all score.
 */
const unrelatedEmail = () =>
  `${[...(Date.now() * 1000 + ++addressCounter).toString(26)]
    .map((digit) => String.fromCharCode(97 + Number.parseInt(digit, 26)))
    .join("")}@example.com`;
/** A fresh client address (via the trusted proxy's X-Forwarded-For), so tests do not share one. */
const freshIp = () => `198.51.100.${++addressCounter}`;

async function project(rules: Record<string, unknown> = {}) {
  const created = await createTestProject(test);
  await patchEnvironmentConfig(test, created, {
    "auth.otp.allowSignIn": true,
    "auth.signUpRules": rules,
  });
  return created;
}

const signUp = (target: TestProject, body: Record<string, unknown>, ip = freshIp()) =>
  api(test.url, "/api/v1/auth/password/sign-up", {
    method: "POST",
    headers: clientHeaders(target, undefined, { "x-forwarded-for": ip }),
    body: { email: unrelatedEmail(), password: "correct horse battery", ...body },
  });

const riskOf = async (target: TestProject, userId: string) =>
  (await api(test.url, `/api/v1/users/${userId}`, { headers: serverHeaders(target) })).body.risk_scores;

const userCount = async (target: TestProject) =>
  (await api(test.url, "/api/v1/users?include_restricted=true", { headers: serverHeaders(target) })).body
    .items.length;

describe("bot challenge", () => {
  it("asks for a visible challenge when the invisible one fails, and refuses a failed visible one", async () => {
    const p = await project();
    const required = await signUp(p, { bot_challenge_token: "fail", bot_challenge_phase: "invisible" });
    expect(required.status).toBe(409);
    expect(required.body.code).toBe("BOT_CHALLENGE_REQUIRED");
    const failed = await signUp(p, { bot_challenge_token: "fail", bot_challenge_phase: "visible" });
    expect(failed.status).toBe(400);
    expect(failed.body).toMatchObject({
      code: "BOT_CHALLENGE_FAILED",
      details: { message: "Visible bot challenge verification failed" },
    });
    expect(await userCount(p)).toBe(0);

    const passed = await signUp(p, { bot_challenge_token: "pass", bot_challenge_phase: "invisible" });
    expect(passed.status).toBe(200);
    expect(await riskOf(p, passed.body.user_id)).toEqual({ sign_up: { bot: 0, free_trial_abuse: 0 } });
    // Solving the visible challenge lets the user in, but the failed invisible one still counts.
    const recovered = await signUp(p, { bot_challenge_token: "pass", bot_challenge_phase: "visible" });
    expect(recovered.status).toBe(200);
    expect(await riskOf(p, recovered.body.user_id)).toEqual({ sign_up: { bot: 40, free_trial_abuse: 20 } });
  });

  it("scores a failed token from a client without phases instead of refusing it", async () => {
    const p = await project();
    const failed = await signUp(p, { bot_challenge_token: "fail" });
    expect(failed.status).toBe(200);
    expect(await riskOf(p, failed.body.user_id)).toEqual({ sign_up: { bot: 80, free_trial_abuse: 40 } });
    const missing = await signUp(p, {});
    expect(await riskOf(p, missing.body.user_id)).toEqual({ sign_up: { bot: 80, free_trial_abuse: 40 } });
  });

  it("treats Turnstile being unreachable, or the widget unavailable, as neutral", async () => {
    const p = await project();
    const down = await signUp(p, { bot_challenge_token: "down" });
    expect(down.status).toBe(200);
    expect(await riskOf(p, down.body.user_id)).toEqual({ sign_up: { bot: 0, free_trial_abuse: 0 } });
    // A client that could not show the challenge proves nothing: let in, scored as failing it.
    const unavailable = await signUp(p, { bot_challenge_unavailable: "true" });
    expect(unavailable.status).toBe(200);
    expect(await riskOf(p, unavailable.body.user_id)).toEqual({ sign_up: { bot: 80, free_trial_abuse: 40 } });
    // Earlier Latchkey releases took a boolean; false means the challenge was available.
    const notUnavailable = await signUp(p, {
      bot_challenge_unavailable: false,
      bot_challenge_token: "pass",
      bot_challenge_phase: "invisible",
    });
    expect(await riskOf(p, notUnavailable.body.user_id)).toEqual({
      sign_up: { bot: 0, free_trial_abuse: 0 },
    });
    // The invisible phase cannot be passed by an outage.
    const invisibleDown = await signUp(p, { bot_challenge_token: "down", bot_challenge_phase: "invisible" });
    expect(invisibleDown.body.code).toBe("BOT_CHALLENGE_REQUIRED");
  });

  it("refuses tokens solved for another form or on another site, and sends the secret and client IP", async () => {
    const p = await project();
    const otherForm = await signUp(p, {
      bot_challenge_token: "pass:send_magic_link_email",
      bot_challenge_phase: "invisible",
    });
    expect(otherForm.body.code).toBe("BOT_CHALLENGE_REQUIRED");
    const otherSite = await signUp(p, {
      bot_challenge_token: "pass@evil.example",
      bot_challenge_phase: "invisible",
    });
    expect(otherSite.body.code).toBe("BOT_CHALLENGE_REQUIRED");
    await signUp(
      p,
      { bot_challenge_token: "pass-ip-check", bot_challenge_phase: "invisible" },
      "203.0.113.9",
    );
    expect(verifications.find((v) => v.response === "pass-ip-check")).toEqual({
      secret: "test-turnstile-secret",
      response: "pass-ip-check",
      remoteip: "203.0.113.9",
    });
  });

  it("accepts tokens solved on a trusted domain, whatever its port", async () => {
    const p = await project();
    await patchEnvironmentConfig(test, p, {
      "domains.allowLocalhost": false,
      "domains.trustedDomains.app": { baseUrl: "https://app.example.com:8443", handlerPath: "/handler" },
    });
    const trusted = await signUp(p, {
      bot_challenge_token: "pass@app.example.com",
      bot_challenge_phase: "invisible",
    });
    expect(trusted.status).toBe(200);
    const local = await signUp(p, {
      bot_challenge_token: "pass@localhost",
      bot_challenge_phase: "invisible",
    });
    expect(local.body.code).toBe("BOT_CHALLENGE_REQUIRED");
  });

  it("answers malformed challenge fields with SCHEMA_ERROR", async () => {
    const p = await project();
    const badPhase = await signUp(p, { bot_challenge_token: "pass", bot_challenge_phase: "sideways" });
    expect(badPhase.status).toBe(400);
    expect(badPhase.body.code).toBe("SCHEMA_ERROR");
    const contradictory = await signUp(p, { bot_challenge_unavailable: "true", bot_challenge_token: "pass" });
    expect(contradictory.status).toBe(400);
    expect(contradictory.body.code).toBe("SCHEMA_ERROR");
    // Addresses past RFC 5321's 254 characters are refused before anything looks at them.
    const long = await signUp(p, { email: `${"1".repeat(60)}@${"a".repeat(200)}.example` });
    expect(long.body.code).toBe("SCHEMA_ERROR");
    const longSignIn = await api(test.url, "/api/v1/auth/password/sign-in", {
      method: "POST",
      headers: clientHeaders(p),
      body: { email: `${"x".repeat(5000)}@example.com`, password: "whatever1" },
    });
    expect(longSignIn.status).toBe(400);
    expect(longSignIn.body.code).toBe("SCHEMA_ERROR");
    expect(await userCount(p)).toBe(0);
  });

  it("checks the challenge when a one-time code is asked for, and scores the account the code creates", async () => {
    const p = await project();
    const send = (email: string, challenge: Record<string, unknown>) =>
      api(test.url, "/api/v1/auth/otp/send-sign-in-code", {
        method: "POST",
        headers: clientHeaders(p, undefined, { "x-forwarded-for": freshIp() }),
        body: { email, callback_url: "http://localhost:3000/magic", ...challenge },
      });
    const refused = await send(uniqueEmail(), {
      bot_challenge_token: "fail",
      bot_challenge_phase: "invisible",
    });
    expect(refused.body.code).toBe("BOT_CHALLENGE_REQUIRED");
    const email = uniqueEmail("otp");
    expect((await send(email, { bot_challenge_token: "fail" })).status).toBe(200);
    const code = Mailbox.codeOf(await mailbox.waitFor(email, /sign-in code/));
    const signedIn = await api(test.url, "/api/v1/auth/otp/sign-in", {
      method: "POST",
      headers: clientHeaders(p, undefined, { "x-forwarded-for": freshIp() }),
      body: { code },
    });
    expect(signedIn.body.is_new_user).toBe(true);
    expect(await riskOf(p, signedIn.body.user_id)).toEqual({ sign_up: { bot: 80, free_trial_abuse: 40 } });
  });
});

describe("sign-up risk scores", () => {
  const pass = { bot_challenge_token: "pass", bot_challenge_phase: "invisible" };

  it("scores a second sign-up from one address within a day, in its own project only", async () => {
    const a = await project();
    const b = await project();
    const first = await signUp(a, pass, "192.0.2.44");
    const second = await signUp(a, pass, "192.0.2.44");
    const elsewhere = await signUp(b, pass, "192.0.2.44");
    expect(await riskOf(a, first.body.user_id)).toEqual({ sign_up: { bot: 0, free_trial_abuse: 0 } });
    expect(await riskOf(a, second.body.user_id)).toEqual({ sign_up: { bot: 35, free_trial_abuse: 70 } });
    expect(await riskOf(b, elsewhere.body.user_id)).toEqual({ sign_up: { bot: 0, free_trial_abuse: 0 } });
  });

  it("scores look-alike addresses and other spellings of one inbox", async () => {
    const p = await project();
    const stamp = Date.now();
    await signUp(p, { ...pass, email: `alice.smith${stamp}@example.org` });
    // Base `alice-smith@example.org` once the trailing digits go; another address, so it scores.
    const lookAlike = await signUp(p, { ...pass, email: `alice_smith${stamp + 1}@example.org` });
    expect(await riskOf(p, lookAlike.body.user_id)).toEqual({ sign_up: { bot: 20, free_trial_abuse: 60 } });
    // Gmail ignores dots and +tags: a second account for one inbox, with another base (`bobjones`).
    await signUp(p, { ...pass, email: `bob.jones.${stamp}@gmail.com` });
    const sameInbox = await signUp(p, { ...pass, email: `bobjones${stamp}+shop@gmail.com` });
    expect(await riskOf(p, sameInbox.body.user_id)).toEqual({ sign_up: { bot: 20, free_trial_abuse: 60 } });
    const unrelated = await signUp(p, { ...pass, email: `carol.white.${stamp}@gmail.com` });
    expect(await riskOf(p, unrelated.body.user_id)).toEqual({ sign_up: { bot: 0, free_trial_abuse: 0 } });
  });

  it("scores addresses at throwaway-mail providers, subdomains included", async () => {
    const p = await project();
    const throwaway = await signUp(p, { ...pass, email: `someone${Date.now()}@mailinator.com` });
    expect(await riskOf(p, throwaway.body.user_id)).toEqual({ sign_up: { bot: 100, free_trial_abuse: 100 } });
    const below = await signUp(p, { ...pass, email: `zed${Date.now()}@inbox.yopmail.com` });
    expect(await riskOf(p, below.body.user_id)).toEqual({ sign_up: { bot: 100, free_trial_abuse: 100 } });
  });

  it("compares with when an upgraded anonymous user signed up, not when it was created", async () => {
    const p = await project();
    const anonymous = await api(test.url, "/api/v1/auth/anonymous/sign-up", {
      method: "POST",
      headers: clientHeaders(p),
    });
    await test.server.app.database.db
      .updateTable("users")
      .set({ signed_up_at: new Date(Date.now() - 3 * 24 * 3600 * 1000) })
      .where("id", "=", anonymous.body.user_id)
      .execute();
    const upgrade = await api(test.url, "/api/v1/auth/password/sign-up", {
      method: "POST",
      headers: clientHeaders(p, undefined, {
        "x-forwarded-for": "192.0.2.120",
        "x-stack-access-token": anonymous.body.access_token,
        "x-stack-allow-anonymous-user": "true",
      }),
      body: { email: unrelatedEmail(), password: "correct horse battery", ...pass },
    });
    expect(upgrade.body.user_id).toBe(anonymous.body.user_id);
    const next = await signUp(p, pass, "192.0.2.120");
    expect(await riskOf(p, next.body.user_id)).toEqual({ sign_up: { bot: 35, free_trial_abuse: 70 } });
  });

  it("caps the sum at 100, and lets sign-up rules read the scores", async () => {
    const p = await project({
      likelyBot: { enabled: true, condition: "riskScores.bot >= 80", action: { type: "restrict" } },
    });
    const stamp = Date.now();
    await signUp(p, { ...pass, email: `carol${stamp}@example.net` }, "192.0.2.80");
    const risky = await signUp(
      p,
      { bot_challenge_token: "fail", email: `carol${stamp + 1}@example.net` },
      "192.0.2.80",
    );
    expect(await riskOf(p, risky.body.user_id)).toEqual({ sign_up: { bot: 100, free_trial_abuse: 100 } });
    const user = (await api(test.url, `/api/v1/users/${risky.body.user_id}`, { headers: serverHeaders(p) }))
      .body;
    expect(user).toMatchObject({
      restricted_by_admin: true,
      restricted_by_admin_private_details: "Restricted by sign-up rule: likelyBot",
    });
    const calm = await signUp(p, pass);
    expect(await riskOf(p, calm.body.user_id)).toEqual({ sign_up: { bot: 0, free_trial_abuse: 0 } });
  });
});

describe("sign-up rules behind a trusted proxy", () => {
  it("read the country from the geo header the proxy wrote", async () => {
    const p = await project({
      embargo: { enabled: true, condition: 'countryCode in ["KP"]', action: { type: "reject" } },
    });
    const headers = (country: string) =>
      clientHeaders(p, undefined, { "x-forwarded-for": freshIp(), "cf-ipcountry": country });
    const body = () => ({ email: unrelatedEmail(), password: "correct horse battery" });
    const path = "/api/v1/auth/password/sign-up";
    const refused = await api(test.url, path, { method: "POST", headers: headers("kp"), body: body() });
    expect(refused.body.code).toBe("SIGN_UP_REJECTED");
    const allowed = await api(test.url, path, { method: "POST", headers: headers("DE"), body: body() });
    expect(allowed.status).toBe(200);
  });
});

describe("$sign-up-rule-trigger events", () => {
  it("records every matching rule with its action, in the project's analytics", async () => {
    const p = await project({
      watch: {
        enabled: true,
        priority: 2,
        condition: 'emailDomain == "watch.example"',
        action: { type: "log" },
      },
      block: {
        enabled: true,
        priority: 1,
        condition: 'email.startsWith("spam")',
        action: { type: "reject" },
      },
    });
    await enableAnalytics(test, p);
    const watched = `spam${Date.now()}@watch.example`;
    expect((await signUp(p, { ...{ bot_challenge_token: "pass" }, email: watched })).body.code).toBe(
      "SIGN_UP_REJECTED",
    );
    await expect
      .poll(
        async () =>
          (
            await queryAnalytics(
              test,
              p,
              "SELECT toString(data.rule_id) AS rule_id, toString(data.action) AS action, toString(data.email) AS email, toString(data.auth_method) AS auth_method FROM events WHERE event_type = '$sign-up-rule-trigger' ORDER BY rule_id",
            )
          ).body.result,
        { timeout: 15_000, interval: 250 },
      )
      .toEqual([
        { rule_id: "block", action: "reject", email: watched, auth_method: "password" },
        { rule_id: "watch", action: "log", email: watched, auth_method: "password" },
      ]);
  });
});

describe("sign-up facts", () => {
  it("normalizes an address to the inbox it reaches and reduces it to its base", () => {
    expect(normalizeEmailForRisk("J.Doe+news@GoogleMail.com")).toBe("jdoe@gmail.com");
    expect(normalizeEmailForRisk("j.doe+news@outlook.com")).toBe("j.doe@outlook.com");
    expect(normalizeEmailForRisk("j.doe+news@example.com")).toBe("j.doe+news@example.com");
    expect(emailBaseForRisk("alice.smith+3@x.com")).toBe("alice-smith@x.com");
    expect(emailBaseForRisk("alice_smith-12-34@x.com")).toBe("alice-smith@x.com");
    expect(emailBaseForRisk("1234@x.com")).toBe("1234@x.com");
    expect(normalizeEmailForRisk("not an address")).toBeNull();
  });

  it("keeps an address only when it is the person's, not a proxy's", () => {
    const facts = (ip: string, trustProxy = false) => signUpFacts({ email: "a@b.c", ip, trustProxy }).ip;
    expect(facts("127.0.0.1")).toBeNull();
    expect(facts("10.1.2.3")).toBeNull();
    expect(facts("::1")).toBeNull();
    expect(facts("10.1.2.3", true)).toBe("10.1.2.3");
    expect(facts("::ffff:203.0.113.5")).toBe("203.0.113.5");
    expect(facts("2001:db8::1")).toBe("2001:db8::1");
  });
});

describe("X-Forwarded-For through a trusted proxy", () => {
  it("falls back to the proxy's own address when the client wrote something that is not one", async () => {
    const p = await project();
    const email = unrelatedEmail();
    expect((await signUp(p, { email })).status).toBe(200);
    // The client writes the leftmost entry itself: 6,000 characters once overflowed the rate-limit key.
    const garbage = randomBytes(3000).toString("hex");
    const signIn = (password: string) =>
      api(test.url, "/api/v1/auth/password/sign-in", {
        method: "POST",
        headers: clientHeaders(p, undefined, { "x-forwarded-for": garbage }),
        body: { email, password },
      });
    expect((await signIn("wrong password")).body.code).toBe("EMAIL_PASSWORD_MISMATCH");
    const session = await signIn("correct horse battery");
    expect(session.status).toBe(200);
    const sessions = await api(test.url, "/api/v1/auth/sessions?user_id=me", {
      headers: clientHeaders(p, undefined, { "x-stack-access-token": session.body.access_token }),
    });
    const current = sessions.body.items.find((s: { is_current_session: boolean }) => s.is_current_session);
    expect(current.last_used_at_end_user_ip_info).toEqual({ ip: "127.0.0.1" });
  });
});
