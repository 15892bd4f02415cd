import path from "node:path";
import { expect, inject } from "vitest";
import { readServerEnv, type ServerEnv } from "../src/config/env.ts";
import type { KeySetCreated } from "../src/features/project-keys/schemas.ts";
import { createProjectWithKeys } from "../src/features/projects/index.ts";
import { type RunningServer, startServer } from "../src/server.ts";
import { createTestDatabase, type TestDatabase } from "./database.ts";

export interface TestServer {
  url: string;
  server: RunningServer;
  database: TestDatabase;
  internalKeys: KeySetCreated;
  close(): Promise<void>;
}

const testAnalyticsDir = () => path.join(inject("analyticsRoot"), String(process.pid));

/** Starts a real Latchkey on an ephemeral port against its own fresh database. */
export async function startTestServer(env: Partial<ServerEnv> = {}): Promise<TestServer> {
  const database = await createTestDatabase();
  const logs: string[] = [];
  const server = await startServer({
    env: {
      ...readServerEnv({}),
      nodeEnv: "test",
      checkTransactions: true,
      port: 0,
      host: "127.0.0.1",
      databaseUrl: database.url,
      // libchdb serves one data directory per process: every server a test process starts shares it.
      analyticsDir: testAnalyticsDir(),
      ...env,
    },
    log: (message) => {
      logs.push(message);
      // LATCHKEY_TEST_LOG=1 shows the server's log (unexpected errors, background failures) while debugging.
      if (process.env.LATCHKEY_TEST_LOG === "1") console.log(`[server] ${message}`);
    },
  });
  if (!server.internalProjectKeys) throw new Error("a fresh database must create the internal project");
  return {
    url: server.url,
    server,
    database,
    internalKeys: server.internalProjectKeys,
    close: async () => {
      const offences = [...server.app.database.transactionOffences];
      await server.close();
      await database.drop();
      // Thrown here too, for an offence a caller caught and answered without failing the test.
      if (offences.length > 0)
        throw new Error(`The server took pooled connections inside transactions:\n${offences.join("\n\n")}`);
    },
  };
}

export interface TestProject {
  projectId: string;
  keys: KeySetCreated;
}

/** Creates a project with a full key set, as `latchkey projects create` does. */
export async function createTestProject(test: TestServer, name = "Test project"): Promise<TestProject> {
  const { projectId, keys } = await createProjectWithKeys(test.server.app.database, { displayName: name });
  return { projectId, keys };
}

/** A known error as the contract shapes it: the status, the code header and the code in the body. */
export function expectKnownError(
  res: { status: number; headers: Headers; body: { code?: string } },
  status: number,
  code: string,
): void {
  expect(res.status).toBe(status);
  expect(res.headers.get("x-stack-known-error")).toBe(code);
  expect(res.body.code).toBe(code);
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON, or undefined for non-JSON answers. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers
  body: any;
}

export interface ApiRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** Sent as-is (no JSON encoding); set `content-type` yourself. */
  rawBody?: string | Buffer;
}

/** A `fetch` wrapper that sends JSON and reads JSON or text back. */
export async function api(base: string, path: string, request: ApiRequest = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...request.headers };
  let body: string | Buffer | undefined = request.rawBody;
  if (request.body !== undefined) {
    headers["content-type"] ??= "application/json";
    body = JSON.stringify(request.body);
  }
  const response = await fetch(`${base}${path}`, {
    method: request.method ?? "GET",
    headers,
    body: typeof body === "string" || body === undefined ? body : new Uint8Array(body),
  });
  const text = await response.text();
  let parsed: unknown;
  if (response.headers.get("content-type")?.includes("application/json")) parsed = JSON.parse(text);
  return { status: response.status, headers: response.headers, text, body: parsed };
}

export type AccessType = "client" | "server" | "admin";

/** Headers for one access type with the matching key from a key set. */
export function keyHeaders(projectId: string, type: AccessType, keys: KeySetCreated): Record<string, string> {
  const headers: Record<string, string> = { "x-stack-project-id": projectId, "x-stack-access-type": type };
  if (type === "client" && keys.publishable_client_key)
    headers["x-stack-publishable-client-key"] = keys.publishable_client_key;
  if (type === "server" && keys.secret_server_key)
    headers["x-stack-secret-server-key"] = keys.secret_server_key;
  if (type === "admin" && keys.super_secret_admin_key)
    headers["x-stack-super-secret-admin-key"] = keys.super_secret_admin_key;
  return headers;
}

/** Client access to a project (no key: new projects do not require one), optionally signed in. */
export function clientHeaders(
  project: TestProject,
  accessToken?: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    "x-stack-project-id": project.projectId,
    "x-stack-access-type": "client",
    ...(accessToken ? { "x-stack-access-token": accessToken } : {}),
    ...extra,
  };
}

export const serverHeaders = (project: TestProject) => keyHeaders(project.projectId, "server", project.keys);
export const adminHeaders = (project: TestProject) => keyHeaders(project.projectId, "admin", project.keys);

let emailCounter = 0;
export const uniqueEmail = (prefix = "user") => `${prefix}-${++emailCounter}-${Date.now()}@example.com`;

export interface SignedUpUser {
  email: string;
  password: string;
  access_token: string;
  refresh_token: string;
  user_id: string;
}

/** Signs a new user up with a password through the API and returns its tokens. */
export async function signUpWithPassword(
  test: TestServer,
  project: TestProject,
  email = uniqueEmail(),
  password = "correct horse battery",
): Promise<SignedUpUser> {
  const res = await api(test.url, "/api/v1/auth/password/sign-up", {
    method: "POST",
    headers: clientHeaders(project),
    body: { email, password },
  });
  if (res.status !== 200) throw new Error(`sign-up failed: ${res.status} ${res.text}`);
  return { email, password, ...res.body };
}

/** Merges keys into the project's environment-level config override. */
export async function patchEnvironmentConfig(
  test: TestServer,
  project: TestProject,
  override: Record<string, unknown>,
): Promise<void> {
  const res = await api(test.url, "/api/v1/internal/config/override/environment", {
    method: "PATCH",
    headers: adminHeaders(project),
    body: { config_override_string: JSON.stringify(override) },
  });
  if (res.status !== 200) throw new Error(`config patch failed: ${res.status} ${res.text}`);
}
