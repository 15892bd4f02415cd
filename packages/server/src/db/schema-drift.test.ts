import { readFileSync } from "node:fs";
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
