import Type from "typebox";
import { isMissingReference } from "../../db/database.ts";
import { KnownError, StatusError } from "../../errors/index.ts";
import { stackHeader, stackHeaderSent } from "../../http/headers.ts";
import { clientOwnUser, resolveUserId, schemaError, userIdOrMe } from "../../http/requirements.ts";
import { defineRoute, json, success } from "../../http/route.ts";
import { recordSignUp } from "../analytics/events.ts";
import { selectUser, userExists } from "../users/records.ts";
import { createUser } from "../users/service.ts";
import { clientIp, endUserOrigin } from "./end-user.ts";
import { accessTokenFor, signIn } from "./issue.ts";
import { deleteSession, MAX_SESSION_MS, useRefreshToken } from "./sessions.ts";

const anyAccess = ["client", "server", "admin"] as const;
const tags = ["Sessions"];
const userIdQuery = Type.Object({ user_id: userIdOrMe }, { additionalProperties: false });

export const sessionRoutes = [
  defineRoute({
    method: "POST",
    path: "/auth/anonymous/sign-up",
    summary: "Create an anonymous user and sign it in",
    tags,
    access: anyAccess,
    schemas: {},
    handler: async ({ auth, app, raw }) => {
      const tokens = await app.database.db.transaction().execute(async (trx) => {
        const userId = await createUser(
          trx,
          { tenancyId: auth.tenancy.id, config: auth.tenancy.config },
          { is_anonymous: true },
        );
        return signIn(app, trx, auth, userId, { origin: endUserOrigin(app, raw) });
      });
      recordSignUp(app, auth, tokens.user_id, "anonymous");
      return json(tokens);
    },
  }),
  defineRoute({
    method: "POST",
    path: "/auth/sessions",
    summary: "Create a session for a user (server-side sign-in, impersonation)",
    tags,
    access: ["server", "admin"],
    schemas: {
      body: Type.Object(
        {
          user_id: userIdOrMe,
          expires_in_millis: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_SESSION_MS })),
          is_impersonation: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    },
    handler: async ({ auth, body, app, raw }) => {
      const userId = resolveUserId(auth, body.user_id);
      if (!(await userExists(app.database.db, auth.tenancy.id, userId)))
        throw new KnownError("USER_ID_DOES_NOT_EXIST", userId);
      const tokens = await signIn(app, app.database.db, auth, userId, {
        expiresInMs: body.expires_in_millis,
        isImpersonation: body.is_impersonation,
        origin: endUserOrigin(app, raw),
      }).catch((error) => {
        // Deleted since it was found: answered as a request after the delete is.
        if (isMissingReference(error) || (error instanceof KnownError && error.code === "USER_NOT_FOUND"))
          throw new KnownError("USER_ID_DOES_NOT_EXIST", userId);
        throw error;
      });
      return json({ refresh_token: tokens.refresh_token, access_token: tokens.access_token });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/auth/sessions",
    summary: "List a user's sessions, newest first",
    tags,
    access: anyAccess,
    schemas: { query: userIdQuery },
    handler: async ({ auth, query, app }) => {
      const userId = resolveUserId(auth, query.user_id);
      if (auth.type === "client" && userId !== clientOwnUser(auth).id) {
        throw new StatusError(403, "Client can only list sessions of their own user.");
      }
      let sessions = app.database.db
        .selectFrom("sessions")
        .select(["id", "user_id", "created_at", "last_used_at", "last_used_ip", "is_impersonation"])
        .where("tenancy_id", "=", auth.tenancy.id)
        .where("user_id", "=", userId)
        .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", new Date())]))
        .orderBy("created_at", "desc")
        .orderBy("id", "desc");
      if (auth.type !== "admin") sessions = sessions.where("is_impersonation", "=", false);
      const rows = await sessions.execute();
      return json({
        items: rows.map((row) => ({
          id: row.id,
          user_id: row.user_id,
          created_at: row.created_at.getTime(),
          last_used_at: row.last_used_at.getTime(),
          is_impersonation: row.is_impersonation,
          is_current_session: row.id === auth.token?.refresh_token_id,
          ...(row.last_used_ip ? { last_used_at_end_user_ip_info: { ip: row.last_used_ip } } : {}),
        })),
        is_paginated: false,
      });
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/auth/sessions/current",
    summary: "Sign out: end the session of the access token",
    tags,
    access: anyAccess,
    schemas: {},
    handler: async ({ auth, app }) => {
      // Upstream answers a missing access token with ACCESS_TOKEN_EXPIRED; the SDK expects exactly that.
      if (!auth.token) throw new KnownError("ACCESS_TOKEN_EXPIRED", new Date());
      const deleted = await deleteSession(app.database.db, auth.tenancy.id, auth.token.refresh_token_id);
      if (!deleted) throw new KnownError("REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
      return success();
    },
  }),
  defineRoute({
    method: "POST",
    path: "/auth/sessions/current/refresh",
    summary: "Get a fresh access token for the refresh token in x-stack-refresh-token",
    tags,
    access: anyAccess,
    schemas: {},
    handler: async ({ auth, app, raw }) => {
      const refreshToken = stackHeader(raw.headers, "refresh-token");
      if (!refreshToken) {
        // Sent but empty is a token that matches no session (upstream), which the SDK takes as signed out.
        if (stackHeaderSent(raw.headers, "refresh-token"))
          throw new KnownError("REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
        throw schemaError(raw, ["headers.x-stack-refresh-token must be defined"]);
      }
      const session = await useRefreshToken(app.database.db, auth.tenancy.id, refreshToken, clientIp(raw));
      const user = await selectUser(app.database.db, auth.tenancy.id, session.user_id);
      if (!user) throw new KnownError("REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
      return json({
        access_token: await accessTokenFor(app, auth, user, session.id, endUserOrigin(app, raw)),
      });
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/auth/sessions/:session_id",
    summary: "End one session",
    tags,
    access: anyAccess,
    schemas: {
      params: Type.Object({ session_id: Type.String({ format: "uuid" }) }, { additionalProperties: false }),
      query: Type.Object({ user_id: Type.Optional(userIdOrMe) }, { additionalProperties: false }),
    },
    handler: async ({ auth, params, query, app }) => {
      if (params.session_id === auth.token?.refresh_token_id)
        throw new KnownError("CANNOT_DELETE_CURRENT_SESSION");
      let owner = query.user_id !== undefined ? resolveUserId(auth, query.user_id) : undefined;
      if (auth.type === "client") {
        // A client ends only its own user's sessions; with nobody signed in, it has none.
        if (!auth.user || (owner !== undefined && owner !== auth.user.id))
          throw new StatusError(404, "Session not found.");
        owner = auth.user.id;
      }
      const deleted = await deleteSession(app.database.db, auth.tenancy.id, params.session_id, owner);
      if (!deleted) throw new StatusError(404, "Session not found.");
      return success();
    },
  }),
];
