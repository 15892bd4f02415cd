// Latchkey with a project and a signed-up user, for the auth benchmark. Answers stats over IPC:
// how many connections the pool handed out (one per SQL statement) and a token-verification run.
import { AsyncLocalStorage } from "node:async_hooks";
import { readServerEnv } from "../../src/config/env.ts";
import { createProjectWithKeys } from "../../src/features/projects/index.ts";
import { startServer } from "../../src/server.ts";

const server = await startServer({
  env: {
    ...readServerEnv(),
    nodeEnv: "production",
    port: 0,
    host: "127.0.0.1",
    signInRateLimit: 1_000_000_000,
    // An API-only process: background sync work would blur the per-request SQL count.
    runSyncWorker: false,
  },
  log: () => {},
});
const { projectId, keys } = await createProjectWithKeys(server.app.database, { displayName: "Auth bench" });
const email = "bench@example.com";
const password = "bench password 123";
const signUp = await fetch(`${server.url}/api/v1/auth/password/sign-up`, {
  method: "POST",
  headers: {
    "content-type": "application/json",
    "x-stack-project-id": projectId,
    "x-stack-access-type": "client",
  },
  body: JSON.stringify({ email, password }),
});
const tokens = (await signUp.json()) as { access_token: string };

let statements = 0;
// Statements the token verification itself starts, not the server's timers (the signing-key reload).
const verifying = new AsyncLocalStorage<true>();
let statementsWhileVerifying = 0;
server.app.database.pool.on("acquire", () => {
  statements++;
  if (verifying.getStore()) statementsWhileVerifying++;
});

process.on("message", async (message: { type: string; iterations?: number }) => {
  if (message.type === "statements") process.send?.({ statements });
  if (message.type === "verify-tokens") {
    const iterations = message.iterations ?? 10_000;
    const started = performance.now();
    await verifying.run(true, async () => {
      for (let i = 0; i < iterations; i++) await server.app.tokens.verify(tokens.access_token);
    });
    const seconds = (performance.now() - started) / 1000;
    process.send?.({
      verificationsPerSecond: Math.round(iterations / seconds),
      statements: statementsWhileVerifying,
    });
  }
});

console.log(
  JSON.stringify({
    port: server.port,
    projectId,
    secretServerKey: keys.secret_server_key,
    email,
    password,
    accessToken: tokens.access_token,
  }),
);
process.on("SIGTERM", () => server.close().then(() => process.exit(0)));
