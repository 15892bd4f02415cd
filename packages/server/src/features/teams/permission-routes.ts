import type { Transaction } from "kysely";
import Type from "typebox";
import type { AppContext } from "../../app-context.ts";
import type { Database } from "../../db/database.ts";
import { KnownError, StatusError } from "../../errors/index.ts";
import type { RequestAuth } from "../../http/authenticate.ts";
import { clientOwnUser, resolveUserId, userIdOrMe } from "../../http/requirements.ts";
import { defineRoute, json, success } from "../../http/route.ts";
import { sharedEnvironmentOverride } from "../config/overrides.ts";
import { configWithEnvironment } from "../projects/snapshot.ts";
import { assertUserFound } from "../users/records.ts";
import { assertGrantable, expandPermissions, permissionExists } from "./permissions.ts";
import { isTeamMember, missingMembership } from "./service.ts";

/**
 * Runs `grant` in a transaction that holds the environment config against changes, once the permission
 * is seen defined in the config as it is now. A definition being deleted (which deletes its grants in
 * the same transaction) is then either seen gone here, or waits for this grant and deletes it too.
 */
async function grantIfDefined(
  app: AppContext,
  auth: RequestAuth,
  permissionId: string,
  scope: "team" | "project",
  grant: (trx: Transaction<Database>) => Promise<unknown>,
): Promise<void> {
  const missing = () => new KnownError("PERMISSION_NOT_FOUND", permissionId);
  if (!permissionExists(auth.tenancy.config, permissionId, scope)) throw missing();
  await app.database.db.transaction().execute(async (trx) => {
    const environment = await sharedEnvironmentOverride(trx, {
      projectId: auth.project.id,
      branchId: auth.tenancy.branchId,
    });
    const config = configWithEnvironment(
      auth.project.projectOverride,
      auth.tenancy.branchOverride,
      environment,
    );
    if (!permissionExists(config, permissionId, scope)) throw missing();
    await grant(trx);
  });
}

const tags = ["Permissions"];
const booleanString = Type.Optional(Type.Union([Type.Literal("true"), Type.Literal("false")]));

function clientSelf(auth: RequestAuth, userId: string | undefined): void {
  if (auth.type === "client" && userId !== clientOwnUser(auth).id) {
    throw new StatusError(403, "Client can only read their own permissions.");
  }
}

/**
 * Direct grants, expanded through contained permissions when `recursive`, in upstream's order: by
 * grouping key (team, then user), then permission id.
 */
function items<T extends { permission_id: string }>(
  auth: RequestAuth,
  rows: T[],
  recursive: boolean,
  permissionFilter: string | undefined,
  key: (row: T) => string,
  shape: (row: T, id: string) => object,
) {
  const grouped = new Map<string, { row: T; ids: string[] }>();
  for (const row of rows) {
    const entry = grouped.get(key(row)) ?? { row, ids: [] };
    entry.ids.push(row.permission_id);
    grouped.set(key(row), entry);
  }
  const out: object[] = [];
  const byKey = [...grouped.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [, { row, ids }] of byKey) {
    const all = recursive ? expandPermissions(auth.tenancy.config, ids) : new Set(ids);
    for (const id of [...all].sort())
      if (!permissionFilter || id === permissionFilter) out.push(shape(row, id));
  }
  return out;
}

async function assertTeamMember(app: AppContext, auth: RequestAuth, teamId: string, userId: string) {
  if (!(await isTeamMember(app.database.db, auth.tenancy.id, teamId, userId)))
    await missingMembership(app.database.db, auth.tenancy.id, teamId, userId);
}

