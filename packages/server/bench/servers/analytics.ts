// Latchkey with analytics switched on and a signed-in user, for the ingestion benchmark.
import { readServerEnv } from "../../src/config/env.ts";
import { createProjectWithKeys } from "../../src/features/projects/index.ts";
import { startServer } from "../../src/server.ts";

const server = await startServer({
  env: { ...readServerEnv(), nodeEnv: "production", port: 0, host: "127.0.0.1" },
  log: () => {},
});
const { projectId, keys } = await createProjectWithKeys(server.app.database, { displayName: "Ingest bench" });
const call = async (path: string, headers: Record<string, string>, method: string, body: unknown) => {
  const response = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: { "content-type": "application/json", "x-stack-project-id": projectId, ...headers },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json() as Promise<Record<string, string>>;
};
await call(
  "/internal/config/override/environment",
  { "x-stack-access-type": "admin", "x-stack-super-secret-admin-key": keys.super_secret_admin_key! },
  "PATCH",
  { config_override_string: JSON.stringify({ "apps.installed.analytics": { enabled: true } }) },
);
const user = await call("/auth/password/sign-up", { "x-stack-access-type": "client" }, "POST", {
  email: "ingest@example.com",
  password: "bench password 123",
});

console.log(
  JSON.stringify({
    port: server.port,
    projectId,
    adminKey: keys.super_secret_admin_key,
    userId: user.user_id,
    accessToken: user.access_token,
  }),
);
process.on("SIGTERM", () => server.close().then(() => process.exit(0)));
