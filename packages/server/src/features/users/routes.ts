import type { FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { KnownError, StatusError } from "../../errors/index.ts";
import type { RequestAuth } from "../../http/authenticate.ts";
import { rejectServerOnlyFields, schemaError, tenancyContext } from "../../http/requirements.ts";
import { defineRoute, json, success } from "../../http/route.ts";
import { recordServerEvent, recordSignUp } from "../analytics/events.ts";
import { profileImageField } from "../profile-images/store.ts";
import { listUsers } from "./list.ts";
import { selectUser } from "./records.ts";
import {
  clientUserUpdate,
  serverUserCreate,
  serverUserUpdate,
  type UserUpdateInput,
  userIdParams,
  userListQuery,
} from "./schemas.ts";
import { createUser, updateUser, withPasswordHashed } from "./service.ts";
import { accessLevel, userView } from "./views.ts";

const tags = ["Users"];
const serverAccess = ["server", "admin"] as const;
const anyAccess = ["client", "server", "admin"] as const;

async function readUser(app: AppContext, auth: RequestAuth, userId: string) {
  const user = await selectUser(app.database.db, auth.tenancy.id, userId);
  if (!user) throw new KnownError("USER_NOT_FOUND");
  return json(userView(user, auth.tenancy.config, accessLevel(auth.type)));
}

/**
 * Upstream's schema rule: a restriction's reason or private details come only with
 * `restricted_by_admin: true` in the same body, whatever the user's stored restriction. A rule of the
 * request, so checked here (sign-up rules set the restriction with its details themselves).
 */
function assertRestrictionInBody(
  raw: FastifyRequest,
  body: {
    restricted_by_admin?: boolean;
    restricted_by_admin_reason?: string | null;
    restricted_by_admin_private_details?: string | null;
  },
): void {
  if (body.restricted_by_admin === true) return;
  const field = (["restricted_by_admin_reason", "restricted_by_admin_private_details"] as const).find(
    (name) => body[name] != null,
  );
  if (field) throw schemaError(raw, [`${field} must be null when restricted_by_admin is not true`]);
}

async function applyUpdate(app: AppContext, auth: RequestAuth, userId: string, body: UserUpdateInput) {
  const update = await withPasswordHashed(body);
  await app.database.db.transaction().execute(async (trx) => {
    const image = await profileImageField(trx, app, auth, "user-profile-images", body.profile_image_url, () =>
      trx
        .selectFrom("users")
        .select("profile_image_url")
        .where("tenancy_id", "=", auth.tenancy.id)
        .where("id", "=", userId)
        .executeTakeFirst()
        .then((row) => row?.profile_image_url),
    );
    await updateUser(trx, tenancyContext(auth), userId, { ...update, profile_image_url: image });
  });
  return readUser(app, auth, userId);
}

async function removeUser(app: AppContext, auth: RequestAuth, userId: string) {
  const deleted = await app.database.db
    .deleteFrom("users")
    .where("tenancy_id", "=", auth.tenancy.id)
    .where("id", "=", userId)
    .executeTakeFirst();
  if (Number(deleted.numDeletedRows) === 0) throw new KnownError("USER_NOT_FOUND");
  // Activity metrics stop counting the user from this event on; once it is stored, cached aggregates of
  // the tenancy are dropped so no figure still counts them (dropped earlier, a recomputation could miss
  // the event and be cached).
  await recordServerEvent(
    app,
    {
      event_type: "$user-deleted",
      event_at_ms: Date.now(),
      data: {},
      project_id: auth.project.id,
      branch_id: auth.tenancy.branchId,
      user_id: userId,
      is_anonymous: false,
      refresh_token_id: null,
    },
    { immediately: true },
  );
  await app.cache.invalidateTenancy(auth.tenancy.id);
  return success();
}

function currentUser(auth: RequestAuth) {
  if (!auth.user) throw new KnownError("CANNOT_GET_OWN_USER_WITHOUT_USER");
  return auth.user;
}

export const userRoutes = [
  defineRoute({
    method: "GET",
    path: "/users",
    summary: "List users (cursor pagination, search, filters)",
    tags,
    access: serverAccess,
    schemas: { query: userListQuery },
    handler: async ({ auth, query, app }) => {
      const page = await listUsers(app.database.db, auth.tenancy.id, auth.tenancy.config, query);
      return json({
        items: page.items.map((user) => userView(user, auth.tenancy.config, "server")),
        is_paginated: true,
        pagination: { next_cursor: page.nextCursor },
      });
    },
  }),
  defineRoute({
    method: "POST",
    path: "/users",
    summary: "Create a user",
    tags,
    access: serverAccess,
    successStatus: 201,
    schemas: { body: serverUserCreate },
    handler: async ({ auth, body, app, raw }) => {
      assertRestrictionInBody(raw, body);
      if ((body.password || body.password_hash) && !auth.tenancy.config.auth.password.allowSignIn) {
        throw new StatusError(400, "Password authentication is not enabled for this project.");
      }
      const input = await withPasswordHashed(body);
      const userId = await app.database.db.transaction().execute(async (trx) => {
        const image = await profileImageField(trx, app, auth, "user-profile-images", body.profile_image_url);
        return createUser(trx, tenancyContext(auth), { ...input, profile_image_url: image });
      });
      recordSignUp(app, auth, userId, body.is_anonymous ? "anonymous" : "server");
      const user = await selectUser(app.database.db, auth.tenancy.id, userId);
      return json(userView(user!, auth.tenancy.config, "server"), 201);
    },
  }),
  defineRoute({
    method: "GET",
    path: "/users/me",
    summary: "The signed-in user",
    tags,
    access: anyAccess,
    schemas: {},
    handler: async ({ auth }) =>
      json(userView(currentUser(auth), auth.tenancy.config, accessLevel(auth.type))),
  }),
  defineRoute({
    method: "PATCH",
    path: "/users/me",
    summary: "Update the signed-in user (clients may change only their own public fields)",
    tags,
    access: anyAccess,
    schemas: { body: serverUserUpdate },
    handler: async ({ auth, body, app, raw }) => {
      // What the body may hold is checked before who sends it, as upstream's schema is.
      rejectServerOnlyFields(
        auth,
        raw,
        body,
        Object.keys(body).filter((key) => !(key in clientUserUpdate.properties)),
      );
      assertRestrictionInBody(raw, body);
      return applyUpdate(app, auth, currentUser(auth).id, body);
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/users/me",
    summary: "Delete the signed-in user",
    tags,
    access: anyAccess,
    schemas: {},
    handler: async ({ auth, app }) => {
      const user = currentUser(auth);
      if (auth.type === "client" && !auth.tenancy.config.users.allowClientUserDeletion) {
        throw new StatusError(400, "Client user deletion is not enabled for this project");
      }
      return removeUser(app, auth, user.id);
    },
  }),
  defineRoute({
    method: "GET",
    path: "/users/:user_id",
    summary: "Read a user",
    tags,
    access: serverAccess,
    schemas: { params: userIdParams },
    handler: async ({ auth, params, app }) => readUser(app, auth, params.user_id),
  }),
  defineRoute({
    method: "PATCH",
    path: "/users/:user_id",
    summary: "Update a user",
    tags,
    access: serverAccess,
    schemas: { params: userIdParams, body: serverUserUpdate },
    handler: async ({ auth, params, body, app, raw }) => {
      assertRestrictionInBody(raw, body);
      return applyUpdate(app, auth, params.user_id, body);
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/users/:user_id",
    summary: "Delete a user with their sessions, memberships, keys and channels",
    tags,
    access: serverAccess,
    schemas: { params: userIdParams },
    handler: async ({ auth, params, app }) => removeUser(app, auth, params.user_id),
  }),
];
