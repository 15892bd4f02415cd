import { renderConfig } from "@latchkey/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  api,
  clientHeaders,
  createTestProject,
  expectKnownError,
  patchEnvironmentConfig,
  startTestServer,
  type TestProject,
  type TestServer,
} from "../../../test/server.ts";
import { isTrustedHostname, isTrustedUrl } from "./trusted-urls.ts";

const trusting = (baseUrl: string, allowLocalhost = false) =>
  renderConfig([{ "domains.trustedDomains.d": { baseUrl }, "domains.allowLocalhost": allowLocalhost }]);

describe("trusted callback URLs", () => {
  it("matches `*` against any run of characters in the host, and only the origin", () => {
    const config = trusting("https://*-*.Vercel.app");
    for (const url of [
      "https://a-b.vercel.app/handler",
      "https://-.vercel.app",
      "https://my-app-git-main.vercel.app/x?y=1",
      "https://a.b-c.vercel.app",
      "HTTPS://A-B.VERCEL.APP/",
    ])
      expect(isTrustedUrl(config, url), url).toBe(true);
    for (const url of [
      "http://a-b.vercel.app",
      "https://ab.vercel.app",
      "https://a-b.vercel.app.evil.com",
      "https://a-b.vercel.app:8443",
      "https://a-bvercel.app",
      "javascript:alert(1)",
      "not a url",
    ])
      expect(isTrustedUrl(config, url), url).toBe(false);
  });

  it("needs the literal parts in order, each at most once per `*`", () => {
    const config = trusting("https://a*b*c.example.com:*");
    expect(isTrustedUrl(config, "https://abc.example.com:8080")).toBe(true);
    expect(isTrustedUrl(config, "https://a-b-c-b-c.example.com:1")).toBe(true);
    expect(isTrustedUrl(config, "https://acb.example.com:1")).toBe(false);
    expect(isTrustedUrl(config, "https://abc.example.com")).toBe(false);
    expect(isTrustedUrl(trusting("https://ab*ba.example.com"), "https://aba.example.com")).toBe(false);
    expect(isTrustedUrl(trusting("https://ab*ba.example.com"), "https://abba.example.com")).toBe(true);
    expect(isTrustedUrl(trusting("https://exact.example.com"), "https://exact.example.com/a")).toBe(true);
    expect(isTrustedUrl(trusting("https://exact.example.com"), "https://exact.example.co")).toBe(false);
  });

  it("takes localhost when allowed, and refuses hosts longer than DNS allows", () => {
    expect(isTrustedUrl(trusting("https://x.com", true), "http://localhost:3000/cb")).toBe(true);
    expect(isTrustedUrl(trusting("https://x.com", true), "http://app.localhost/cb")).toBe(true);
    expect(isTrustedUrl(trusting("https://x.com"), "http://localhost:3000/cb")).toBe(false);
    const config = trusting("https://*.example.com");
    expect(isTrustedUrl(config, `https://${"a".repeat(241)}.example.com`)).toBe(true);
    expect(isTrustedUrl(config, `https://${"a".repeat(242)}.example.com`)).toBe(false);
  });

  it("matches bare host names the same way", () => {
    const config = trusting("https://*-*.vercel.app:8443/path");
    expect(isTrustedHostname(config, "A-B.vercel.app")).toBe(true);
    expect(isTrustedHostname(config, "ab.vercel.app")).toBe(false);
    expect(isTrustedHostname(config, "a-b/x.vercel.app")).toBe(false);
    expect(isTrustedHostname(config, `${"-".repeat(300)}.vercel.app`)).toBe(false);
  });
});

describe("callback URLs against wildcard domains over HTTP", () => {
  let test: TestServer;
  let project: TestProject;

  beforeAll(async () => {
    test = await startTestServer();
    project = await createTestProject(test, "Wildcard domains");
    await patchEnvironmentConfig(test, project, {
      "domains.trustedDomains.previews": { baseUrl: "https://*-*.vercel.app", handlerPath: "/handler" },
    });
  });
  afterAll(() => test?.close());

  const sendResetCode = (callback_url: string) =>
    api(test.url, "/api/v1/auth/password/send-reset-code", {
      method: "POST",
      headers: clientHeaders(project),
      body: { email: "nobody@example.com", callback_url },
    });

  it("answers a huge host that a backtracking match would chew on for about a minute", async () => {
    // Quadratic for a backtracking regex with two `*`: the old matcher took about 55 s on this one.
    const refused = await sendResetCode(`https://${"-".repeat(300_000)}x/handler`);
    expectKnownError(refused, 400, "REDIRECT_URL_NOT_WHITELISTED");
    const alsoRefused = await sendResetCode(`https://${"-".repeat(300_000)}.vercel.app/handler`);
    expectKnownError(alsoRefused, 400, "REDIRECT_URL_NOT_WHITELISTED");
    const accepted = await sendResetCode("https://my-app.vercel.app/handler");
    expect(accepted.status).toBe(200);
  });
});
