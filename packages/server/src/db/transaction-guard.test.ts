import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../test/database.ts";
import { type DatabaseHandle, openDatabase } from "./database.ts";

/** The guard against pooled connections inside transaction bodies, on a real PostgreSQL. */
let database: TestDatabase;
let guarded: DatabaseHandle;
const told: string[] = [];

beforeAll(async () => {
  database = await createTestDatabase({ empty: true });
  guarded = openDatabase(database.url, {
    maxConnections: 3,
    guardTransactions: true,
    onTransactionOffence: (stack) => told.push(stack),
  });
});
afterAll(async () => {
  await guarded?.close();
  await database?.drop();
});

const one = sql<{ one: number }>`SELECT 1 AS one`;
const offencesSoFar = () => guarded.transactionOffences.length;

describe("transaction guard", () => {
  it("lets the body use its transaction, and the pool be used outside any body", async () => {
    const before = offencesSoFar();
    await guarded.db.transaction().execute(async (trx) => {
      expect((await one.execute(trx)).rows).toEqual([{ one: 1 }]);
    });
    await guarded.db
      .transaction()
      .setIsolationLevel("serializable")
      .execute(async (trx) => one.execute(trx));
    expect((await one.execute(guarded.db)).rows).toEqual([{ one: 1 }]);
    expect((await guarded.pool.query("SELECT 2 AS two")).rows).toEqual([{ two: 2 }]);
    expect(offencesSoFar()).toBe(before);
  });

  it("fails a Kysely query, a raw pool query and a nested transaction that reach the pool inside a body", async () => {
    const before = offencesSoFar();
    const inBody = [
      () => one.execute(guarded.db),
      () => guarded.pool.query("SELECT 1"),
      () => guarded.db.transaction().execute((inner) => one.execute(inner)),
    ];
    for (const reachPool of inBody) {
      await expect(
        guarded.db
          .transaction()
          .setAccessMode("read write")
          .execute(async (trx) => {
            await one.execute(trx);
            await reachPool();
          }),
      ).rejects.toThrow(/pooled connection was taken inside a transaction body/);
    }
    expect(offencesSoFar()).toBe(before + inBody.length);
    // Every connection came back: the pool still answers, on all three at once.
    const answers = await Promise.all([1, 2, 3].map(() => one.execute(guarded.db)));
    expect(answers.map((answer) => answer.rows[0]?.one)).toEqual([1, 1, 1]);
  });

  it("keeps an offence a caller swallowed, and tells of it as it happens", async () => {
    const before = offencesSoFar();
    await guarded.db.transaction().execute(async () => {
      await one.execute(guarded.db).catch(() => null);
      expect(told.at(-1)).toContain("pooled connection was taken inside a transaction body");
    });
    expect(offencesSoFar()).toBe(before + 1);
    expect(told).toHaveLength(offencesSoFar());
  });

  it("lets work a body left running use the pool once the body has settled", async () => {
    const before = offencesSoFar();
    let detached: Promise<unknown> = Promise.resolve();
    let release = () => {};
    const settled = new Promise<void>((resolve) => {
      release = resolve;
    });
    await guarded.db.transaction().execute(async (trx) => {
      await one.execute(trx);
      detached = settled.then(() => one.execute(guarded.db));
    });
    release();
    expect(((await detached) as { rows: unknown[] }).rows).toEqual([{ one: 1 }]);
    expect(offencesSoFar()).toBe(before);
  });

  it("is off unless asked for", async () => {
    const unguarded = openDatabase(database.url, { maxConnections: 2 });
    try {
      await unguarded.db.transaction().execute(async (trx) => {
        await one.execute(trx);
        await one.execute(unguarded.db);
      });
      expect(unguarded.transactionOffences).toEqual([]);
    } finally {
      await unguarded.close();
    }
  });
});
