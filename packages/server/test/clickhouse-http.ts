import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const serverScript = path.join(path.dirname(fileURLToPath(import.meta.url)), "clickhouse-http/server.ts");

export interface ClickHouseHttp {
  url: string;
  port: number;
  /** Stops the server process (SIGTERM), keeping its data. */
  stop(): Promise<void>;
  /** Starts it again on the same port over the same data. */
  restart(): Promise<void>;
  /** Stops it and deletes its data. */
  close(): Promise<void>;
}

/** Starts ClickHouse's HTTP interface over chDB in a child process (see clickhouse-http/server.ts). */
export async function startClickHouseHttp(): Promise<ClickHouseHttp> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "latchkey-clickhouse-http-"));
  let child: ChildProcess | null = null;
  let port = 0;

  const launch = async () => {
    const started = spawn(process.execPath, ["--import", "tsx", serverScript, dataDir, String(port)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    child = started;
    port = await new Promise<number>((resolve, reject) => {
      let output = "";
      started.stdout!.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        const match = /listening (\d+)/.exec(output);
        if (match) resolve(Number(match[1]));
      });
      started.once("exit", (code) => reject(new Error(`ClickHouse HTTP server exited with ${code}`)));
    });
  };
  const stop = async () => {
    const running = child;
    child = null;
    if (!running || running.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once("exit", () => resolve());
      running.kill("SIGTERM");
    });
  };

  await launch();
  return {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    stop,
    restart: launch,
    close: async () => {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
