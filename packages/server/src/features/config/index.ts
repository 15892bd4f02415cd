export { changeOverride, patchWith } from "./overrides.ts";
export { configRoutes } from "./routes.ts";
