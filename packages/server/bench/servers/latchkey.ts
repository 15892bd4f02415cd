// Latchkey itself, against the benchmark database, with one project to call.
import { readServerEnv } from "../../src/config/env.ts";
import { createProjectWithKeys } from "../../src/features/projects/index.ts";
import { startServer } from "../../src/server.ts";

const server = await startServer({
  env: { ...readServerEnv(), nodeEnv: "production", port: 0, host: "127.0.0.1" },
  log: () => {},
});
const { projectId, keys } = await createProjectWithKeys(server.app.database, { displayName: "Bench" });
console.log(JSON.stringify({ port: server.port, projectId, secretServerKey: keys.secret_server_key }));
process.on("SIGTERM", () => server.close().then(() => process.exit(0)));
