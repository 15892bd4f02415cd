import { randomUUID } from "node:crypto";
import Type from "typebox";
import type { AppContext } from "../../app-context.ts";
import { KnownError, StatusError } from "../../errors/index.ts";
import type { RequestAuth } from "../../http/authenticate.ts";
import { resolveUserId, userIdOrMe } from "../../http/requirements.ts";
import { defineRoute, json } from "../../http/route.ts";
import { timestampMillis } from "../../http/value-schemas.ts";
import { hasTeamPermission } from "../teams/permissions.ts";
import { type ApiKeyType, digestApiKey, generateApiKey } from "./format.ts";

const anyAccess = ["client", "server", "admin"] as const;

interface ApiKeyRow {
  id: string;
  user_id: string | null;
  team_id: string | null;
  description: string;
  last_four: string;
  is_public: boolean;
  expires_at: Date | null;
  manually_revoked_at: Date | null;
  created_at: Date;
}

const columns = [
  "id",
  "user_id",
  "team_id",
  "description",
  "last_four",
  "is_public",
  "expires_at",
  "manually_revoked_at",
  "created_at",
] as const;

function view(type: ApiKeyType, row: ApiKeyRow, value: string | { last_four: string }) {
  return {
    id: row.id,
    description: row.description,
    created_at_millis: row.created_at.getTime(),
    ...(row.expires_at ? { expires_at_millis: row.expires_at.getTime() } : {}),
    ...(row.manually_revoked_at ? { manually_revoked_at_millis: row.manually_revoked_at.getTime() } : {}),
    is_public: row.is_public,
    type,
    ...(type === "user" ? { user_id: row.user_id } : { team_id: row.team_id }),
    value,
  };
}

