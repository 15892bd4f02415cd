import { type AddressInfo, createServer, type Socket } from "node:net";
import pg from "pg";
import { expect } from "vitest";
import { patchEnvironmentConfig, type TestProject, type TestServer } from "./server.ts";

/** Points a project's `dbSync.externalDatabases` at the given targets. */
export const configureTargets = (test: TestServer, project: TestProject, targets: Record<string, string>) =>
  patchEnvironmentConfig(test, project, {
    "dbSync.externalDatabases": Object.fromEntries(
      Object.entries(targets).map(([id, connectionString]) => [id, { type: "postgres", connectionString }]),
    ),
  });

export async function tenancyIdOf(test: TestServer, project: TestProject): Promise<string> {
  const row = await test.server.app.database.db
    .selectFrom("tenancies")
    .select("id")
    .where("project_id", "=", project.projectId)
    .where("branch_id", "=", "main")
    .executeTakeFirstOrThrow();
  return row.id;
}

/** Runs a query against a target database (a fresh connection each time, like a customer would). */
export async function targetQuery<T = Record<string, unknown>>(
  url: string,
  text: string,
  values: unknown[] = [],
) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } catch (error) {
    if ((error as { code?: string }).code === "42P01") return [] as T[]; // table not created yet
    throw error;
  } finally {
    await client.end();
  }
}

export interface SyncedUser {
  id: string;
  display_name: string | null;
  primary_email: string | null;
}

/** The users of a tenancy as the target should show them (id order). */
export async function sourceUsers(test: TestServer, tenancyId: string): Promise<SyncedUser[]> {
  const { rows } = await test.server.app.database.pool.query<SyncedUser>(
    `SELECT u.id, u.display_name, c.value AS primary_email FROM users u
     LEFT JOIN contact_channels c ON c.tenancy_id = u.tenancy_id AND c.user_id = u.id AND c.is_primary
     WHERE u.tenancy_id = $1 ORDER BY u.id`,
    [tenancyId],
  );
  return rows;
}

export const targetUsers = (url: string, ids?: string[]) =>
  targetQuery<SyncedUser>(
    url,
    `SELECT id, display_name, primary_email FROM users ${ids ? "WHERE id = ANY($1::uuid[])" : ""} ORDER BY id`,
    ids ? [ids] : [],
  );

/** Waits until the target's users equal the tenancy's (sync is asynchronous, but quick). */
export async function expectInSync(test: TestServer, tenancyId: string, url: string, timeout = 20_000) {
  const expected = await sourceUsers(test, tenancyId);
  await expect
    .poll(
      () =>
        targetUsers(
          url,
          expected.map((u) => u.id),
        ),
      { timeout, interval: 50 },
    )
    .toEqual(expected);
  return expected;
}

/**
 * A "PostgreSQL" that completes the login (no TLS, no password) and then never answers a query: the
 * failure no server-side statement_timeout can bound. `url` connects to it.
 */
export async function silentPostgres(): Promise<{ url: string; close(): void }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    let loggedIn = false;
    socket.on("data", (data) => {
      if (loggedIn) return;
      // SSLRequest: "N", go on in plain text.
      if (data.length >= 8 && data.readUInt32BE(4) === 80877103) return void socket.write("N");
      loggedIn = true;
      const authenticationOk = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]);
      const readyForQuery = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);
      socket.write(Buffer.concat([authenticationOk, readyForQuery]));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `postgresql://silent:silent@127.0.0.1:${port}/silent`,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}
