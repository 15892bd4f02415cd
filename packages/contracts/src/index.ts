export * from "./config/index.ts";
export * from "./known-errors.ts";
