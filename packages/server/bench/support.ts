import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import pg from "pg";
import { startEmbeddedPostgres } from "../src/db/embedded-postgres.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, "../../..");

export function writeResults(name: string, results: Record<string, unknown>): string {
  const dir = path.join(repoRoot, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ bench: name, measuredAt: new Date().toISOString(), machine: machine(), ...results }, null, 2)}\n`,
  );
  return file;
}

function machine() {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
  };
}

/** A throw-away PostgreSQL for a benchmark: `DATABASE_URL` if set (a fresh database on it), else embedded. */
export async function benchPostgres(): Promise<{ url: string; stop(): Promise<void> }> {
  const database = `latchkey_bench_${Date.now()}`;
  let adminUrl = process.env.DATABASE_URL;
  let stopEmbedded = async () => {};
  let dataDir: string | null = null;
  if (!adminUrl) {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "latchkey-bench-pg-"));
    chmodSync(dataDir, 0o755);
    const embedded = await startEmbeddedPostgres({
      dataDir,
      port: 30000 + Math.floor(Math.random() * 10000),
    });
    adminUrl = embedded.connectionString;
    stopEmbedded = embedded.stop;
  }
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return {
    url: url.toString(),
    stop: async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await client.end();
      await stopEmbedded();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs a bench server in its own process (so it gets a core of its own, like in production) and waits
 * for the JSON line it prints when ready.
 */
export async function spawnBenchServer<T>(
  script: string,
  env: Record<string, string> = {},
  ipc = false,
): Promise<{ info: T; child: ChildProcess; stop(): Promise<void> }> {
  // Each bench server gets its own embedded analytics directory (libchdb takes one per process).
  const analyticsDir = mkdtempSync(path.join(os.tmpdir(), "latchkey-bench-analytics-"));
  const child = spawn(process.execPath, ["--import", "tsx", path.join(here, "servers", script)], {
    cwd: repoRoot,
    env: { ...process.env, LATCHKEY_ANALYTICS_DIR: analyticsDir, ...env },
    stdio: ipc ? ["ignore", "pipe", "inherit", "ipc"] : ["ignore", "pipe", "inherit"],
  });
  const info = await new Promise<T>((resolve, reject) => {
    let buffer = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      const line = buffer.split("\n").find((l) => l.startsWith("{"));
      if (line) resolve(JSON.parse(line) as T);
    });
    child.once("exit", (code) => reject(new Error(`${script} exited with ${code} before it was ready`)));
  });
  return {
    info,
    child,
    stop: async () => {
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      });
      rmSync(analyticsDir, { recursive: true, force: true });
    },
  };
}

/** The `q` quantile (0.5 = median) of some latencies in ms, rounded to 0.1 ms. */
export function percentile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 10) / 10;
}

export interface LoadResult {
  requestsPerSecond: number;
  successfulRequests: number;
  totalRequests: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  non2xx: number;
  errors: number;
}

export async function load(options: {
  url: string;
  method?: "GET" | "POST";
  body?: string;
  headers?: Record<string, string>;
  seconds: number;
  connections: number;
}): Promise<LoadResult> {
  const result = await autocannon({
    url: options.url,
    method: options.method ?? "GET",
    body: options.body,
    headers: options.headers,
    duration: options.seconds,
    connections: options.connections,
    pipelining: 1,
  });
  return {
    requestsPerSecond: Math.round(result.requests.average),
    totalRequests: result.requests.total,
    successfulRequests: result["2xx"],
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}
