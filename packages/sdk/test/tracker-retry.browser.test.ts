import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { enableAnalytics, queryAnalytics } from "../../server/test/analytics.ts";
import { type ClickHouseHttp, startClickHouseHttp } from "../../server/test/clickhouse-http.ts";
import {
  createTestProject,
  type SignedUpUser,
  signUpWithPassword,
  startTestServer,
  type TestProject,
  type TestServer,
} from "../../server/test/server.ts";
import { browserAvailability, bundleSdk, checkoutPage, launchChromium, servePages } from "./browser.ts";

const browser = browserAvailability();

// Skipped only where Debian's chromium is not installed (the title says so); CI installs it and sets
// REQUIRE_BROWSER=1, which turns a missing browser into a failure instead (see browser.ts).
describe.skipIf(!browser.available)(
  `tracker retries in Chromium${browser.reason ? ` (skipped: ${browser.reason})` : ""}`,
  () => {
    let clickhouse: ClickHouseHttp;
    let test: TestServer;
    let project: TestProject;
    let user: SignedUpUser;
    let chromium: Browser;
    let pages: Awaited<ReturnType<typeof servePages>>;

    beforeAll(async () => {
      clickhouse = await startClickHouseHttp();
      test = await startTestServer({ clickhouseUrl: clickhouse.url });
      project = await createTestProject(test);
      await enableAnalytics(test, project);
      user = await signUpWithPassword(test, project);
      const config = { baseUrl: test.url, projectId: project.projectId, accessToken: user.access_token };
      pages = await servePages({
        "/sdk.js": { type: "text/javascript", body: await bundleSdk() },
        "*": { type: "text/html", body: checkoutPage(config, { replay: false }) },
      });
      chromium = await launchChromium();
    }, 60_000);

    afterAll(async () => {
      await chromium?.close();
      await pages?.close();
      await test?.close();
      await clickhouse?.close();
    });

    it("keeps events through a store outage and lands each exactly once when it is back", async () => {
      await clickhouse.stop();
      const page = await chromium.newPage();
      const refused: number[] = [];
      page.on("response", (response) => {
        if (response.url().endsWith("/analytics/events/batch") && response.status() === 503)
          refused.push(503);
      });
      await page.goto(`${pages.origin}/shop`);
      for (let i = 0; i < 5; i++) await page.click("#buy");
      await page.evaluate(() =>
        (window as unknown as { tracker: { track(n: string, d: object): void } }).tracker.track(
          "checkout_started",
          { plan: "pro" },
        ),
      );
      await expect.poll(() => refused.length, { timeout: 10_000 }).toBeGreaterThan(0);

      await clickhouse.restart();
      const counts = async () => {
        const res = await queryAnalytics(
          test,
          project,
          "SELECT event_type, count() AS n FROM events WHERE user_id = {u:String} AND event_type NOT IN ('$token-refresh', '$sign-up') GROUP BY event_type ORDER BY event_type",
          { params: { u: user.user_id } },
        );
        return res.body.result;
      };
      await expect.poll(counts, { timeout: 20_000, interval: 250 }).toEqual([
        { event_type: "$click", n: "5" },
        { event_type: "$page-view", n: "1" },
        { event_type: "checkout_started", n: "1" },
      ]);
      // Still exactly once a moment later: no retry of an acknowledged batch.
      await page.waitForTimeout(1000);
      expect(await counts()).toEqual([
        { event_type: "$click", n: "5" },
        { event_type: "$page-view", n: "1" },
        { event_type: "checkout_started", n: "1" },
      ]);
      await page.close();
    }, 60_000);
  },
);
