import type { ConfigObject } from "@latchkey/contracts";
import Type from "typebox";
import type { AppContext } from "../../app-context.ts";
import { KnownError, StatusError } from "../../errors/index.ts";
import type { RequestAuth } from "../../http/authenticate.ts";
import { defineRoute, json, success } from "../../http/route.ts";
import { changeOverride, patchWith } from "../config/index.ts";
import { removeKeys } from "../config/overrides.ts";

const PERMISSION_ID = "^[a-z0-9_:]+$";

/**
 * Permission definitions live in the config (`rbac.permissions`); these routes are the admin API over
 * them, writing the environment-level override.
 */
function definitionRoutes(scope: "team" | "project") {
  const base = `/${scope}-permission-definitions`;
  const tags = ["Permissions"];
  const definitions = (auth: RequestAuth) =>
    Object.entries(auth.tenancy.config.rbac.permissions)
      .filter(([, definition]) => (definition.scope ?? "team") === scope)
      .map(([id, definition]) => ({
        id,
        ...(definition.description !== undefined ? { description: definition.description } : {}),
        contained_permission_ids: Object.keys(definition.containedPermissionIds).sort(),
      }));
  const write = async (
    app: AppContext,
    auth: RequestAuth,
    id: string,
    definition: { description?: string; contained_permission_ids: string[] },
  ) => {
    const entry: ConfigObject = {
      scope,
      containedPermissionIds: Object.fromEntries(
        definition.contained_permission_ids.map((contained) => [contained, true]),
      ),
    };
    if (definition.description !== undefined) entry.description = definition.description;
    await changeOverride(
      app.database,
      "environment",
      { projectId: auth.project.id, branchId: auth.tenancy.branchId },
      patchWith({ [`rbac.permissions.${id}`]: entry }),
    );
    app.projects.invalidate(auth.project.id);
  };
  const find = (auth: RequestAuth, id: string) => {
    const found = definitions(auth).find((d) => d.id === id);
    if (!found) throw new KnownError("PERMISSION_NOT_FOUND", id);
    return found;
  };
  const body = {
    description: Type.Optional(Type.String()),
    contained_permission_ids: Type.Optional(Type.Array(Type.String())),
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
      handler: async ({ auth }) => json({ items: definitions(auth), is_paginated: false }),
    }),
    defineRoute({
      method: "POST",
      path: base,
      summary: `Define a ${scope} permission`,
      tags,
      access: ["admin"],
      successStatus: 201,
      schemas: {
        body: Type.Object(
          { id: Type.String({ pattern: PERMISSION_ID }), ...body },
          { additionalProperties: false },
        ),
      },
      handler: async ({ auth, body, app }) => {
        if (auth.tenancy.config.rbac.permissions[body.id])
          throw new StatusError(400, `Permission ${body.id} already exists`);
        await write(app, auth, body.id, {
          description: body.description,
          contained_permission_ids: body.contained_permission_ids ?? [],
        });
        return json(
          {
            id: body.id,
            ...(body.description !== undefined ? { description: body.description } : {}),
            contained_permission_ids: [...(body.contained_permission_ids ?? [])].sort(),
          },
          201,
        );
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
        const current = find(auth, params.permission_id);
        const next = {
          description: body.description ?? current.description,
          contained_permission_ids: body.contained_permission_ids ?? current.contained_permission_ids,
        };
        await write(app, auth, params.permission_id, next);
        return json({
          id: params.permission_id,
          ...(next.description !== undefined ? { description: next.description } : {}),
          contained_permission_ids: [...next.contained_permission_ids].sort(),
        });
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
        find(auth, params.permission_id);
        await changeOverride(
          app.database,
          "environment",
          { projectId: auth.project.id, branchId: auth.tenancy.branchId },
          (current) =>
            patchWith({ [`rbac.permissions.${params.permission_id}`]: null })(
              removeKeys([`rbac.permissions.${params.permission_id}`])(current),
            ),
        );
        const table = scope === "team" ? "team_member_permissions" : "user_permissions";
        await app.database.db
          .deleteFrom(table)
          .where("tenancy_id", "=", auth.tenancy.id)
          .where("permission_id", "=", params.permission_id)
          .execute();
        app.projects.invalidate(auth.project.id);
        return success();
      },
    }),
  ];
}

export const permissionDefinitionRoutes = [...definitionRoutes("team"), ...definitionRoutes("project")];
