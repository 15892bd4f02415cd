import { sql } from "kysely";
import Type from "typebox";
import type { AppContext } from "../../app-context.ts";
import { KnownError, StatusError } from "../../errors/index.ts";
import type { RequestAuth } from "../../http/authenticate.ts";
import {
  clientOwnUser,
  rejectServerOnlyFields,
  resolveUserId,
  tenancyContext,
  userIdOrMe,
} from "../../http/requirements.ts";
import { defineRoute, json, success } from "../../http/route.ts";
import { profileImageField } from "../profile-images/store.ts";
import type { TeamRecord } from "../users/records.ts";
import { assertUserFound, selectUsers } from "../users/records.ts";
import { accessLevel, userView } from "../users/views.ts";
import { hasTeamPermission } from "./permissions.ts";
import { addTeamMember, createTeamRow, isTeamMember, missingMembership } from "./service.ts";
import { teamView } from "./views.ts";

const anyAccess = ["client", "server", "admin"] as const;
const tags = ["Teams"];
const teamParams = Type.Object({ team_id: Type.String({ format: "uuid" }) }, { additionalProperties: false });
const memberParams = Type.Object(
  { team_id: Type.String({ format: "uuid" }), user_id: userIdOrMe },
  { additionalProperties: false },
);
const json_ = Type.Unknown();

const teamColumns = [
  "id",
  "display_name",
  "profile_image_url",
  "client_metadata",
  "client_read_only_metadata",
  "server_metadata",
  "created_at",
] as const;

async function findTeam(app: AppContext, auth: RequestAuth, teamId: string): Promise<TeamRecord> {
  const team = await app.database.db
    .selectFrom("teams")
    .select(teamColumns)
    .where("tenancy_id", "=", auth.tenancy.id)
    .where("id", "=", teamId)
    .executeTakeFirst();
  if (!team) throw new KnownError("TEAM_NOT_FOUND", teamId);
  return { ...team, created_at: team.created_at.toISOString() };
}

function clientUser(auth: RequestAuth) {
  if (!auth.user) throw new KnownError("USER_AUTHENTICATION_REQUIRED");
  return auth.user;
}

/** Clients need the team permission; server and admin access may do anything. */
async function requireTeamPermission(
  app: AppContext,
  auth: RequestAuth,
  teamId: string,
  permissionId: string,
) {
  if (auth.type !== "client") return;
  const user = clientUser(auth);
  if (!(await hasTeamPermission(app.database.db, auth.tenancy, teamId, user.id, permissionId))) {
    throw new KnownError("TEAM_PERMISSION_REQUIRED", teamId, user.id, permissionId);
  }
}

/**
 * A client acts on a team only as one of its members: anyone else is told there is no membership, as
 * upstream does, whether or not the team exists (so nothing says which team ids do).
 */
async function requireClientMembership(app: AppContext, auth: RequestAuth, teamId: string) {
  if (auth.type !== "client") return;
  const user = clientUser(auth);
  if (!(await isTeamMember(app.database.db, auth.tenancy.id, teamId, user.id)))
    throw new KnownError("TEAM_MEMBERSHIP_NOT_FOUND", teamId, user.id);
}

const jsonColumn = (value: unknown) => (value === undefined ? undefined : JSON.stringify(value ?? null));

