import { analyticsRoutes } from "./features/analytics/routes.ts";
import { apiKeyRoutes } from "./features/api-keys/routes.ts";
import { apiRootRoutes } from "./features/api-root/routes.ts";
import { otpRoutes } from "./features/auth/otp-routes.ts";
import { passwordRoutes } from "./features/auth/password-routes.ts";
import { sessionRoutes } from "./features/auth/session-routes.ts";
import { tokenRoutes } from "./features/auth/token-routes.ts";
import { configRoutes } from "./features/config/index.ts";
import { contactChannelRoutes } from "./features/contact-channels/routes.ts";
import { dbSyncRoutes } from "./features/db-sync/routes.ts";
import { metricsRoutes } from "./features/metrics/index.ts";
import { migrationTestFolders, migrationTestRoutes } from "./features/migration-tests/routes.ts";
import { profileImageRoutes } from "./features/profile-images/routes.ts";
import { projectKeyRoutes } from "./features/project-keys/index.ts";
import { projectRoutes } from "./features/projects/index.ts";
import { sessionReplayRoutes } from "./features/session-replays/routes.ts";
import { permissionDefinitionRoutes } from "./features/teams/definition-routes.ts";
import { permissionRoutes } from "./features/teams/permission-routes.ts";
import { teamRoutes } from "./features/teams/routes.ts";
import { userRoutes } from "./features/users/routes.ts";
import type { HttpRoutes } from "./http/server.ts";

/** Every feature's routes, as served at `/api/latest`, plus the older versions' translation folders. */
export const httpRoutes: HttpRoutes = {
  latest: [
    ...apiRootRoutes,
    ...projectRoutes,
    ...projectKeyRoutes,
    ...configRoutes,
    ...userRoutes,
    ...profileImageRoutes,
    ...contactChannelRoutes,
    ...teamRoutes,
    ...permissionRoutes,
    ...permissionDefinitionRoutes,
    ...apiKeyRoutes,
    ...passwordRoutes,
    ...otpRoutes,
    ...sessionRoutes,
    ...tokenRoutes,
    ...analyticsRoutes,
    ...sessionReplayRoutes,
    ...dbSyncRoutes,
    ...metricsRoutes,
    ...migrationTestRoutes,
  ],
  migrations: { ...migrationTestFolders },
};
