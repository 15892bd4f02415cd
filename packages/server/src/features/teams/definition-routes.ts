import type { ConfigObject, RenderedConfig } from "@latchkey/contracts";
import type { Transaction } from "kysely";
import Type from "typebox";
import type { AppContext } from "../../app-context.ts";
import type { Database } from "../../db/database.ts";
import { KnownError, StatusError } from "../../errors/index.ts";
import type { RequestAuth } from "../../http/authenticate.ts";
import { defineRoute, json, success } from "../../http/route.ts";
import { changeOverride, patchWith } from "../config/index.ts";
import { type Change, removeKeys } from "../config/overrides.ts";
import { configWithEnvironment } from "../projects/snapshot.ts";
import { definitionOf } from "./permissions.ts";

/**
 * Permission ids become config keys and index rows: no dots (a dot would nest them), no `__proto__`
 * (the config format cannot hold it) and short enough for the grants' btree index.
 */
const PERMISSION_ID = "^(?!__proto__$)[a-z0-9_:]+$";
const MAX_PERMISSION_ID_LENGTH = 256;
const permissionId = Type.String({ pattern: PERMISSION_ID, maxLength: MAX_PERMISSION_ID_LENGTH });
/** A contained permission may also be one of the built-in `$…` team permissions. */
const containedPermissionId = Type.String({
  pattern: "^(?!__proto__$)\\$?[a-z0-9_:]+$",
  maxLength: MAX_PERMISSION_ID_LENGTH,
});

/**
 * Permission definitions live in the config (`rbac.permissions`); these routes are the admin API over
 * them, writing the environment-level override.
 */
function definitionRoutes(scope: "team" | "project") {
  const base = `/${scope}-permission-definitions`;
  const tags = ["Permissions"];
  const definitionsOf = (config: RenderedConfig) =>
    Object.entries(config.rbac.permissions)
      .filter(([, definition]) => (definition.scope ?? "team") === scope)
      .map(([id, definition]) => ({
        id,
        ...(definition.description !== undefined ? { description: definition.description } : {}),
        contained_permission_ids: Object.keys(definition.containedPermissionIds).sort(),
      }));
  type Definition = ReturnType<typeof definitionsOf>[number];
  type DefinitionBody = Omit<Definition, "id">;
  const entryOf = (definition: DefinitionBody): ConfigObject => ({
    scope,
    containedPermissionIds: Object.fromEntries(definition.contained_permission_ids.map((id) => [id, true])),
    ...(definition.description !== undefined ? { description: definition.description } : {}),
  });
  const answerOf = (id: string, definition: DefinitionBody) => ({
    id,
    ...(definition.description !== undefined ? { description: definition.description } : {}),
    contained_permission_ids: [...definition.contained_permission_ids].sort(),
  });
  /**
   * Changes one definition in a read-modify-write under the environment override's row lock. `decide`
   * sees the config as it is now (the locked override over the project's other levels), so each of
   * several concurrent requests sees the ones before it; it returns the change and the request's
   * answer, or throws the answer.
   */
  const changeDefinition = async <Answer>(
    app: AppContext,
    auth: RequestAuth,
    decide: (config: RenderedConfig) => { change: Change; answer: Answer },
    alongside?: (trx: Transaction<Database>) => Promise<void>,
  ): Promise<Answer> => {
    let decision: { change: Change; answer: Answer } | undefined;
    await changeOverride(
      app.database,
      "environment",
      { projectId: auth.project.id, branchId: auth.tenancy.branchId },
      (current) => {
        decision = decide(
          configWithEnvironment(auth.project.projectOverride, auth.tenancy.branchOverride, current),
        );
        return decision.change(current);
      },
      undefined,
      alongside,
    );
    app.projects.invalidate(auth.project.id);
    return decision!.answer;
  };
  const find = (config: RenderedConfig, id: string): Definition => {
    const found = definitionsOf(config).find((d) => d.id === id);
    if (!found) throw new KnownError("PERMISSION_NOT_FOUND", id);
    return found;
  };
  const body = {
    description: Type.Optional(Type.String()),
    contained_permission_ids: Type.Optional(Type.Array(containedPermissionId)),
  };
  const params = Type.Object({ permission_id: Type.String() }, { additionalProperties: false });

  return [
    defineRoute({
      method: "GET",
      path: base,
      summary: `List ${scope} permission definitions`,
      tags,
      access: ["admin"],
      schemas: {},
      handler: async ({ auth }) => json({ items: definitionsOf(auth.tenancy.config), is_paginated: false }),
    }),
    defineRoute({
      method: "POST",
      path: base,
      summary: `Define a ${scope} permission`,
      tags,
      access: ["admin"],
      successStatus: 201,
      schemas: {
        body: Type.Object({ id: permissionId, ...body }, { additionalProperties: false }),
      },
      handler: async ({ auth, body, app }) => {
        const created = await changeDefinition(app, auth, (config) => {
          if (definitionOf(config, body.id))
            throw new StatusError(400, `Permission ${body.id} already exists`);
          const definition = {
            description: body.description,
            contained_permission_ids: body.contained_permission_ids ?? [],
          };
          return {
            change: patchWith({ [`rbac.permissions.${body.id}`]: entryOf(definition) }),
            answer: answerOf(body.id, definition),
          };
        });
        return json(created, 201);
      },
    }),
    defineRoute({
      method: "PATCH",
      path: `${base}/:permission_id`,
      summary: `Update a ${scope} permission definition`,
      tags,
      access: ["admin"],
      schemas: { params, body: Type.Object(body, { additionalProperties: false }) },
      handler: async ({ auth, params, body, app }) => {
        const updated = await changeDefinition(app, auth, (config) => {
          const current = find(config, params.permission_id);
          const definition = {
            description: body.description ?? current.description,
            contained_permission_ids: body.contained_permission_ids ?? current.contained_permission_ids,
          };
          return {
            change: patchWith({ [`rbac.permissions.${params.permission_id}`]: entryOf(definition) }),
            answer: answerOf(params.permission_id, definition),
          };
        });
        return json(updated);
      },
    }),
    defineRoute({
      method: "DELETE",
      path: `${base}/:permission_id`,
      summary: `Delete a ${scope} permission definition and its grants`,
      tags,
      access: ["admin"],
      schemas: { params },
      handler: async ({ auth, params, app }) => {
        const key = `rbac.permissions.${params.permission_id}`;
        const table = scope === "team" ? "team_member_permissions" : "user_permissions";
        await changeDefinition(
          app,
          auth,
          (config) => {
            find(config, params.permission_id);
            return {
              change: (current) => patchWith({ [key]: null })(removeKeys([key])(current)),
              answer: undefined,
            };
          },
          // The grants go in the same transaction: a grant waits for it, then finds no definition.
          async (trx) => {
            await trx
              .deleteFrom(table)
              .where("tenancy_id", "=", auth.tenancy.id)
              .where("permission_id", "=", params.permission_id)
              .execute();
          },
        );
        return success();
      },
    }),
  ];
}

export const permissionDefinitionRoutes = [...definitionRoutes("team"), ...definitionRoutes("project")];
