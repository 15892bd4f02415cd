import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { type Browser, chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const sdkRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * Browser tests need Debian's chromium. Without it they are reported as skipped — unless
 * `REQUIRE_BROWSER=1` (set by CI), where a missing browser is a failure, never a silent pass.
 */
export function browserAvailability(): { available: boolean; reason: string } {
  if (existsSync(CHROMIUM)) return { available: true, reason: "" };
  const reason = `no chromium at ${CHROMIUM} (apt-get install chromium)`;
  if (process.env.REQUIRE_BROWSER === "1") throw new Error(`REQUIRE_BROWSER=1 but ${reason}`);
  return { available: false, reason };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** The SDK bundled for a page: `window.Latchkey` holds its exports. */
export async function bundleSdk(): Promise<string> {
  const result = await build({
    stdin: {
      contents: `import * as Latchkey from "./src/index.ts"; window.Latchkey = Latchkey;`,
      resolveDir: sdkRoot,
      loader: "ts",
    },
    bundle: true,
    format: "iife",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "silent",
  });
  return result.outputFiles[0]!.text;
}

/** rrweb-player's browser build and stylesheet, to play a replay back in a page. */
export function playerAssets(): { script: string; css: string } {
  const dist = path.dirname(require.resolve("rrweb-player/dist/style.css"));
  return {
    script: readFileSync(path.join(dist, "rrweb-player.umd.cjs"), "utf8"),
    css: readFileSync(path.join(dist, "style.css"), "utf8"),
  };
}

/** Serves fixed pages (path → HTML or JS) on an ephemeral loopback port. */
export async function servePages(pages: Record<string, { type: string; body: string }>) {
  const server = http.createServer((request, response) => {
    const page = pages[new URL(request.url ?? "/", "http://localhost").pathname] ?? pages["*"];
    if (!page) {
      response.statusCode = 404;
      response.end();
      return;
    }
    response.setHeader("content-type", page.type);
    response.end(page.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/**
 * The page under test: a heading, a button and an input, with the SDK's tracker (and optionally the
 * replay recorder) signed in as the given user. Short flush intervals keep the tests quick.
 */
export function checkoutPage(
  config: { baseUrl: string; projectId: string; accessToken: string },
  options: { replay: boolean },
): string {
  return `<!doctype html><html><head><title>Checkout</title></head><body>
    <h1>Checkout page</h1>
    <p>Plans start at 9 euros.</p>
    <button id="buy" class="primary large">Buy now</button>
    <input id="card" type="text" placeholder="Card number">
    <script src="/sdk.js"></script>
    <script>
      const config = ${JSON.stringify(config)};
      const connection = { baseUrl: config.baseUrl, projectId: config.projectId, getAccessToken: () => config.accessToken };
      window.tracker = Latchkey.createEventTracker({ ...connection, flushIntervalMs: 300 });
      ${options.replay ? "window.recorder = Latchkey.createReplayRecorder({ ...connection, flushIntervalMs: 300 });" : ""}
    </script>
  </body></html>`;
}