export const teamRoutes = [
  defineRoute({
    method: "GET",
    path: "/teams",
    summary: "List teams (a user's teams with user_id)",
    tags,
    access: anyAccess,
    schemas: {
      query: Type.Object(
        { user_id: Type.Optional(userIdOrMe), add_current_user: Type.Optional(Type.String()) },
        { additionalProperties: false },
      ),
    },
    handler: async ({ auth, query, app }) => {
      const userId = query.user_id !== undefined ? resolveUserId(auth, query.user_id) : undefined;
      if (auth.type === "client" && userId !== clientOwnUser(auth).id) {
        throw new StatusError(403, "Client can only list teams of their own user (user_id=me).");
      }
      let teams = app.database.db
        .selectFrom("teams as t")
        .select(teamColumns.map((c) => `t.${c}` as const))
        .where("t.tenancy_id", "=", auth.tenancy.id)
        .orderBy("t.created_at")
        .orderBy("t.id");
      if (userId !== undefined) {
        teams = teams.where((eb) =>
          eb.exists(
            eb
              .selectFrom("team_members as m")
              .select("m.user_id")
              .whereRef("m.tenancy_id", "=", "t.tenancy_id")
              .whereRef("m.team_id", "=", "t.id")
              .where("m.user_id", "=", userId),
          ),
        );
      }
      const rows = await teams.execute();
      return json({
        items: rows.map((t) =>
          teamView({ ...t, created_at: t.created_at.toISOString() }, accessLevel(auth.type)),
        ),
        is_paginated: false,
      });
    },
  }),
  defineRoute({
    method: "POST",
    path: "/teams",
    summary: "Create a team (its creator becomes a member with the creator permissions)",
    tags,
    access: anyAccess,
    successStatus: 201,
    schemas: {
      query: Type.Object({ add_current_user: Type.Optional(Type.String()) }, { additionalProperties: false }),
      body: Type.Object(
        {
          display_name: Type.String(),
          profile_image_url: Type.Optional(Type.Union([Type.String(), Type.Null()])),
          client_metadata: Type.Optional(json_),
          client_read_only_metadata: Type.Optional(json_),
          server_metadata: Type.Optional(json_),
          creator_user_id: Type.Optional(userIdOrMe),
        },
        { additionalProperties: false },
      ),
    },
    handler: async ({ auth, body, query, app, raw }) => {
      let creatorId =
        body.creator_user_id !== undefined ? resolveUserId(auth, body.creator_user_id) : undefined;
      if (auth.type === "client") {
        rejectServerOnlyFields(auth, raw, body, ["client_read_only_metadata", "server_metadata"]);
        const user = clientUser(auth);
        if (!auth.tenancy.config.teams.allowClientTeamCreation) {
          throw new StatusError(403, "Client team creation is disabled for this project");
        }
        creatorId ??= user.id;
        if (creatorId !== user.id)
          throw new StatusError(403, "You cannot create a team as a user that is not yourself");
      } else {
        if (query.add_current_user === "true" && auth.user) creatorId ??= auth.user.id;
      }
      if (creatorId !== undefined) await assertUserFound(app.database.db, auth.tenancy.id, creatorId);
      const teamId = await app.database.db.transaction().execute(async (trx) => {
        const image = await profileImageField(trx, app, auth, "team-profile-images", body.profile_image_url);
        const id = await createTeamRow(trx, auth.tenancy.id, { ...body, profile_image_url: image });
        if (creatorId !== undefined)
          await addTeamMember(trx, tenancyContext(auth), id, creatorId, { creator: true });
        return id;
      });
      return json(teamView(await findTeam(app, auth, teamId), accessLevel(auth.type)), 201);
    },
  }),
  defineRoute({
    method: "GET",
    path: "/teams/:team_id",
    summary: "Read a team",
    tags,
    access: anyAccess,
    schemas: { params: teamParams },
    handler: async ({ auth, params, app }) => {
      await requireClientMembership(app, auth, params.team_id);
      return json(teamView(await findTeam(app, auth, params.team_id), accessLevel(auth.type)));
    },
  }),
  defineRoute({
    method: "PATCH",
    path: "/teams/:team_id",
    summary: "Update a team (clients need $update_team)",
    tags,
    access: anyAccess,
    schemas: {
      params: teamParams,
      body: Type.Object(
        {
          display_name: Type.Optional(Type.String()),
          profile_image_url: Type.Optional(Type.Union([Type.String(), Type.Null()])),
          client_metadata: Type.Optional(json_),
          client_read_only_metadata: Type.Optional(json_),
          server_metadata: Type.Optional(json_),
        },
        { additionalProperties: false },
      ),
    },
    handler: async ({ auth, params, body, app, raw }) => {
      rejectServerOnlyFields(auth, raw, body, ["client_read_only_metadata", "server_metadata"]);
      await requireClientMembership(app, auth, params.team_id);
      await findTeam(app, auth, params.team_id);
      await requireTeamPermission(app, auth, params.team_id, "$update_team");
      // The image is stored in the update's transaction: a failed update keeps no picture.
      await app.database.db.transaction().execute(async (trx) => {
        const image = await profileImageField(
          trx,
          app,
          auth,
          "team-profile-images",
          body.profile_image_url,
          () =>
            trx
              .selectFrom("teams")
              .select("profile_image_url")
              .where("tenancy_id", "=", auth.tenancy.id)
              .where("id", "=", params.team_id)
              .executeTakeFirst()
              .then((row) => row?.profile_image_url),
        );
        const columns = {
          ...(body.display_name !== undefined ? { display_name: body.display_name } : {}),
          ...(image !== undefined ? { profile_image_url: image } : {}),
          ...(body.client_metadata !== undefined
            ? { client_metadata: jsonColumn(body.client_metadata) }
            : {}),
          ...(body.client_read_only_metadata !== undefined
            ? { client_read_only_metadata: jsonColumn(body.client_read_only_metadata) }
            : {}),
          ...(body.server_metadata !== undefined
            ? { server_metadata: jsonColumn(body.server_metadata) }
            : {}),
        };
        if (Object.keys(columns).length > 0) {
          const updated = await trx
            .updateTable("teams")
            .set(columns)
            .where("tenancy_id", "=", auth.tenancy.id)
            .where("id", "=", params.team_id)
            .executeTakeFirst();
          // Deleted since it was found: the rollback takes the new picture with it.
          if (updated.numUpdatedRows === 0n) throw new KnownError("TEAM_NOT_FOUND", params.team_id);
        }
      });
      return json(teamView(await findTeam(app, auth, params.team_id), accessLevel(auth.type)));
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/teams/:team_id",
    summary: "Delete a team (clients need $delete_team)",
    tags,
    access: anyAccess,
    schemas: { params: teamParams },
    handler: async ({ auth, params, app }) => {
      await requireClientMembership(app, auth, params.team_id);
      await findTeam(app, auth, params.team_id);
      await requireTeamPermission(app, auth, params.team_id, "$delete_team");
      const deleted = await app.database.db
        .deleteFrom("teams")
        .where("tenancy_id", "=", auth.tenancy.id)
        .where("id", "=", params.team_id)
        .executeTakeFirst();
      // A concurrent delete got there first: this one answers as it would have after it.
      if (deleted.numDeletedRows === 0n) throw new KnownError("TEAM_NOT_FOUND", params.team_id);
      return success();
    },
  }),
  defineRoute({
    method: "POST",
    path: "/team-memberships/:team_id/:user_id",
    summary: "Add a user to a team",
    tags,
    access: ["server", "admin"],
    successStatus: 201,
    schemas: { params: memberParams, body: Type.Object({}, { additionalProperties: false }) },
    handler: async ({ auth, params, app }) => {
      const userId = resolveUserId(auth, params.user_id);
      await assertUserFound(app.database.db, auth.tenancy.id, userId);
      await findTeam(app, auth, params.team_id);
      await app.database.db
        .transaction()
        .execute((trx) => addTeamMember(trx, tenancyContext(auth), params.team_id, userId));
      return json({ team_id: params.team_id, user_id: userId }, 201);
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/team-memberships/:team_id/:user_id",
    summary: "Remove a user from a team (anyone may leave; removing others needs $remove_members)",
    tags,
    access: anyAccess,
    schemas: { params: memberParams },
    handler: async ({ auth, params, app }) => {
      const userId = resolveUserId(auth, params.user_id);
      if (auth.type === "client" && userId !== clientOwnUser(auth).id) {
        await requireClientMembership(app, auth, params.team_id);
        await requireTeamPermission(app, auth, params.team_id, "$remove_members");
      }
      const deleted = await app.database.db
        .deleteFrom("team_members")
        .where("tenancy_id", "=", auth.tenancy.id)
        .where("team_id", "=", params.team_id)
        .where("user_id", "=", userId)
        .executeTakeFirst();
      if (Number(deleted.numDeletedRows) === 0)
        await missingMembership(app.database.db, auth.tenancy.id, params.team_id, userId);
      return success();
    },
  }),
  ...memberProfileRoutes(),
];

function memberProfileRoutes() {
  interface ProfileRow {
    team_id: string;
    user_id: string;
    display_name: string | null;
    profile_image_url: string | null;
  }
  /** Member profiles with their users, read in one statement however many members there are. */
  const profileViews = async (app: AppContext, auth: RequestAuth, rows: ProfileRow[]) => {
    const ids = [...new Set(rows.map((row) => row.user_id))];
    const users =
      ids.length > 0
        ? await selectUsers(app.database.db, auth.tenancy.id, sql`u.id = ANY(${ids}::uuid[])`)
        : [];
    const byId = new Map(users.map((user) => [user.id, user]));
    return rows.map((row) => {
      const user = byId.get(row.user_id);
      const base = {
        team_id: row.team_id,
        user_id: row.user_id,
        display_name: row.display_name ?? user?.display_name ?? null,
        profile_image_url: row.profile_image_url ?? user?.profile_image_url ?? null,
      };
      return auth.type === "client" || !user
        ? base
        : { ...base, user: userView(user, auth.tenancy.config, "server") };
    });
  };
  const profiles = (app: AppContext, auth: RequestAuth) =>
    app.database.db
      .selectFrom("team_members")
      .select(["team_id", "user_id", "display_name", "profile_image_url"])
      .where("tenancy_id", "=", auth.tenancy.id)
      .orderBy("created_at");

  /** Clients must belong to the team; reading others' profiles needs $read_members. */
  const checkClientRead = async (app: AppContext, auth: RequestAuth, teamId: string, userId?: string) => {
    if (auth.type !== "client") return;
    const me = clientOwnUser(auth);
    await requireClientMembership(app, auth, teamId);
    if (userId !== me.id) await requireTeamPermission(app, auth, teamId, "$read_members");
  };

  return [
    defineRoute({
      method: "GET",
      path: "/team-member-profiles",
      summary: "List team member profiles",
      tags,
      access: anyAccess,
      schemas: {
        query: Type.Object(
          { team_id: Type.Optional(Type.String({ format: "uuid" })), user_id: Type.Optional(userIdOrMe) },
          { additionalProperties: false },
        ),
      },
      handler: async ({ auth, query, app }) => {
        const userId = query.user_id !== undefined ? resolveUserId(auth, query.user_id) : undefined;
        if (auth.type === "client") {
          clientOwnUser(auth);
          if (!query.team_id) throw new StatusError(400, "team_id is required for access type client");
          await checkClientRead(app, auth, query.team_id, userId);
        } else {
          // A server naming a team or user that does not exist is told so (upstream), not given nothing.
          if (query.team_id) await findTeam(app, auth, query.team_id);
          if (userId !== undefined) await assertUserFound(app.database.db, auth.tenancy.id, userId);
        }
        let rows = profiles(app, auth);
        if (query.team_id) rows = rows.where("team_id", "=", query.team_id);
        if (userId !== undefined) rows = rows.where("user_id", "=", userId);
        const items = await profileViews(app, auth, await rows.execute());
        return json({ items, is_paginated: false });
      },
    }),
    defineRoute({
      method: "GET",
      path: "/team-member-profiles/:team_id/:user_id",
      summary: "Read one team member profile",
      tags,
      access: anyAccess,
      schemas: { params: memberParams },
      handler: async ({ auth, params, app }) => {
        const userId = resolveUserId(auth, params.user_id);
        await checkClientRead(app, auth, params.team_id, userId);
        const row = await profiles(app, auth)
          .where("team_id", "=", params.team_id)
          .where("user_id", "=", userId)
          .executeTakeFirst();
        if (!row) return missingMembership(app.database.db, auth.tenancy.id, params.team_id, userId);
        return json((await profileViews(app, auth, [row]))[0]);
      },
    }),
    defineRoute({
      method: "PATCH",
      path: "/team-member-profiles/:team_id/:user_id",
      summary: "Update a team member profile (clients only their own)",
      tags,
      access: anyAccess,
      schemas: {
        params: memberParams,
        body: Type.Object(
          {
            display_name: Type.Optional(Type.Union([Type.String(), Type.Null()])),
            profile_image_url: Type.Optional(Type.Union([Type.String(), Type.Null()])),
          },
          { additionalProperties: false },
        ),
      },
      handler: async ({ auth, params, body, app }) => {
        const userId = resolveUserId(auth, params.user_id);
        if (auth.type === "client" && userId !== clientOwnUser(auth).id) {
          throw new StatusError(403, "Client can only update their own team member profile.");
        }
        // One transaction: an image sent for a membership that does not exist is not kept.
        const updated = await app.database.db.transaction().execute(async (trx) => {
          const image = await profileImageField(
            trx,
            app,
            auth,
            "team-member-profile-images",
            body.profile_image_url,
            async () =>
              (
                await trx
                  .selectFrom("team_members")
                  .select("profile_image_url")
                  .where("tenancy_id", "=", auth.tenancy.id)
                  .where("team_id", "=", params.team_id)
                  .where("user_id", "=", userId)
                  .executeTakeFirst()
              )?.profile_image_url,
          );
          const changes = {
            ...(body.display_name !== undefined ? { display_name: body.display_name } : {}),
            ...(image !== undefined ? { profile_image_url: image } : {}),
          };
          const row = await trx
            .updateTable("team_members")
            // An empty update still has to find the row: set the team id to itself.
            .set(Object.keys(changes).length > 0 ? changes : { team_id: params.team_id })
            .where("tenancy_id", "=", auth.tenancy.id)
            .where("team_id", "=", params.team_id)
            .where("user_id", "=", userId)
            .returning(["team_id", "user_id", "display_name", "profile_image_url"])
            .executeTakeFirst();
          if (!row) return missingMembership(trx, auth.tenancy.id, params.team_id, userId);
          return row;
        });
        return json((await profileViews(app, auth, [updated]))[0]);
      },
    }),
  ];
}
