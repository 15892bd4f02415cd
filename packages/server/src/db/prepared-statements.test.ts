import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../test/database.ts";
import { type DatabaseHandle, openDatabase } from "./database.ts";
import { prepared } from "./prepared-statements.ts";

/** Statements marked `prepared` against a real PostgreSQL, on a one-connection pool. */
let database: TestDatabase;
let handle: DatabaseHandle;

beforeAll(async () => {
  database = await createTestDatabase({ empty: true });
  handle = openDatabase(database.url, { maxConnections: 1 });
});
afterAll(async () => {
  await handle?.close();
  await database?.drop();
});

/** The statements prepared on the pool's only connection. */
async function preparedOnConnection(): Promise<string[]> {
  const { rows } = await sql<{ statement: string }>`
    SELECT statement FROM pg_prepared_statements ORDER BY prepare_time`.execute(handle.db);
  return rows.map((row) => row.statement);
}

describe("prepared statements", () => {
  it("prepares a marked statement once per connection and reuses it; unmarked ones are not kept", async () => {
    for (const value of [1, 2, 3]) {
      const { rows } = await sql<{
        doubled: number;
      }>`${prepared} SELECT ${value}::int * 2 AS doubled`.execute(handle.db);
      expect(rows).toEqual([{ doubled: value * 2 }]);
    }
    await sql`SELECT ${4}::int + 1 AS plain`.execute(handle.db);
    const statements = await preparedOnConnection();
    expect(statements.filter((text) => text.includes("doubled"))).toHaveLength(1);
    expect(statements.some((text) => text.includes("plain"))).toBe(false);
  });

  it("gives statements of different text their own names, in the query builder too", async () => {
    const viaBuilder = await handle.db
      .selectNoFrom(sql<number>`${7}::int`.as("seven"))
      .modifyFront(prepared)
      .execute();
    expect(viaBuilder).toEqual([{ seven: 7 }]);
    const { rows } = await sql<{ tripled: number }>`${prepared} SELECT ${5}::int * 3 AS tripled`.execute(
      handle.db,
    );
    expect(rows).toEqual([{ tripled: 15 }]);
    const statements = await preparedOnConnection();
    expect(statements.filter((text) => /seven|tripled/.test(text))).toHaveLength(2);
  });

  it("survives a failing run: the error reaches the caller and the statement still works after", async () => {
    const divide = (by: number) =>
      sql<{ quotient: number }>`${prepared} SELECT 10 / ${by}::int AS quotient`.execute(handle.db);
    await expect(divide(0)).rejects.toThrow(/division by zero/);
    expect((await divide(5)).rows).toEqual([{ quotient: 2 }]);
    await expect(
      handle.db.transaction().execute(async (trx) => {
        expect(
          (await sql<{ quotient: number }>`${prepared} SELECT 10 / ${2}::int AS quotient`.execute(trx)).rows,
        ).toEqual([{ quotient: 5 }]);
        await sql`${prepared} SELECT 10 / ${0}::int AS quotient`.execute(trx);
      }),
    ).rejects.toThrow(/division by zero/);
    expect((await divide(1)).rows).toEqual([{ quotient: 10 }]);
  });

  it("a statement that fails to parse is not remembered as prepared", async () => {
    await expect(sql`${prepared} SELECT FROM WHERE ${1}`.execute(handle.db)).rejects.toThrow(/syntax error/);
    await expect(sql`${prepared} SELECT FROM WHERE ${1}`.execute(handle.db)).rejects.toThrow(/syntax error/);
    expect((await sql<{ ok: number }>`${prepared} SELECT 1 AS ok`.execute(handle.db)).rows).toEqual([
      { ok: 1 },
    ]);
  });

  it("outlives a migration that changes what a prepared statement returns, in and out of transactions", async () => {
    await sql`CREATE TABLE reshaped (id int PRIMARY KEY, score int)`.execute(handle.db);
    await sql`INSERT INTO reshaped VALUES (1, 7)`.execute(handle.db);
    const read = (db: typeof handle.db) =>
      sql<{ score: unknown }>`${prepared} SELECT score FROM reshaped WHERE id = ${1}::int`.execute(db);
    expect((await read(handle.db)).rows).toEqual([{ score: 7 }]);
    // Another process migrates: the connection's plan no longer fits ("cached plan must not change result type").
    const other = openDatabase(database.url, { maxConnections: 1 });
    await sql`ALTER TABLE reshaped ALTER COLUMN score TYPE text`.execute(other.db);
    await other.close();
    // Outside a transaction the statement runs again unprepared; the connection is not pooled again.
    expect((await read(handle.db)).rows).toEqual([{ score: "7" }]);
    expect((await read(handle.db)).rows).toEqual([{ score: "7" }]);
    // In a transaction the failure aborts it, as any failed statement does; the next one works.
    await sql`ALTER TABLE reshaped ALTER COLUMN score TYPE bigint USING score::bigint`.execute(handle.db);
    await expect(handle.db.transaction().execute((trx) => read(trx))).rejects.toThrow(/cached plan/);
    expect((await read(handle.db)).rows).toEqual([{ score: 7 }]);
  });

  it("runs every statement unprepared when preparing is off", async () => {
    const unprepared = openDatabase(database.url, { maxConnections: 1, preparedStatements: false });
    try {
      const { rows } = await sql<{ n: number }>`${prepared} SELECT ${3}::int AS n`.execute(unprepared.db);
      expect(rows).toEqual([{ n: 3 }]);
      const kept = await sql<{ count: string }>`SELECT count(*) AS count FROM pg_prepared_statements`.execute(
        unprepared.db,
      );
      expect(kept.rows).toEqual([{ count: 0 }]);
    } finally {
      await unprepared.close();
    }
  });
});
