import { parseArgs } from "node:util";
import { type AnalyticsStore, openAnalyticsStore } from "../../analytics-store/index.ts";
import type { ServerEnv } from "../../config/env.ts";
import { SeedError, seedProject } from "./index.ts";

export const seedUsage = `Usage: latchkey seed --project <id> --users N [--events M] [--branch main] [--days 60]`;

/**
 * `latchkey seed`: realistic users and events for a project, in bulk. The embedded analytics store
 * belongs to one process at a time, so with a running `latchkey start` (and no CLICKHOUSE_URL) events
 * cannot be written: that is said before anything is written at all.
 */
export async function runSeedCommand(args: string[], env: ServerEnv, databaseUrl: string): Promise<number> {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        project: { type: "string" },
        branch: { type: "string" },
        users: { type: "string" },
        events: { type: "string" },
        days: { type: "string" },
      },
    }));
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : error}\n${seedUsage}`);
    return 1;
  }
  const number = (name: string, fallback?: number) => {
    const text = values[name];
    if (text === undefined && fallback !== undefined) return fallback;
    if (!text || !/^\d+(_\d{3})*$/.test(text))
      throw new SeedError(`--${name} must be a whole number\n${seedUsage}`);
    return Number(text.replaceAll("_", ""));
  };
  let analytics: AnalyticsStore | null = null;
  try {
    if (!values.project) throw new SeedError(`--project is required\n${seedUsage}`);
    const users = number("users");
    const events = number("events", 0);
    const days = number("days", 60);
    if (events > 0) analytics = await openStore(env, databaseUrl);
    const started = performance.now();
    const summary = await seedProject({
      databaseUrl,
      engine: analytics?.engine,
      projectId: values.project,
      branchId: values.branch ?? "main",
      users,
      events,
      days,
    });
    const rate = (count: number, seconds: number) =>
      seconds > 0 ? `${Math.round(count / seconds).toLocaleString("en-US")}/s` : "-";
    console.log(
      `\nSeeded tenancy ${summary.tenancyId} (run ${summary.runId}) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    for (const [table, count] of Object.entries(summary.rows)) {
      console.log(`  ${table.padEnd(22)} ${count.toLocaleString("en-US")} rows in the tenancy`);
    }
    console.log(
      `  users added            ${users.toLocaleString("en-US")} in ${summary.seconds.postgres.toFixed(1)} s (${rate(users, summary.seconds.postgres)})`,
    );
    console.log(
      `  events added           ${events.toLocaleString("en-US")} in ${summary.seconds.analytics.toFixed(1)} s (${rate(events, summary.seconds.analytics)})`,
    );
    console.log(`  events by type         15% $token-refresh, 60% $page-view, 25% $click`);
    console.log(`  password of password users: ${summary.password}`);
    return 0;
  } catch (error) {
    if (!(error instanceof SeedError)) throw error;
    console.error(error.message);
    return 1;
  } finally {
    await analytics?.close();
  }
}

async function openStore(env: ServerEnv, databaseUrl: string): Promise<AnalyticsStore> {
  try {
    return await openAnalyticsStore(env, databaseUrl, () => {});
  } catch (error) {
    const message = error instanceof Error ? `${error.message} ${String(error.cause ?? "")}` : String(error);
    if (/lock|Another server instance/i.test(message) || /Failed to create connection/i.test(message)) {
      throw new SeedError(
        `The embedded analytics store (${env.analyticsDir}) is in use by a running \`latchkey start\`.\n` +
          "Stop the server while seeding, or point both at a ClickHouse server with CLICKHOUSE_URL.",
      );
    }
    throw error;
  }
}
