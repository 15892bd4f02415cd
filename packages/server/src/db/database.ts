import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { preparingPool } from "./prepared-statements.ts";
import type { Database } from "./schema.ts";
import { guardTransactions } from "./transaction-guard.ts";

// bigint columns (counts, sequence ids) come back as JS numbers when they fit; they always do here.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/**
 * What pg rejects with past `connectionTimeoutMillis`: a wait for a pooled connection, or opening a
 * new one (the database too slow to accept it).
 */
export const isPoolWaitTimeout = (error: unknown) =>
  error instanceof Error &&
  (error.message === "timeout exceeded when trying to connect" ||
    error.message === "Connection terminated due to connection timeout");

/**
 * A foreign-key violation: with every key cascading on delete, a write that pointed at a row a
 * concurrent request deleted (see `missingReferenceError` in http/errors.ts).
 */
export const isMissingReference = (error: unknown): error is pg.DatabaseError =>
  error instanceof pg.DatabaseError && error.code === "23503";

export interface DatabaseHandle {
  db: Kysely<Database>;
  pool: pg.Pool;
  connectionString: string;
  /** Pooled connections taken inside transaction bodies, when guarded (see `guardTransactions`). */
  transactionOffences: readonly string[];
  close(): Promise<void>;
}

export function openDatabase(
  connectionString: string,
  options: {
    maxConnections?: number;
    /** Prepare the hot statements once per connection (see `prepared`); off behind old poolers. */
    preparedStatements?: boolean;
    /**
     * How long a query may wait for a free connection. Longer means something holds them all (a lock
     * chain, a pool deadlock): the waiter fails, and its request answers 503, instead of hanging for good.
     */
    poolWaitMs?: number;
    /** Fail queries that take a pooled connection inside a transaction body (tests, development). */
    guardTransactions?: boolean;
    /** Told of each such offence as it happens. */
    onTransactionOffence?: (stack: string) => void;
  } = {},
): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString,
    max: options.maxConnections ?? 20,
    connectionTimeoutMillis: options.poolWaitMs ?? 30_000,
    application_name: "latchkey",
  });
  // A client that loses its server (restart, network) must not crash the process: an idle one is
  // dropped by the pool; a checked-out one fails its next query, which its caller sees.
  pool.on("error", () => {});
  pool.on("connect", (client) => client.on("error", () => {}));
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({
      pool: preparingPool(pool, { enabled: options.preparedStatements ?? true }),
    }),
  });
  const { offences } = options.guardTransactions
    ? guardTransactions(db, pool, options.onTransactionOffence)
    : { offences: [] };
  return {
    db,
    pool,
    connectionString,
    transactionOffences: offences,
    close: () => db.destroy(),
  };
}

export type { Database } from "./schema.ts";
