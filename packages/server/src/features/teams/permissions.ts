import type { RenderedConfig } from "@latchkey/contracts";
import { KnownError } from "../../errors/index.ts";
import type { Db } from "../users/records.ts";

/** A permission and everything it contains, following `containedPermissionIds` transitively. */
export function expandPermissions(config: RenderedConfig, direct: Iterable<string>): Set<string> {
  const all = new Set<string>();
  const queue = [...direct];
  while (queue.length > 0) {
    const id = queue.pop()!;
    if (all.has(id)) continue;
    all.add(id);
    queue.push(...Object.keys(definitionOf(config, id)?.containedPermissionIds ?? {}));
  }
  return all;
}

export async function directTeamPermissions(
  db: Db,
  tenancyId: string,
  teamId: string,
  userId: string,
): Promise<string[]> {
  const rows = await db
    .selectFrom("team_member_permissions")
    .select("permission_id")
    .where("tenancy_id", "=", tenancyId)
    .where("team_id", "=", teamId)
    .where("user_id", "=", userId)
    .execute();
  return rows.map((row) => row.permission_id);
}

export async function hasTeamPermission(
  db: Db,
  tenancy: { id: string; config: RenderedConfig },
  teamId: string,
  userId: string,
  permissionId: string,
): Promise<boolean> {
  const direct = await directTeamPermissions(db, tenancy.id, teamId, userId);
  return expandPermissions(tenancy.config, direct).has(permissionId);
}

/**
 * Refuses a permission a grant names unless the config defines it for `scope` (or it is a built-in
 * `$…` team permission): PERMISSION_NOT_FOUND, or WRONG_PERMISSION_SCOPE when it is the other scope's.
 */
export function assertGrantable(
  config: RenderedConfig,
  permissionId: string,
  scope: "team" | "project",
): void {
  if (permissionExists(config, permissionId, scope)) return;
  const definition =
    scope === "team" && permissionId.startsWith("$") ? undefined : definitionOf(config, permissionId);
  if (definition === undefined) throw new KnownError("PERMISSION_NOT_FOUND", permissionId);
  throw new KnownError("WRONG_PERMISSION_SCOPE", permissionId, scope, definition.scope ?? "team");
}

/** Permission ids a config defines, plus the built-in `$…` team permissions. */
export function permissionExists(
  config: RenderedConfig,
  permissionId: string,
  scope: "team" | "project",
): boolean {
  if (scope === "team" && permissionId.startsWith("$")) return systemTeamPermissions.has(permissionId);
  const definition = definitionOf(config, permissionId);
  return definition !== undefined && (definition.scope ?? "team") === scope;
}

/**
 * The config's definition of a permission. Own properties only: ids arrive from URLs and bodies, and
 * `constructor` or `__proto__` must not find what every object inherits.
 */
export function definitionOf(
  config: RenderedConfig,
  permissionId: string,
): RenderedConfig["rbac"]["permissions"][string] | undefined {
  return Object.hasOwn(config.rbac.permissions, permissionId)
    ? config.rbac.permissions[permissionId]
    : undefined;
}

export const systemTeamPermissions = new Set([
  "$update_team",
  "$delete_team",
  "$read_members",
  "$remove_members",
  "$invite_members",
  "$manage_api_keys",
]);
