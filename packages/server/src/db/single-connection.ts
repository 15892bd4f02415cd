import { Kysely, PostgresDialect, type PostgresPoolClient } from "kysely";
import type pg from "pg";
import type { Database } from "./schema.ts";

/**
 * A Kysely whose every query runs on `client`, a connection the caller has checked out and keeps: for
 * work that holds something on that connection (a session-level advisory lock) and must not wait on the
 * pool for a second one while it does. Releasing the client stays the caller's business.
 */
export function onConnection(client: pg.PoolClient): Kysely<Database> {
  const borrowed: PostgresPoolClient = {
    query: client.query.bind(client) as PostgresPoolClient["query"],
    release: () => {},
  };
  return new Kysely<Database>({
    dialect: new PostgresDialect({ pool: { connect: async () => borrowed, end: async () => {} } }),
  });
}
