import Type from "typebox";
import { KnownError } from "../../errors/index.ts";
import { defineRoute, json } from "../../http/route.ts";
import { createKeySet, getKeySet, listKeySets, updateKeySet } from "./queries.ts";
import { keySetCreateBody, keySetCreated, keySetParams, keySetRead, keySetUpdateBody } from "./schemas.ts";

const admin = ["admin"] as const;
const tags = ["Project keys"];

export const projectKeyRoutes = [
  defineRoute({
    method: "POST",
    path: "/internal/api-keys",
    summary: "Create a project key set (the full keys are returned only here)",
    tags,
    access: admin,
    schemas: { body: keySetCreateBody, response: keySetCreated },
    handler: async ({ auth, body, app }) => {
      const created = await createKeySet(app.database.db, auth.project.id, {
        description: body.description,
        expiresAt: new Date(body.expires_at_millis),
        publishableClientKey: body.has_publishable_client_key,
        secretServerKey: body.has_secret_server_key,
        superSecretAdminKey: body.has_super_secret_admin_key,
      });
      app.projects.invalidate(auth.project.id);
      return json(created);
    },
  }),
  defineRoute({
    method: "GET",
    path: "/internal/api-keys",
    summary: "List the project's key sets, newest first",
    tags,
    access: admin,
    schemas: { response: Type.Object({ items: Type.Array(keySetRead), is_paginated: Type.Literal(false) }) },
    handler: async ({ auth, app }) =>
      json({ items: await listKeySets(app.database.db, auth.project.id), is_paginated: false }),
  }),
  defineRoute({
    method: "GET",
    path: "/internal/api-keys/:api_key_id",
    summary: "Read one key set",
    tags,
    access: admin,
    schemas: { params: keySetParams, response: keySetRead },
    handler: async ({ auth, params, app }) => {
      const keySet = await getKeySet(app.database.db, auth.project.id, params.api_key_id);
      if (!keySet) throw new KnownError("API_KEY_NOT_FOUND");
      return json(keySet);
    },
  }),
  defineRoute({
    method: "PATCH",
    path: "/internal/api-keys/:api_key_id",
    summary: "Update a key set's description or revoke it (one-way)",
    tags,
    access: admin,
    schemas: { params: keySetParams, body: keySetUpdateBody, response: keySetRead },
    handler: async ({ auth, params, body, app }) => {
      const keySet = await updateKeySet(app.database.db, auth.project.id, params.api_key_id, body);
      if (!keySet) throw new KnownError("API_KEY_NOT_FOUND");
      app.projects.invalidate(auth.project.id);
      return json(keySet);
    },
  }),
];