export const permissionRoutes = [
  defineRoute({
    method: "GET",
    path: "/team-permissions",
    summary: "List team permissions of members",
    tags,
    access: ["client", "server", "admin"],
    schemas: {
      query: Type.Object(
        {
          team_id: Type.Optional(Type.String({ format: "uuid" })),
          user_id: Type.Optional(userIdOrMe),
          permission_id: Type.Optional(Type.String()),
          recursive: booleanString,
        },
        { additionalProperties: false },
      ),
    },
    handler: async ({ auth, query, app }) => {
      const userId = query.user_id !== undefined ? resolveUserId(auth, query.user_id) : undefined;
      clientSelf(auth, userId);
      let rows = app.database.db
        .selectFrom("team_member_permissions")
        .select(["team_id", "user_id", "permission_id"])
        .where("tenancy_id", "=", auth.tenancy.id);
      if (query.team_id) rows = rows.where("team_id", "=", query.team_id);
      if (userId) rows = rows.where("user_id", "=", userId);
      const list = items(
        auth,
        await rows.execute(),
        query.recursive === "true",
        query.permission_id,
        (r) => `${r.team_id}:${r.user_id}`,
        (r, id) => ({ id, team_id: r.team_id, user_id: r.user_id }),
      );
      return json({ items: list, is_paginated: false });
    },
  }),
  defineRoute({
    method: "POST",
    path: "/team-permissions/:team_id/:user_id/:permission_id",
    summary: "Grant a team permission to a member",
    tags,
    access: ["server", "admin"],
    successStatus: 201,
    schemas: {
      params: Type.Object(
        { team_id: Type.String({ format: "uuid" }), user_id: userIdOrMe, permission_id: Type.String() },
        { additionalProperties: false },
      ),
      body: Type.Object({}, { additionalProperties: false }),
    },
    handler: async ({ auth, params, app }) => {
      const userId = resolveUserId(auth, params.user_id);
      await assertTeamMember(app, auth, params.team_id, userId);
      assertGrantable(auth.tenancy.config, params.permission_id, "team");
      await grantIfDefined(app, auth, params.permission_id, "team", (trx) =>
        trx
          .insertInto("team_member_permissions")
          .values({
            tenancy_id: auth.tenancy.id,
            team_id: params.team_id,
            user_id: userId,
            permission_id: params.permission_id,
          })
          .onConflict((oc) => oc.doNothing())
          .execute(),
      );
      return json({ id: params.permission_id, team_id: params.team_id, user_id: userId }, 201);
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/team-permissions/:team_id/:user_id/:permission_id",
    summary: "Revoke a team permission from a member",
    tags,
    access: ["server", "admin"],
    schemas: {
      params: Type.Object(
        { team_id: Type.String({ format: "uuid" }), user_id: userIdOrMe, permission_id: Type.String() },
        { additionalProperties: false },
      ),
    },
    handler: async ({ auth, params, app }) => {
      const userId = resolveUserId(auth, params.user_id);
      await assertTeamMember(app, auth, params.team_id, userId);
      const deleted = await app.database.db
        .deleteFrom("team_member_permissions")
        .where("tenancy_id", "=", auth.tenancy.id)
        .where("team_id", "=", params.team_id)
        .where("user_id", "=", userId)
        .where("permission_id", "=", params.permission_id)
        .executeTakeFirst();
      if (Number(deleted.numDeletedRows) === 0)
        throw new KnownError("TEAM_PERMISSION_NOT_FOUND", params.team_id, userId, params.permission_id);
      return success();
    },
  }),
  defineRoute({
    method: "GET",
    path: "/project-permissions",
    summary: "List project permissions of users",
    tags,
    access: ["client", "server", "admin"],
    schemas: {
      query: Type.Object(
        {
          user_id: Type.Optional(userIdOrMe),
          permission_id: Type.Optional(Type.String()),
          recursive: booleanString,
        },
        { additionalProperties: false },
      ),
    },
    handler: async ({ auth, query, app }) => {
      const userId = query.user_id !== undefined ? resolveUserId(auth, query.user_id) : undefined;
      clientSelf(auth, userId);
      let rows = app.database.db
        .selectFrom("user_permissions")
        .select(["user_id", "permission_id"])
        .where("tenancy_id", "=", auth.tenancy.id);
      if (userId) rows = rows.where("user_id", "=", userId);
      const list = items(
        auth,
        await rows.execute(),
        query.recursive === "true",
        query.permission_id,
        (r) => r.user_id,
        (r, id) => ({ id, user_id: r.user_id }),
      );
      return json({ items: list, is_paginated: false });
    },
  }),
  defineRoute({
    method: "POST",
    path: "/project-permissions/:user_id/:permission_id",
    summary: "Grant a project permission to a user",
    tags,
    access: ["server", "admin"],
    successStatus: 201,
    schemas: {
      params: Type.Object(
        { user_id: userIdOrMe, permission_id: Type.String() },
        { additionalProperties: false },
      ),
      body: Type.Object({}, { additionalProperties: false }),
    },
    handler: async ({ auth, params, app }) => {
      const userId = resolveUserId(auth, params.user_id);
      await assertUserFound(app.database.db, auth.tenancy.id, userId);
      assertGrantable(auth.tenancy.config, params.permission_id, "project");
      await grantIfDefined(app, auth, params.permission_id, "project", (trx) =>
        trx
          .insertInto("user_permissions")
          .values({ tenancy_id: auth.tenancy.id, user_id: userId, permission_id: params.permission_id })
          .onConflict((oc) => oc.doNothing())
          .execute(),
      );
      return json({ id: params.permission_id, user_id: userId }, 201);
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/project-permissions/:user_id/:permission_id",
    summary: "Revoke a project permission",
    tags,
    access: ["server", "admin"],
    schemas: {
      params: Type.Object(
        { user_id: userIdOrMe, permission_id: Type.String() },
        { additionalProperties: false },
      ),
    },
    handler: async ({ auth, params, app }) => {
      const userId = resolveUserId(auth, params.user_id);
      const deleted = await app.database.db
        .deleteFrom("user_permissions")
        .where("tenancy_id", "=", auth.tenancy.id)
        .where("user_id", "=", userId)
        .where("permission_id", "=", params.permission_id)
        .executeTakeFirst();
      if (Number(deleted.numDeletedRows) === 0) {
        // Nothing to revoke: upstream names a missing user before a missing grant.
        await assertUserFound(app.database.db, auth.tenancy.id, userId);
        throw new KnownError("PERMISSION_NOT_FOUND", params.permission_id);
      }
      return success();
    },
  }),
];
