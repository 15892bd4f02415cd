import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { runMigrations as runWorkerMigrations } from "graphile-worker";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres } from "../src/db/embedded-postgres.ts";
import { discoverMigrations } from "../src/db/migrations/discover.ts";
import { applyMigrations } from "../src/db/migrations/runner.ts";
import { analyticsRootForThisRun } from "./paths.ts";

export const TEMPLATE_DATABASE = "latchkey_test_template";

declare module "vitest" {
  export interface ProvidedContext {
    postgresAdminUrl: string;
    analyticsRoot: string;
  }
}

/**
 * One PostgreSQL for the whole run — the embedded one, or `DATABASE_URL` when set — with a template
 * database migrated once. Each test file clones the template (`CREATE DATABASE … TEMPLATE`), which
 * takes milliseconds and keeps files isolated from each other.
 */
/**
 * embedded-postgres registers `async-exit-hook`, which answers Node's `beforeExit` with
 * `process.exit(0)` — throwing away the exit code 1 vitest sets when a test failed, so a failing run
 * would pass CI. In this (vitest's main) process an exit with 0 keeps a failure code already set.
 */
function keepFailingExitCode(): void {
  const exit = process.exit.bind(process);
  process.exit = ((code?: number | string | null) =>
    exit(code === 0 || code === undefined ? (process.exitCode ?? code) : code)) as typeof process.exit;
}

/**
 * A free port for the run's PostgreSQL, below the kernel's ephemeral range (32768 and up), where the
 * many short-lived client connections of a run would otherwise take it now and then. Random, so that
 * runs at once (a full run, the migration gate's nested runs) rarely pick the same one; probed.
 */
async function unusedFixedPort(): Promise<number> {
  const isFree = (port: number) =>
    new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once("error", () => resolve(false));
      probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (await isFree(port)) return port;
  }
  throw new Error("no free port between 20000 and 32000 for the test database");
}

export default async function setup(project: TestProject) {
  keepFailingExitCode();
  let stopEmbedded: (() => Promise<void>) | null = null;
  let dataDir: string | null = null;
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "latchkey-test-pg-"));
    // mkdtemp makes the folder private; as root the database runs as the `postgres` user, who must enter it.
    chmodSync(dataDir, 0o755);
    const port = await unusedFixedPort();
    const embedded = await startEmbeddedPostgres({ dataDir, port });
    adminUrl = embedded.connectionString;
    stopEmbedded = embedded.stop;
  }

  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DATABASE}`);
  await admin.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  await admin.end();
  await applyMigrations(withDatabase(adminUrl, TEMPLATE_DATABASE), discoverMigrations());
  // The job queue's own schema, so that every cloned database starts with it.
  await runWorkerMigrations({ connectionString: withDatabase(adminUrl, TEMPLATE_DATABASE) });

  project.provide("postgresAdminUrl", adminUrl);
  const analyticsRoot = analyticsRootForThisRun();
  project.provide("analyticsRoot", analyticsRoot);

  return async () => {
    await stopEmbedded?.();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    // Each test process kept its embedded analytics data here (see server.ts).
    rmSync(analyticsRoot, { recursive: true, force: true });
  };
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
