import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import type { ServerEnv } from "../config/env.ts";
import { startEmbeddedPostgres } from "./embedded-postgres.ts";

export interface PostgresConnection {
  connectionString: string;
  /** Whether this process started the embedded server (and so must stop it). */
  startedEmbedded: boolean;
  stop(): Promise<void>;
  /** How the embedded server this process started ended unasked (see `EmbeddedPostgresHandle.lost`). */
  lost: Promise<string>;
}

const never = new Promise<string>(() => {});

/**
 * Finds the PostgreSQL to use: `DATABASE_URL` if set; otherwise the embedded server under the data
 * directory — reused if another Latchkey process (say `npm start`) already runs it, started otherwise.
 */
export async function connectPostgres(
  env: ServerEnv,
  log: (line: string) => void = () => {},
): Promise<PostgresConnection> {
  if (env.databaseUrl) {
    return { connectionString: env.databaseUrl, startedEmbedded: false, stop: async () => {}, lost: never };
  }
  const running = await runningEmbeddedServer(env);
  if (running)
    return { connectionString: running, startedEmbedded: false, stop: async () => {}, lost: never };
  const embedded = await startEmbeddedPostgres({ dataDir: env.dataDir, port: env.embeddedPostgresPort, log });
  return { ...embedded, startedEmbedded: true };
}

async function runningEmbeddedServer(env: ServerEnv): Promise<string | null> {
  const credentialsFile = path.join(env.dataDir, "postgres-credentials.json");
  if (!existsSync(path.join(env.dataDir, "postgres", "postmaster.pid")) || !existsSync(credentialsFile))
    return null;
  const { user, password } = JSON.parse(readFileSync(credentialsFile, "utf8"));
  const connectionString = `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${env.embeddedPostgresPort}/latchkey`;
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return connectionString;
  } catch {
    await client.end().catch(() => {});
    return null;
  }
}
