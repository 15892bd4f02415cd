export * from "./format.ts";
export * from "./levels.ts";
export * from "./migrate.ts";
export * from "./render.ts";
export * from "./schema.ts";
export * from "./validate.ts";
