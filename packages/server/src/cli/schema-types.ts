import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { renderSchemaModule } from "../db/codegen.ts";
import { describeDatabase } from "../db/introspect.ts";
import { discoverMigrations } from "../db/migrations/discover.ts";
import { applyMigrations } from "../db/migrations/runner.ts";

export const schemaModulePath = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../db/schema.generated.ts",
);

/** Migrates a scratch database on the same server, describes it, and writes the generated types. */
export async function writeSchemaTypes(serverUrl: string): Promise<number> {
  const scratch = `latchkey_types_${randomBytes(4).toString("hex")}`;
  await adminQuery(serverUrl, `CREATE DATABASE ${scratch}`);
  try {
    const url = new URL(serverUrl);
    url.pathname = `/${scratch}`;
    await applyMigrations(url.toString(), discoverMigrations());
    writeFileSync(schemaModulePath, renderSchemaModule(await describeDatabase(url.toString())));
    console.log(`Wrote ${path.relative(process.cwd(), schemaModulePath)}`);
    return 0;
  } finally {
    await adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${scratch} WITH (FORCE)`);
  }
}

async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
