import { createHash } from "node:crypto";
import {
  type PostgresCursor,
  type PostgresPool,
  type PostgresPoolClient,
  type PostgresQueryResult,
  type RawBuilder,
  sql,
} from "kysely";
import type pg from "pg";

const MARK = "/* prepared */";

/**
 * Marks a statement to be prepared once per connection and reused: PostgreSQL then parses, analyses
 * and (after a few runs) plans it once, which is most of what a short statement costs — the sign-in's
 * statements take a third of the database CPU this way. Put it anywhere in the text
 * (`sql\`${prepared} SELECT …\``, `.modifyFront(prepared)`).
 *
 * Only for statements of a fixed shape that hot paths run with values that do not change the best
 * plan: each distinct text stays prepared on every pooled connection, and PostgreSQL may settle on a
 * generic plan for it — wrong for queries whose best plan depends on the value (a text search).
 */
export const prepared: RawBuilder<unknown> = sql.raw(MARK);

const names = new Map<string, string>();

/** A name derived from the whole text, so two statements can never share one. */
function statementName(text: string): string {
  let name = names.get(text);
  if (!name) {
    name = `lk_${createHash("sha256").update(text).digest("base64url").slice(0, 32)}`;
    names.set(text, name);
  }
  return name;
}

/** PostgreSQL's answers when a connection's prepared statement no longer fits or no longer exists. */
const STALE_STATEMENT_CODES = new Set([
  // "cached plan must not change result type": a migration changed a column the statement returns.
  "0A000",
  // "prepared statement … does not exist": a pooler in front handed the session to another server.
  "26000",
]);

/**
 * The pool Kysely is given: the app's `pg` pool, whose clients run statements carrying
 * {@link prepared} as named (prepared) statements and everything else as before. A connection whose
 * prepared statement went stale is closed when released rather than pooled again, and the statement is
 * run once more unprepared when no transaction is open (a failed statement in one aborts it anyway).
 * `enabled: false` runs every statement unprepared (poolers that cannot keep prepared statements).
 */
export function preparingPool(pool: pg.Pool, options: { enabled?: boolean } = {}): PostgresPool {
  const enabled = options.enabled ?? true;
  const clients = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  const wrap = (client: pg.PoolClient): PostgresPoolClient => {
    let stale = false;
    let inTransaction = false;
    function query<R>(text: string, values: readonly unknown[]): Promise<PostgresQueryResult<R>>;
    function query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
    function query(
      statement: string | PostgresCursor<unknown>,
      values?: readonly unknown[],
    ): Promise<unknown> | PostgresCursor<unknown> {
      if (typeof statement !== "string") {
        return client.query(statement as unknown as pg.Submittable) as unknown as PostgresCursor<unknown>;
      }
      const parameters = [...(values ?? [])];
      if (/^\s*(begin|start transaction)\b/i.test(statement)) inTransaction = true;
      else if (/^\s*(commit|rollback|end)\b/i.test(statement)) inTransaction = false;
      if (!enabled || stale || !statement.includes(MARK)) return client.query(statement, parameters);
      return client
        .query({ name: statementName(statement), text: statement, values: parameters })
        .catch((error: { code?: string }) => {
          if (!STALE_STATEMENT_CODES.has(error.code ?? "")) throw error;
          stale = true;
          if (inTransaction) throw error;
          return client.query(statement, parameters);
        });
    }
    return { query, release: () => client.release(stale) };
  };
  return {
    connect: async () => {
      const client = await pool.connect();
      let wrapped = clients.get(client);
      if (!wrapped) {
        wrapped = wrap(client);
        clients.set(client, wrapped);
      }
      return wrapped;
    },
    end: () => pool.end(),
  };
}
