import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { TEMPLATE_DATABASE, withDatabase } from "./global-setup.ts";

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: inject("postgresAdminUrl") });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A fresh database cloned from the migrated template (or empty, for migration-runner tests). */
export async function createTestDatabase(options: { empty?: boolean } = {}): Promise<TestDatabase> {
  const name = `test_${randomBytes(6).toString("hex")}`;
  await adminQuery(`CREATE DATABASE ${name}${options.empty ? "" : ` TEMPLATE ${TEMPLATE_DATABASE}`}`);
  return {
    name,
    url: withDatabase(inject("postgresAdminUrl"), name),
    drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/**
 * Runs `work` on a database session of its own, apart from the server's pool: a test holds row locks
 * there to line concurrent requests up the way a race would. The session gives up an open transaction
 * after 15 s idle and is rolled back at the end, so a regression that leaves a request waiting on it
 * fails the test instead of hanging it.
 */
export async function withConnection<T>(
  url: string,
  work: (connection: pg.Client) => Promise<T>,
): Promise<T> {
  const connection = new pg.Client({ connectionString: url });
  connection.on("error", () => {});
  await connection.connect();
  try {
    await connection.query("SET idle_in_transaction_session_timeout = '15s'");
    return await work(connection);
  } finally {
    await connection.query("ROLLBACK").catch(() => {});
    await connection.end().catch(() => {});
  }
}

/**
 * Waits until `count` statements of the database at `url` wait on a lock: the requests a test lined
 * up behind a row it holds have got there. Fails after `timeoutMs`.
 */
export async function untilWaitingOnLocks(url: string, count: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await withConnection(url, async (observer) => {
    for (;;) {
      const { rows } = await observer.query<{ waiting: number }>(
        `SELECT count(*)::int AS waiting FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      if (rows[0]!.waiting >= count) return;
      if (Date.now() > deadline)
        throw new Error(`only ${rows[0]!.waiting} of ${count} statements reached the lock`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
}

/**
 * Lines requests up behind a row lock the way a race would. On a side session, `lock` runs in a
 * transaction; `requests` start; once `waiters` statements wait on a lock (the requests have reached
 * the held row), `meanwhile` runs and the transaction commits. Every statement gets `params`.
 */
export async function behindLock<T>(
  url: string,
  hold: { lock: string; params: unknown[]; waiters?: number; meanwhile?: string[] },
  requests: () => Promise<T>,
): Promise<T> {
  return withConnection(url, async (holder) => {
    await holder.query("BEGIN");
    await holder.query(hold.lock, hold.params);
    const pending = requests();
    await untilWaitingOnLocks(url, hold.waiters ?? 1);
    for (const statement of hold.meanwhile ?? []) await holder.query(statement, hold.params);
    await holder.query("COMMIT");
    return pending;
  });
}