/** User keys and team keys differ only in their owner column and who may manage them. */
function routesForKeyType(type: ApiKeyType) {
  const ownerField = type === "user" ? "user_id" : "team_id";
  const ownerColumn = type === "user" ? ("user_id" as const) : ("team_id" as const);
  const label = type === "user" ? "User" : "Team";
  const base = `/${type}-api-keys`;
  const ownerIdSchema = type === "user" ? userIdOrMe : Type.String({ format: "uuid" });
  const tags = [`${label} API keys`];

  const assertEnabled = (auth: RequestAuth) => {
    if (!auth.tenancy.config.apiKeys.enabled[type]) {
      throw new StatusError(400, `${label} API keys are not enabled for this project.`);
    }
  };

  /** Resolves the owner and checks the caller may manage its keys. */
  const authorize = async (app: AppContext, auth: RequestAuth, owner: string): Promise<string> => {
    const ownerId = type === "user" ? resolveUserId(auth, owner) : owner;
    if (auth.type !== "client") return ownerId;
    if (!auth.user) throw new KnownError("USER_AUTHENTICATION_REQUIRED");
    if (type === "user") {
      if (ownerId !== auth.user.id) throw new StatusError(403, "Client can only manage their own api keys");
    } else if (
      !(await hasTeamPermission(app.database.db, auth.tenancy, ownerId, auth.user.id, "$manage_api_keys"))
    ) {
      // Hide the team's existence from users who may not manage its keys.
      throw new KnownError("API_KEY_NOT_FOUND");
    }
    return ownerId;
  };

  const ownerQuery = (required: boolean) =>
    Type.Object(
      { [ownerField]: required ? ownerIdSchema : Type.Optional(ownerIdSchema) },
      { additionalProperties: false },
    );

  /**
   * A key of this type by id, which a client must be allowed to manage. The owner a query names plays
   * no part, as upstream: the key is found first and checked against its own owner (a key nobody may
   * see is not found before the caller's user is asked for).
   */
  const findForCaller = async (app: AppContext, auth: RequestAuth, id: string) => {
    const row = await app.database.db
      .selectFrom("api_keys")
      .select(columns)
      .where("tenancy_id", "=", auth.tenancy.id)
      .where("id", "=", id)
      .where(ownerColumn, "is not", null)
      .executeTakeFirst();
    if (!row) throw new KnownError("API_KEY_NOT_FOUND");
    if (auth.type === "client") await authorize(app, auth, row[ownerColumn]!);
    return row;
  };

  return [
    defineRoute({
      method: "POST",
      path: base,
      summary: `Create a ${type} API key (the full key is returned only here)`,
      tags,
      access: anyAccess,
      schemas: {
        body: Type.Object(
          {
            description: Type.String(),
            expires_at_millis: Type.Union([timestampMillis(), Type.Null()]),
            is_public: Type.Optional(Type.Boolean()),
            [ownerField]: ownerIdSchema,
          },
          { additionalProperties: false },
        ),
      },
      handler: async ({ auth, body, app }) => {
        assertEnabled(auth);
        const input = body as {
          description: string;
          expires_at_millis: number | null;
          is_public?: boolean;
        } & Record<string, string>;
        const ownerId = await authorize(app, auth, input[ownerField]!);
        const id = randomUUID();
        const isPublic = input.is_public ?? false;
        const key = generateApiKey(id, type, isPublic);
        const row = await app.database.db
          .insertInto("api_keys")
          .values({
            tenancy_id: auth.tenancy.id,
            id,
            [ownerColumn]: ownerId,
            description: input.description,
            secret_hash: digestApiKey(key),
            last_four: key.slice(-4),
            is_public: isPublic,
            expires_at: input.expires_at_millis === null ? null : new Date(input.expires_at_millis),
          })
          .returning(columns)
          .executeTakeFirstOrThrow()
          .catch((error: { code?: string }) => {
            if (error.code === "23503")
              throw new KnownError(type === "user" ? "USER_NOT_FOUND" : "TEAM_NOT_FOUND", ownerId);
            throw error;
          });
        return json(view(type, row, key));
      },
    }),
    defineRoute({
      method: "GET",
      path: base,
      summary: `List a ${type}'s API keys, newest first`,
      tags,
      access: anyAccess,
      schemas: { query: ownerQuery(type === "team") },
      handler: async ({ auth, query, app }) => {
        assertEnabled(auth);
        const owner = (query as Record<string, string | undefined>)[ownerField];
        // Upstream's words, without the usual "Request validation failed" preamble.
        if (owner === undefined)
          throw new KnownError("SCHEMA_ERROR", `${ownerField} is required for ${type} API keys`);
        const ownerId = await authorize(app, auth, owner);
        const rows = await app.database.db
          .selectFrom("api_keys")
          .select(columns)
          .where("tenancy_id", "=", auth.tenancy.id)
          .where(ownerColumn, "=", ownerId)
          .orderBy("created_at", "desc")
          .orderBy("id", "desc")
          .execute();
        return json({
          items: rows.map((row) => view(type, row, { last_four: row.last_four })),
          is_paginated: false,
        });
      },
    }),
    defineRoute({
      method: "GET",
      path: `${base}/:api_key_id`,
      summary: `Read a ${type} API key`,
      tags,
      access: anyAccess,
      schemas: {
        params: Type.Object({ api_key_id: Type.String({ format: "uuid" }) }, { additionalProperties: false }),
        query: ownerQuery(type === "team"),
      },
      handler: async ({ auth, params, app }) => {
        assertEnabled(auth);
        const row = await findForCaller(app, auth, params.api_key_id);
        return json(view(type, row, { last_four: row.last_four }));
      },
    }),
    defineRoute({
      method: "PATCH",
      path: `${base}/:api_key_id`,
      summary: `Update or revoke a ${type} API key (revocation is one-way)`,
      tags,
      access: anyAccess,
      schemas: {
        params: Type.Object({ api_key_id: Type.String({ format: "uuid" }) }, { additionalProperties: false }),
        query: ownerQuery(type === "team"),
        body: Type.Object(
          { description: Type.Optional(Type.String()), revoked: Type.Optional(Type.Literal(true)) },
          { additionalProperties: false },
        ),
      },
      handler: async ({ auth, params, body, app }) => {
        assertEnabled(auth);
        const existing = await findForCaller(app, auth, params.api_key_id);
        const row = await app.database.db
          .updateTable("api_keys")
          .set((eb) => ({
            ...(body.description !== undefined ? { description: body.description } : {}),
            manually_revoked_at: body.revoked
              ? eb.fn.coalesce("manually_revoked_at", eb.fn<Date>("now", []))
              : eb.ref("manually_revoked_at"),
          }))
          .where("tenancy_id", "=", auth.tenancy.id)
          .where("id", "=", existing.id)
          .returning(columns)
          .executeTakeFirst();
        // Deleted with its owner since it was found.
        if (!row) throw new KnownError("API_KEY_NOT_FOUND");
        return json(view(type, row, { last_four: row.last_four }));
      },
    }),
    defineRoute({
      method: "POST",
      path: `${base}/check`,
      summary: `Check a ${type} API key and return it`,
      tags,
      access: ["server", "admin"],
      schemas: { body: Type.Object({ api_key: Type.String() }, { additionalProperties: false }) },
      handler: async ({ auth, body, app }) => {
        assertEnabled(auth);
        const row = await app.database.db
          .selectFrom("api_keys")
          .select(columns)
          .where("tenancy_id", "=", auth.tenancy.id)
          .where("secret_hash", "=", digestApiKey(body.api_key))
          .executeTakeFirst();
        if (!row) throw new KnownError("API_KEY_NOT_FOUND");
        const actual: ApiKeyType = row.user_id ? "user" : "team";
        if (actual !== type) throw new KnownError("WRONG_API_KEY_TYPE", type, actual);
        if (row.manually_revoked_at) throw new KnownError("API_KEY_REVOKED");
        if (row.expires_at && row.expires_at.getTime() < Date.now()) throw new KnownError("API_KEY_EXPIRED");
        return json(view(type, row, { last_four: row.last_four }));
      },
    }),
  ];
}

export const apiKeyRoutes = [...routesForKeyType("user"), ...routesForKeyType("team")];
