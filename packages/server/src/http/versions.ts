import type {
  MigrationRouteDefinition,
  RouteAccess,
  RouteDefinition,
  RouteResult,
  RouteSchemas,
} from "./route.ts";

/** Served API versions, oldest first. `latest` is the implementation; the others are translations. */
export const apiVersions = ["v1", "v2beta1", "v2beta2", "v2beta3", "v2beta4", "v2beta5", "latest"] as const;
export type ApiVersion = (typeof apiVersions)[number];

/**
 * The routes of a migration folder `vX` serve requests made to versions strictly older than `vX`.
 */
export type MigrationFolders = Partial<
  Record<Exclude<ApiVersion, "v1" | "latest">, MigrationRouteDefinition[]>
>;

export interface ResolvedRoute {
  method: RouteDefinition["method"];
  path: string;
  access: RouteAccess;
  schemas: RouteSchemas;
  /** Runs after auth and validation of this route's own schemas. */
  run: (request: ResolvedRequest) => Promise<RouteResult>;
  /** The route definition at `latest`, for the OpenAPI document. */
  latest: RouteDefinition | null;
}

export type ResolvedRequest = Parameters<RouteDefinition["handler"]>[0];

export type InvokeWithValidation = (
  route: ResolvedRoute,
  request: ResolvedRequest,
  translated: { body?: unknown; query?: unknown; params?: unknown },
) => Promise<RouteResult>;

const routeKey = (method: string, path: string) => `${method} ${path}`;

/**
 * Resolves, for every served version, which definition answers each route: walking from the requested
 * version towards `latest`, the first newer migration folder that has the route wins; its handler calls
 * the route as resolved for that folder's version, and so on down to the latest handler. Resolution
 * happens once at start-up, so old versions cost nothing per request.
 */
export function resolveVersionedRoutes(
  latestRoutes: readonly RouteDefinition[],
  folders: MigrationFolders,
  invoke: InvokeWithValidation,
): Map<ApiVersion, ResolvedRoute[]> {
  const latestByKey = new Map(latestRoutes.map((route) => [routeKey(route.method, route.path), route]));
  const allKeys = new Set(latestByKey.keys());
  for (const routes of Object.values(folders)) {
    for (const route of routes ?? []) allKeys.add(routeKey(route.method, route.path));
  }

  const memo = new Map<string, ResolvedRoute | null>();
  const resolve = (versionIndex: number, key: string): ResolvedRoute | null => {
    const memoKey = `${versionIndex}:${key}`;
    if (memo.has(memoKey)) return memo.get(memoKey)!;
    let result: ResolvedRoute | null = null;
    const version = apiVersions[versionIndex]!;
    if (version === "latest") {
      const route = latestByKey.get(key);
      result = route
        ? {
            method: route.method,
            path: route.path,
            access: route.access,
            schemas: route.schemas,
            run: route.handler,
            latest: route,
          }
        : null;
    } else {
      for (let next = versionIndex + 1; next < apiVersions.length; next++) {
        const nextVersion = apiVersions[next]!;
        const migration =
          nextVersion === "latest"
            ? undefined
            : folders[nextVersion as keyof MigrationFolders]?.find((r) => routeKey(r.method, r.path) === key);
        if (nextVersion === "latest") {
          result = resolve(next, key);
          break;
        }
        if (migration) {
          result = migrationRoute(migration, resolve(next, key), invoke);
          break;
        }
      }
    }
    memo.set(memoKey, result);
    return result;
  };

  const byVersion = new Map<ApiVersion, ResolvedRoute[]>();
  apiVersions.forEach((version, index) => {
    const routes: ResolvedRoute[] = [];
    for (const key of allKeys) {
      const route = resolve(index, key);
      if (route) routes.push(route);
    }
    byVersion.set(version, routes);
  });
  return byVersion;
}

function migrationRoute(
  migration: MigrationRouteDefinition,
  newer: ResolvedRoute | null,
  invoke: InvokeWithValidation,
): ResolvedRoute | null {
  const handler = migration.handler;
  if (!handler || !newer) return null;
  return {
    method: migration.method,
    path: migration.path,
    access: newer.access,
    schemas: migration.schemas,
    latest: newer.latest,
    run: (request) =>
      handler(request as Parameters<typeof handler>[0], (translated) => invoke(newer, request, translated)),
  };
}
