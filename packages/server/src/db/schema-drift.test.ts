import { readFileSync } from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../test/database.ts";
import { schemaModulePath } from "../cli/schema-types.ts";
import { renderSchemaModule } from "./codegen.ts";
import { describeDatabase, type SchemaDescription, schemaDifferences } from "./introspect.ts";
import { databaseSchema } from "./schema.generated.ts";

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database?.drop());

describe("schema drift", () => {
  it("the generated data-layer types match the migrated database", async () => {
    const actual = await describeDatabase(database.url);
    const differences = schemaDifferences(actual, databaseSchema as unknown as SchemaDescription);
    expect(
      differences,
      `The migrations and src/db/schema.generated.ts disagree — run \`npm run db:types\`:\n${differences.join("\n")}`,
    ).toEqual([]);
    expect(readFileSync(schemaModulePath, "utf8")).toBe(renderSchemaModule(actual));
  });

  it("cascades every foreign key on delete and names it <table>_<columns>_fkey", async () => {
    // http/errors.ts reads a foreign-key violation as "a write pointed at a row deleted meanwhile" and
    // names the missing row from the constraint's name: a key that refuses deletes would break both.
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ name: string; expected: string; on_delete: string }>(
        `SELECT c.conname AS name, c.confdeltype AS on_delete,
                c.conrelid::regclass::text || '_' ||
                  (SELECT string_agg(a.attname, '_' ORDER BY k.ordinality)
                     FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ordinality)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) || '_fkey' AS expected
           FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace`,
      );
      expect(rows.length).toBeGreaterThan(20);
      expect(rows.filter((key) => key.on_delete !== "c" || key.name !== key.expected)).toEqual([]);
    } finally {
      await client.end();
    }
  });

  it("reports a drifted column by table and column", () => {
    const declared: SchemaDescription = {
      projects: { id: { type: "text", nullable: false, hasDefault: false } },
      ghosts: {},
    };
    const actual: SchemaDescription = {
      projects: {
        id: { type: "uuid", nullable: false, hasDefault: false },
        summary: { type: "text", nullable: true, hasDefault: false },
      },
    };
    expect(schemaDifferences(actual, declared)).toEqual([
      "column projects.id: type is uuid in the database, text in the code",
      "column projects.summary: in the database but not declared in the code",
      "table ghosts: declared in the code but missing from the migrated database",
    ]);
  });
});
