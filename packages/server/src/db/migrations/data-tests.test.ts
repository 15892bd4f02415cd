import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../../test/database.ts";
import { discoverMigrations, type Migration } from "./discover.ts";
import { applyMigrations } from "./runner.ts";

/**
 * Per-migration data tests. A migration folder may hold `tests/<name>.ts` exporting
 * `preMigration(client)` — run on a database migrated up to just before that migration, to seed rows in
 * the old shape — and `postMigration(client, preResult)`, run right after it. One database serves all
 * of them, migrated step by step, so later tests see earlier tests' data (use random ids).
 */
interface DataTest {
  preMigration?: (client: pg.Client) => Promise<unknown>;
  postMigration: (client: pg.Client, preResult: unknown) => Promise<void>;
}

const migrations = discoverMigrations();
const withTests = migrations
  .map((migration) => ({ migration, files: testFiles(migration) }))
  .filter((entry) => entry.files.length > 0);

function testFiles(migration: Migration): string[] {
  const dir = path.join(migration.folder, "tests");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((file) => /\.(ts|js)$/.test(file) && !file.includes(".test."))
    .sort()
    .map((file) => path.join(dir, file));
}

let database: TestDatabase;
let client: pg.Client;
const preResults = new Map<string, unknown>();
const failures = new Map<string, unknown>();

beforeAll(async () => {
  database = await createTestDatabase({ empty: true });
  client = new pg.Client({ connectionString: database.url });
  await client.connect();
  // Walk the migrations once, running every pre-hook right before its migration.
  let applied = 0;
  for (const { migration, files } of withTests) {
    const index = migrations.indexOf(migration);
    await applyMigrations(database.url, migrations.slice(applied, index));
    for (const file of files) {
      const module = (await import(pathToFileURL(file).href)) as DataTest;
      try {
        preResults.set(file, await module.preMigration?.(client));
      } catch (error) {
        failures.set(file, error);
      }
    }
    await applyMigrations(database.url, [migration]);
    applied = index + 1;
    for (const file of files) {
      if (failures.has(file)) continue;
      const module = (await import(pathToFileURL(file).href)) as DataTest;
      try {
        await module.postMigration(client, preResults.get(file));
      } catch (error) {
        failures.set(file, error);
      }
    }
  }
}, 120_000);

afterAll(async () => {
  await client?.end();
  await database?.drop();
});

describe("per-migration data tests", () => {
  it("finds the test folders of the migrations", () => {
    const expected = migrations.filter((m) => existsSync(path.join(m.folder, "tests"))).map((m) => m.name);
    expect(withTests.map((entry) => entry.migration.name)).toEqual(expected);
  });

  for (const { migration, files } of withTests) {
    for (const file of files) {
      it(`${migration.name} › ${path.basename(file)}`, () => {
        if (failures.has(file)) throw failures.get(file);
      });
    }
  }
});
