// Latchkey with two projects for the sync benchmark: one for latency, one for the backfill.
import { readServerEnv } from "../../src/config/env.ts";
import { createProjectWithKeys } from "../../src/features/projects/index.ts";
import { startServer } from "../../src/server.ts";

const server = await startServer({
  env: { ...readServerEnv(), nodeEnv: "production", port: 0, host: "127.0.0.1" },
  log: (message) => {
    if (message.includes("db-sync")) console.error(message);
  },
});
const projects: Record<string, { projectId: string; adminKey: string; tenancyId: string }> = {};
for (const name of ["latency", "backfill"]) {
  const { projectId, keys } = await createProjectWithKeys(server.app.database, {
    displayName: `Sync bench: ${name}`,
  });
  const tenancy = await server.app.database.db
    .selectFrom("tenancies")
    .select("id")
    .where("project_id", "=", projectId)
    .executeTakeFirstOrThrow();
  projects[name] = { projectId, adminKey: keys.super_secret_admin_key!, tenancyId: tenancy.id };
}
console.log(JSON.stringify({ port: server.port, projects }));
process.on("SIGTERM", () => server.close().then(() => process.exit(0)));
