export { createProjectWithKeys, ensureInternalProject } from "./bootstrap.ts";
export { newProjectEnvironmentOverride } from "./defaults.ts";
export { digestKey, type KeyKind } from "./keys.ts";
export { insertProject, type NewProject } from "./queries.ts";
export { projectRoutes } from "./routes.ts";
export { type ProjectSnapshot, type TenancySnapshot, verifyProjectKey } from "./snapshot.ts";
export { ProjectStore } from "./store.ts";
