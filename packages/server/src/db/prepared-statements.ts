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

/**
 * The pool Kysely is given: the app's `pg` pool, whose clients run statements carrying
 * {@link prepared} as named (prepared) statements and everything else as before.
 */
export function preparingPool(pool: pg.Pool): PostgresPool {
  const clients = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  const wrap = (client: pg.PoolClient): PostgresPoolClient => {
    function query<R>(text: string, values: readonly unknown[]): Promise<PostgresQueryResult<R>>;
    function query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
    function query(
      statement: string | PostgresCursor<unknown>,
      values?: readonly unknown[],
    ): Promise<unknown> | PostgresCursor<unknown> {
      if (typeof statement !== "string") {
        return client.query(statement as unknown as pg.Submittable) as unknown as PostgresCursor<unknown>;
      }
      return statement.includes(MARK)
        ? client.query({ name: statementName(statement), text: statement, values: [...(values ?? [])] })
        : client.query(statement, [...(values ?? [])]);
    }
    return { query, release: () => client.release() };
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
