// Latchkey over the metrics benchmark's seeded database and analytics store (both given by the
// benchmark through DATABASE_URL and LATCHKEY_ANALYTICS_DIR).
import { readServerEnv } from "../../src/config/env.ts";
import { startServer } from "../../src/server.ts";

const server = await startServer({
  env: { ...readServerEnv(), nodeEnv: "production", port: 0, host: "127.0.0.1", runSyncWorker: false },
  log: () => {},
});
console.log(JSON.stringify({ port: server.port }));
process.on("SIGTERM", async () => {
  await server.close();
  process.exit(0);
});
