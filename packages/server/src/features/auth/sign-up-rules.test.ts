import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withConnection } from "../../../test/database.ts";
import { Mailbox } from "../../../test/mailbox.ts";
import {
  adminHeaders,
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

/** Sign-up rules (CEL conditions in `auth.signUpRules`) on the sign-up paths, over HTTP. */
let mailbox: Mailbox;
let test: TestServer;

beforeAll(async () => {
  mailbox = await Mailbox.start();
  test = await startTestServer({ smtpUrl: mailbox.url });
});
afterAll(async () => {
  await test?.close();
  await mailbox?.close();
});

interface Rule {
  enabled?: boolean;
  displayName?: string;
  priority?: number;
  condition?: string;
  action: { type: "allow" | "reject" | "restrict" | "log"; message?: string };
}

async function projectWithRules(rules: Record<string, Rule>, defaultAction?: "allow" | "reject") {
  const project = await createTestProject(test);
  await patchEnvironmentConfig(test, project, {
    "auth.password.allowSignIn": true,
    "auth.otp.allowSignIn": true,
    "auth.signUpRules": Object.fromEntries(
      Object.entries(rules).map(([id, rule]) => [id, { enabled: true, ...rule }]),
    ),
    ...(defaultAction ? { "auth.signUpRulesDefaultAction": defaultAction } : {}),
  });
  return project;
}

const signUp = (project: TestProject, email: string, headers: Record<string, string> = {}) =>
  api(test.url, "/api/v1/auth/password/sign-up", {
    method: "POST",
    headers: clientHeaders(project, undefined, headers),
    body: { email, password: "correct horse battery" },
  });

const readUser = async (project: TestProject, userId: string) =>
  (await api(test.url, `/api/v1/users/${userId}`, { headers: serverHeaders(project) })).body;

describe("sign-up rules", () => {
  it("rejects a matching sign-up with SIGN_UP_REJECTED and lets others through", async () => {
    const project = await projectWithRules({
      blockDomain: { condition: 'emailDomain == "blocked.example"', action: { type: "reject" } },
    });
    const refused = await signUp(project, "someone@Blocked.Example");
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({
      code: "SIGN_UP_REJECTED",
      error: "Your sign up was rejected by an administrator's sign-up rule.",
      details: { message: "Your sign up was rejected by an administrator's sign-up rule." },
    });
    const users = await api(test.url, "/api/v1/users?include_restricted=true", {
      headers: serverHeaders(project),
    });
    expect(users.body.items).toEqual([]);
    expect((await signUp(project, uniqueEmail())).status).toBe(200);
  });

  it("creates a user matching a restrict rule as restricted, naming the rule", async () => {
    const project = await projectWithRules({
      trialAbuse: {
        displayName: "Disposable addresses",
        condition: 'email.endsWith("@mailinator.com") || emailDomain in ["tempmail.dev"]',
        action: { type: "restrict" },
      },
    });
    const restricted = await signUp(project, `x${Date.now()}@tempmail.dev`);
    expect(restricted.status).toBe(200);
    expect(await readUser(project, restricted.body.user_id)).toMatchObject({
      is_restricted: true,
      restricted_by_admin: true,
      restricted_by_admin_private_details: "Restricted by sign-up rule: trialAbuse (Disposable addresses)",
    });
    const regular = await signUp(project, uniqueEmail());
    expect(await readUser(project, regular.body.user_id)).toMatchObject({ restricted_by_admin: false });
  });

  it("lets the highest priority decide; restrict and log do not stop evaluation", async () => {
    const project = await projectWithRules({
      a_reject: { priority: 0, condition: 'emailDomain == "corp.example"', action: { type: "reject" } },
      b_allowVip: { priority: 10, condition: 'email.startsWith("vip")', action: { type: "allow" } },
      c_logAll: { priority: 20, condition: "true", action: { type: "log" } },
      d_restrictCorp: { priority: 5, condition: 'email.contains("@corp.")', action: { type: "restrict" } },
    });
    const vip = await signUp(project, `vip${Date.now()}@corp.example`);
    expect(vip.status).toBe(200);
    expect((await readUser(project, vip.body.user_id)).restricted_by_admin).toBe(false);
    // Restricted by d, then rejected by a: the rejection wins.
    expect((await signUp(project, `staff${Date.now()}@corp.example`)).body.code).toBe("SIGN_UP_REJECTED");
  });

  it("skips disabled rules, rules without a condition and conditions that fail to evaluate", async () => {
    const project = await projectWithRules({
      off: { enabled: false, condition: "true", action: { type: "reject" } },
      empty: { action: { type: "reject" } },
      blank: { condition: "", action: { type: "reject" } },
      // Type-checks (the map's values are dynamic) but fails at run time: there is no such score.
      missingKey: { condition: 'riskScores["nope"] > 1', action: { type: "reject" } },
    });
    expect((await signUp(project, uniqueEmail())).status).toBe(200);
  });

  it("refuses to save a condition that does not parse or type-check, and saves nothing of that patch", async () => {
    const project = await projectWithRules({
      keep: { condition: 'emailDomain == "kept.example"', action: { type: "reject" } },
    });
    const patch = (override: Record<string, unknown>) =>
      api(test.url, "/api/v1/internal/config/override/environment", {
        method: "PATCH",
        headers: adminHeaders(project),
        body: { config_override_string: JSON.stringify(override) },
      });
    const syntax = await patch({
      "auth.signUpRules.typo": { enabled: true, condition: "email ==", action: { type: "reject" } },
    });
    expect(syntax.status).toBe(400);
    expect(syntax.text).toContain(
      "auth.signUpRules.typo.condition is not a valid CEL condition: Unexpected token",
    );
    // The same refusal whichever way the key is spelled: nested, or dotted down to the condition.
    const unknownVariable = await patch({
      auth: { signUpRules: { phone: { condition: 'phone == "1"', action: { type: "reject" } } } },
    });
    expect(unknownVariable.status).toBe(400);
    expect(unknownVariable.text).toContain(
      "auth.signUpRules.phone.condition is not a valid CEL condition: Unknown variable: phone",
    );
    const notBoolean = await patch({ "auth.signUpRules.keep.condition": "email.size()" });
    expect(notBoolean.status).toBe(400);
    expect(notBoolean.text).toContain(
      "auth.signUpRules.keep.condition must be a boolean expression, but it is a int.",
    );
    // Nothing of the refused patches landed: the stored rule still rejects its domain, nothing else.
    expect((await signUp(project, `a${Date.now()}@kept.example`)).body.code).toBe("SIGN_UP_REJECTED");
    expect((await signUp(project, uniqueEmail())).status).toBe(200);
    expect(
      (await patch({ "auth.signUpRules.keep.condition": 'email.endsWith("@other.example")' })).status,
    ).toBe(200);
    expect((await signUp(project, `b${Date.now()}@kept.example`)).status).toBe(200);
  });

  it("skips a broken condition stored before conditions were checked, leaving the other rules working", async () => {
    const project = await projectWithRules({
      listed: { condition: 'emailDomain == "listed.example"', action: { type: "reject" } },
    });
    const stored = await withConnection(test.database.url, (client) =>
      client.query(
        `UPDATE environment_config_overrides
            SET config = config || '{"auth.signUpRules.old": {"enabled": true, "condition": "email ==", "action": {"type": "reject"}}}'::jsonb
          WHERE project_id = $1`,
        [project.projectId],
      ),
    );
    expect(stored.rowCount).toBe(1);
    test.server.app.projects.invalidate(project.projectId);
    expect((await signUp(project, uniqueEmail())).status).toBe(200);
    expect((await signUp(project, `c${Date.now()}@listed.example`)).body.code).toBe("SIGN_UP_REJECTED");
  });

  it("stops a condition past its time budget and fails closed: reject and restrict match, allow does not", async () => {
    // Exponential backtracking on a run of a's that does not end the way the pattern wants.
    const crafted = `${"a".repeat(60)}!@example.com`;
    const slow = 'email.matches("^(a|aa)+$")';
    const rejecting = await projectWithRules({ slow: { condition: slow, action: { type: "reject" } } });
    const started = performance.now();
    expect((await signUp(rejecting, crafted)).body.code).toBe("SIGN_UP_REJECTED");
    expect(performance.now() - started).toBeLessThan(5000);
    expect((await signUp(rejecting, uniqueEmail())).status).toBe(200);

    const restricting = await projectWithRules({ slow: { condition: slow, action: { type: "restrict" } } });
    const restricted = await signUp(restricting, crafted);
    expect((await readUser(restricting, restricted.body.user_id)).restricted_by_admin).toBe(true);

    const allowing = await projectWithRules(
      { slow: { condition: slow, action: { type: "allow" } } },
      "reject",
    );
    expect((await signUp(allowing, crafted)).body.code).toBe("SIGN_UP_REJECTED");
  });

  it("applies the default action when no rule decides; anonymous sign-ups are not subject to rules", async () => {
    const project = await projectWithRules(
      { partners: { condition: 'emailDomain == "partner.example"', action: { type: "allow" } } },
      "reject",
    );
    expect((await signUp(project, uniqueEmail())).body.code).toBe("SIGN_UP_REJECTED");
    expect((await signUp(project, `p${Date.now()}@partner.example`)).status).toBe(200);
    const anonymous = await api(test.url, "/api/v1/auth/anonymous/sign-up", {
      method: "POST",
      headers: clientHeaders(project),
    });
    expect(anonymous.status).toBe(200);
    // Turning that anonymous user into a regular one is a sign-up: the rules apply.
    const upgrade = await signUp(project, uniqueEmail(), {
      "x-stack-access-token": anonymous.body.access_token,
      "x-stack-allow-anonymous-user": "true",
    });
    expect(upgrade.body.code).toBe("SIGN_UP_REJECTED");
  });

  it("ignores geo headers no trusted proxy wrote: a client could send them itself", async () => {
    const project = await projectWithRules({
      embargo: { condition: 'countryCode in ["KP"]', action: { type: "reject" } },
    });
    expect((await signUp(project, uniqueEmail(), { "cf-ipcountry": "KP" })).status).toBe(200);
  });

  it("applies to users created by a one-time code, not to existing users signing in with one", async () => {
    const project = await projectWithRules({
      otpOnlyForStaff: {
        condition: 'authMethod == "otp" && emailDomain != "staff.example"',
        action: { type: "reject" },
      },
    });
    const otpSignIn = async (email: string) => {
      const sent = await api(test.url, "/api/v1/auth/otp/send-sign-in-code", {
        method: "POST",
        headers: clientHeaders(project),
        body: { email, callback_url: "http://localhost:3000/magic" },
      });
      const code = Mailbox.codeOf(await mailbox.waitFor(email, /sign-in code/));
      expect(sent.status).toBe(200);
      return api(test.url, "/api/v1/auth/otp/sign-in", {
        method: "POST",
        headers: clientHeaders(project),
        body: { code },
      });
    };
    expect((await otpSignIn(`o${Date.now()}@elsewhere.example`)).body.code).toBe("SIGN_UP_REJECTED");
    expect((await otpSignIn(`o${Date.now()}@staff.example`)).body.is_new_user).toBe(true);
    // A password user of another domain exists already: signing in by code is not a sign-up (once the
    // address is verified, which a code needs of an existing account).
    const existing = `e${Date.now()}@elsewhere.example`;
    const signedUp = await signUp(project, existing);
    expect(signedUp.status).toBe(200);
    await api(test.url, `/api/v1/users/${signedUp.body.user_id}`, {
      method: "PATCH",
      headers: serverHeaders(project),
      body: { primary_email_verified: true },
    });
    expect((await otpSignIn(existing)).body).toMatchObject({ is_new_user: false });
  });

  it("passes every bot challenge when no Turnstile secret is configured", async () => {
    const project = await projectWithRules({});
    const res = await api(test.url, "/api/v1/auth/password/sign-up", {
      method: "POST",
      headers: clientHeaders(project),
      body: {
        email: uniqueEmail(),
        password: "correct horse battery",
        bot_challenge_token: "anything",
        bot_challenge_phase: "invisible",
      },
    });
    expect(res.status).toBe(200);
    expect((await readUser(project, res.body.user_id)).risk_scores).toEqual({
      sign_up: { bot: 0, free_trial_abuse: 0 },
    });
  });

  it("keeps each project's rules to itself", async () => {
    await projectWithRules({ everyone: { condition: "true", action: { type: "reject" } } });
    const other = await projectWithRules({});
    expect((await signUp(other, uniqueEmail())).status).toBe(200);
  });
});
