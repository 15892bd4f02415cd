import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { openDatabase } from "../src/db/database.ts";
import { createProjectWithKeys } from "../src/features/projects/index.ts";
import { createTestDatabase, type TestDatabase } from "./database.ts";
import type { TestProject } from "./server.ts";

const TRANSACTION_OFFENCE = "pooled connection was taken inside a transaction body";

const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), "../src/cli/main.ts");
const repoRoot = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../..");
/** The npm running this test run, if npm started it (`npm test`); else the one on the PATH. */
const npm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ["npm"];

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  /** Everything the process printed so far. */
  output(): string;
  /** Sends the signal and waits for the process to end. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/**
 * Runs `latchkey start` in its own process (so a test can kill it), and waits until it listens. With
 * `viaNpmStart`, as the README starts it: `npm start` in the repository, the process being npm's.
 */
export async function startServerProcess(
  env: Record<string, string>,
  options: { viaNpmStart?: boolean } = {},
): Promise<ServerProcess> {
  const [command, ...args] = options.viaNpmStart
    ? [...npm, "start"]
    : [process.execPath, "--import", "tsx", cli, "start"];
  const child = spawn(command!, args, {
    cwd: repoRoot,
    env: { ...process.env, NODE_ENV: "test", HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Latchkey is listening")) resolve();
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`latchkey start exited with ${code}:\n${output}`)));
  });
  return {
    url: `http://127.0.0.1:${env.PORT}`,
    child,
    output: () => output,
    kill: (signal) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill(signal);
      }),
  };
}

export interface KillableServer {
  /** The running process (replaced by `restart`). */
  server: ServerProcess;
  database: TestDatabase;
  project: TestProject;
  /** Starts `latchkey start` again over the same database and data directory. */
  restart(): Promise<ServerProcess>;
  /** Kills the process and removes the database and data directory. */
  cleanup(): Promise<void>;
}

/**
 * `latchkey start` in its own process on a fresh test database and data directory, with one project
 * created directly in the database — for tests that kill the server and start it again.
 */
export async function startKillableServer(projectName: string): Promise<KillableServer> {
  const database = await createTestDatabase();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "latchkey-kill-"));
  chmodSync(dataDir, 0o755);
  const env = { DATABASE_URL: database.url, LATCHKEY_DATA_DIR: dataDir, PORT: String(await freePort()) };
  const processes: ServerProcess[] = [];
  const started = async () => {
    const server = await startServerProcess({ ...env, LATCHKEY_CHECK_TRANSACTIONS: "true" });
    processes.push(server);
    return server;
  };
  const handle: KillableServer = {
    server: await started(),
    database,
    project: await createProjectIn(database.url, projectName),
    restart: async () => {
      handle.server = await started();
      return handle.server;
    },
    cleanup: async () => {
      await handle.server.kill("SIGKILL");
      await database.drop();
      rmSync(dataDir, { recursive: true, force: true });
      // What the in-process servers' teardown checks (test/server.ts), read from the processes' logs.
      const offences = processes.filter((server) => server.output().includes(TRANSACTION_OFFENCE));
      if (offences.length > 0)
        throw new Error(
          `A server process took pooled connections inside transactions:\n${offences[0]!.output()}`,
        );
    },
  };
  return handle;
}

async function createProjectIn(databaseUrl: string, name: string): Promise<TestProject> {
  const db = openDatabase(databaseUrl);
  try {
    const { projectId, keys } = await createProjectWithKeys(db, { displayName: name });
    return { projectId, keys };
  } finally {
    await db.close();
  }
}
