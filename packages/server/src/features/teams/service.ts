import { KnownError } from "../../errors/index.ts";
import { assertUserFound, type Db } from "../users/records.ts";
import type { TenancyContext } from "../users/service.ts";
import { permissionExists } from "./permissions.ts";

export interface NewTeam {
  display_name: string;
  profile_image_url?: string | null;
  client_metadata?: unknown;
  client_read_only_metadata?: unknown;
  server_metadata?: unknown;
}

const jsonColumn = (value: unknown) => (value === undefined ? undefined : JSON.stringify(value ?? null));

export async function createTeamRow(trx: Db, tenancyId: string, team: NewTeam): Promise<string> {
  const row = await trx
    .insertInto("teams")
    .values({
      tenancy_id: tenancyId,
      display_name: team.display_name,
      profile_image_url: team.profile_image_url ?? null,
      client_metadata: jsonColumn(team.client_metadata),
      client_read_only_metadata: jsonColumn(team.client_read_only_metadata),
      server_metadata: jsonColumn(team.server_metadata),
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  return row.id;
}

/**
 * Adds a member with the default permissions of the config: the creator's (`team_admin` in a new
 * project) or a plain member's (`team_member`).
 */
export async function addTeamMember(
  trx: Db,
  ctx: TenancyContext,
  teamId: string,
  userId: string,
  options: { creator?: boolean; select?: boolean } = {},
): Promise<void> {
  const inserted = await trx
    .insertInto("team_members")
    .values({ tenancy_id: ctx.tenancyId, team_id: teamId, user_id: userId })
    .onConflict((oc) => oc.doNothing())
    .returning("user_id")
    .executeTakeFirst();
  if (!inserted) throw new KnownError("TEAM_MEMBERSHIP_ALREADY_EXISTS");
  const defaults = options.creator
    ? ctx.config.rbac.defaultPermissions.teamCreator
    : ctx.config.rbac.defaultPermissions.teamMember;
  // A default naming a definition since deleted grants nothing.
  const permissionIds = Object.keys(defaults).filter((id) => permissionExists(ctx.config, id, "team"));
  if (permissionIds.length > 0) {
    await trx
      .insertInto("team_member_permissions")
      .values(
        permissionIds.map((permission_id) => ({
          tenancy_id: ctx.tenancyId,
          team_id: teamId,
          user_id: userId,
          permission_id,
        })),
      )
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
  if (options.select) {
    await trx
      .updateTable("team_members")
      .set({ is_selected: false })
      .where("tenancy_id", "=", ctx.tenancyId)
      .where("user_id", "=", userId)
      .where("is_selected", "=", true)
      .execute();
    await trx
      .updateTable("team_members")
      .set({ is_selected: true })
      .where("tenancy_id", "=", ctx.tenancyId)
      .where("user_id", "=", userId)
      .where("team_id", "=", teamId)
      .execute();
  }
}

/** Whether the user is a member of the team. */
export async function isTeamMember(
  db: Db,
  tenancyId: string,
  teamId: string,
  userId: string,
): Promise<boolean> {
  const row = await db
    .selectFrom("team_members")
    .select("user_id")
    .where("tenancy_id", "=", tenancyId)
    .where("team_id", "=", teamId)
    .where("user_id", "=", userId)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Answers a membership that was expected and not found, in upstream's order: a user that does not exist
 * is said first (USER_NOT_FOUND), then the missing membership. Only runs on that failure path.
 */
export async function missingMembership(
  db: Db,
  tenancyId: string,
  teamId: string,
  userId: string,
): Promise<never> {
  await assertUserFound(db, tenancyId, userId);
  throw new KnownError("TEAM_MEMBERSHIP_NOT_FOUND", teamId, userId);
}
