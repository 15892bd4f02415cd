import { AsyncLocalStorage } from "node:async_hooks";
import type { Kysely, TransactionBuilder } from "kysely";
import type pg from "pg";

/**
 * The transaction body the current code runs in, if any. `open` turns false when the body settles, so
 * work it left running (a detached e-mail send) may use the pool afterwards.
 */
const transactionBody = new AsyncLocalStorage<{ open: boolean }>();

/**
 * Makes taking a pooled connection inside a transaction body an error. Code that does so holds one
 * connection while it waits for another: as many such requests at once as the pool has connections
 * hold them all and wait on each other until the pool's wait runs out. Both pool hangs found so far
 * (the db-sync sequencer, counting a wrong OTP guess) were this, and neither showed in a test until
 * the load was right. Queries inside the body belong on its `trx`.
 *
 * Each offence throws where it happens and is kept in `offences`, so one a caller swallows still
 * shows. Off in production: AsyncLocalStorage puts a hook on every promise.
 */
export function guardTransactions<DB>(
  db: Kysely<DB>,
  pool: pg.Pool,
  /** Told of each offence as it happens (a server logs it, for processes a test cannot look into). */
  onOffence: (stack: string) => void = () => {},
): { offences: string[] } {
  const offences: string[] = [];
  const guarded = (builder: TransactionBuilder<DB>): TransactionBuilder<DB> => {
    const { execute, setAccessMode, setIsolationLevel } = builder;
    return Object.assign(builder, {
      execute: <T>(callback: (trx: Parameters<Parameters<typeof execute>[0]>[0]) => Promise<T>) =>
        execute.call(builder, async (trx) => {
          const body = { open: true };
          try {
            return await transactionBody.run(body, () => callback(trx));
          } finally {
            body.open = false;
          }
        }),
      setAccessMode: (mode: Parameters<typeof setAccessMode>[0]) =>
        guarded(setAccessMode.call(builder, mode)),
      setIsolationLevel: (level: Parameters<typeof setIsolationLevel>[0]) =>
        guarded(setIsolationLevel.call(builder, level)),
    });
  };
  const transaction = db.transaction.bind(db);
  db.transaction = () => guarded(transaction());

  const connect = pool.connect.bind(pool) as (...args: unknown[]) => unknown;
  pool.connect = ((...args: unknown[]) => {
    if (transactionBody.getStore()?.open) {
      const offence = new Error(
        "A pooled connection was taken inside a transaction body: under load this deadlocks the pool. " +
          "Run the query on the transaction's handle, or after the transaction.",
      );
      offences.push(offence.stack ?? offence.message);
      onOffence(offence.stack ?? offence.message);
      // Failed the way a connection failure is, so callers see it where they look for that.
      const callback = args.find((arg) => typeof arg === "function") as ((error: Error) => void) | undefined;
      if (!callback) return Promise.reject(offence);
      process.nextTick(() => callback(offence));
      return undefined;
    }
    return connect(...args);
  }) as typeof pool.connect;
  return { offences };
}
