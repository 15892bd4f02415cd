import type { ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, type ServerProcess, startServerProcess } from "../../test/server-process.ts";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "latchkey-embedded-"));
// As root, PostgreSQL runs as the `postgres` user, who must enter the folder.
chmodSync(dataDir, 0o755);
const running: ServerProcess[] = [];
afterAll(async () => {
  for (const server of running) await server.kill("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

const pidFile = path.join(dataDir, "postgres", "postmaster.pid");

async function startOnEmbedded(pgPort: number, viaNpmStart = false): Promise<ServerProcess> {
  const server = await startServerProcess(
    {
      // Nothing of the test run's own databases: the server starts PostgreSQL under its data folder.
      DATABASE_URL: "",
      CLICKHOUSE_URL: "",
      LATCHKEY_DATA_DIR: dataDir,
      LATCHKEY_EMBEDDED_POSTGRES_PORT: String(pgPort),
      PORT: String(await freePort()),
    },
    { viaNpmStart },
  );
  running.push(server);
  return server;
}

/** The exit code, or a failure showing what the process printed if it has not exited within 90 s. */
const exitOf = (server: ServerProcess) =>
  new Promise<number | null>((resolve, reject) => {
    const child: ChildProcess = server.child;
    if (child.exitCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(
      () => reject(new Error(`still running after 90 s; it printed:\n${server.output()}`)),
      90_000,
    );
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });

describe("`latchkey start` on its embedded PostgreSQL", () => {
  it("stops it on SIGTERM, and exits with 1 when it dies underneath, so a supervisor restarts both", async () => {
    const pgPort = await freePort();
    const first = await startOnEmbedded(pgPort);
    expect(existsSync(pidFile)).toBe(true);
    first.child.kill("SIGTERM");
    expect(await exitOf(first)).toBe(0);
    // In order: nothing was still using the database when it stopped.
    expect(first.output().split("SIGTERM received")[1]).not.toMatch(/error/i);
    expect(existsSync(pidFile)).toBe(false);

    // As `npm start` runs it, and as `docker stop` stops a container whose command it is: the signal
    // reaches npm, which passes it on to the server (no shell in between to swallow it).
    const viaNpm = await startOnEmbedded(pgPort, true);
    viaNpm.child.kill("SIGTERM");
    expect(await exitOf(viaNpm)).toBe(0);
    expect(viaNpm.output().split("SIGTERM received")[1]).not.toMatch(/error/i);
    expect(existsSync(pidFile)).toBe(false);

    const second = await startOnEmbedded(pgPort);
    expect((await fetch(`${second.url}/api/v1`)).status).toBe(200);
    // What the kernel's OOM killer would do.
    process.kill(Number(readFileSync(pidFile, "utf8").split("\n")[0]), "SIGKILL");
    expect(await exitOf(second)).toBe(1);
    expect(second.output()).toContain(
      "The embedded PostgreSQL stopped unexpectedly (killed by SIGKILL); shutting down.",
    );
  }, 360_000); // three server starts, each compiling the sources, and an initdb: slow on a loaded machine
});
