/**
 * The database as the code sees it. The types are generated from the migrated schema
 * (`npm run db:types`), and the schema drift test keeps them honest.
 */
export * from "./schema.generated.ts";
