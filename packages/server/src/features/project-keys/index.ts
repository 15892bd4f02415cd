export { createKeySet } from "./queries.ts";
export { projectKeyRoutes } from "./routes.ts";
