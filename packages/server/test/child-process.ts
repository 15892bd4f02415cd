import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface ProcessResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program to its end and collects what it printed, without blocking the test's event loop.
 *
 * Never `spawnSync` in a test: a vitest worker reports to its runner over RPC with a fixed 60 s
 * timeout, and a worker blocked in synchronous child runs cannot read the runner's replies. Node
 * checks timers before it reads I/O, so once a file's blocking runs add up past a minute the
 * reply that already arrived is read too late, and a run whose every test passed exits 1.
 */
export function runProcess(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

const cliEntry = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

/** Runs `latchkey <args>` from the source, as an operator would run the installed command. */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv): Promise<ProcessResult> {
  return runProcess(process.execPath, ["--import", "tsx", cliEntry, ...args], {
    env: { ...process.env, ...env },
  });
}
