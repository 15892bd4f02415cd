import pg from "pg";
import { MIGRATIONS_TABLE } from "./migrations/runner.ts";

export interface ColumnDescription {
  /** PostgreSQL type name as `format_type` prints it (`text`, `timestamp with time zone`, `jsonb`…). */
  type: string;
  nullable: boolean;
  hasDefault: boolean;
}

export type SchemaDescription = Record<string, Record<string, ColumnDescription>>;

/** Reads the tables and columns of the `public` schema (the runner's bookkeeping table excluded). */
export async function describeDatabase(connectionString: string): Promise<SchemaDescription> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    const { rows } = await client.query<{
      table_name: string;
      column_name: string;
      type: string;
      nullable: boolean;
      has_default: boolean;
    }>(
      `SELECT c.relname AS table_name, a.attname AS column_name,
              format_type(a.atttypid, a.atttypmod) AS type,
              NOT a.attnotnull AS nullable,
              (a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '') AS has_default
         FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
          AND c.relname <> $1
        ORDER BY c.relname, a.attnum`,
      [MIGRATIONS_TABLE],
    );
    const schema: SchemaDescription = {};
    for (const row of rows) {
      schema[row.table_name] ??= {};
      schema[row.table_name]![row.column_name] = {
        type: row.type,
        nullable: row.nullable,
        hasDefault: row.has_default,
      };
    }
    return schema;
  } finally {
    await client.end();
  }
}

/** Human-readable differences between two schema descriptions, one line each. */
export function schemaDifferences(database: SchemaDescription, declared: SchemaDescription): string[] {
  const out: string[] = [];
  for (const table of new Set([...Object.keys(database), ...Object.keys(declared)])) {
    const inDb = database[table];
    const inCode = declared[table];
    if (!inDb) {
      out.push(`table ${table}: declared in the code but missing from the migrated database`);
      continue;
    }
    if (!inCode) {
      out.push(`table ${table}: in the migrated database but not declared in the code`);
      continue;
    }
    for (const column of new Set([...Object.keys(inDb), ...Object.keys(inCode)])) {
      const a = inDb[column];
      const b = inCode[column];
      if (!a) out.push(`column ${table}.${column}: declared in the code but missing from the database`);
      else if (!b) out.push(`column ${table}.${column}: in the database but not declared in the code`);
      else {
        for (const key of ["type", "nullable", "hasDefault"] as const) {
          if (a[key] !== b[key])
            out.push(`column ${table}.${column}: ${key} is ${a[key]} in the database, ${b[key]} in the code`);
        }
      }
    }
  }
  return out;
}
