import type { Kysely } from "kysely";
import type { AppContext } from "../../app-context.ts";
import type { Database } from "../../db/database.ts";
import { KnownError, StatusError } from "../../errors/index.ts";
import type { RequestAuth } from "../../http/authenticate.ts";
import { defineRoute, json, success } from "../../http/route.ts";
import { changeOverride, patchWith } from "../config/index.ts";
import { isTeamMember } from "../teams/service.ts";
import { insertProject } from "./queries.ts";
import {
  adminProjectView,
  clientProjectView,
  type ProjectUpdate,
  projectCreateBody,
  projectUpdateBody,
} from "./schemas.ts";
import {
  legacyConfigToOverride,
  adminProjectView as renderAdminView,
  clientProjectView as renderClientView,
} from "./views.ts";

const tags = ["Projects"];

async function applyProjectUpdate(app: AppContext, projectId: string, branchId: string, body: ProjectUpdate) {
  const { config, description, ...fields } = body;
  const columns = {
    ...fields,
    ...(description !== undefined ? { description: description ?? "" } : {}),
  };
  const writeColumns = async (db: Kysely<Database>) => {
    if (Object.keys(columns).length === 0) return;
    await db
      .updateTable("projects")
      .set({ ...columns, updated_at: new Date() })
      .where("id", "=", projectId)
      .execute();
  };
  if (config) {
    // The columns commit with the config, or not at all when the config is refused.
    const change = patchWith(legacyConfigToOverride(config));
    await changeOverride(
      app.database,
      "environment",
      { projectId, branchId },
      change,
      undefined,
      writeColumns,
    );
  } else {
    await writeColumns(app.database.db);
  }
  app.projects.invalidate(projectId);
}

async function freshAdminView(app: AppContext, projectId: string, branchId: string) {
  const view = await adminViewIfAny(app, projectId, branchId);
  if (!view) throw new StatusError(404, "The project was deleted while it was being updated.");
  return view;
}

async function adminViewIfAny(app: AppContext, projectId: string, branchId: string) {
  const fresh = await app.projects.get(projectId);
  const tenancy = fresh?.branches.get(branchId);
  return fresh && tenancy ? renderAdminView(fresh, tenancy.config) : null;
}

/** The dashboard's project list: internal-project users manage the projects their teams own. */
function internalUser(auth: RequestAuth) {
  // Upstream's order: no user is said first, whatever the project.
  if (!auth.user) throw new KnownError("USER_AUTHENTICATION_REQUIRED");
  if (auth.project.id !== "internal") throw new KnownError("EXPECTED_INTERNAL_PROJECT");
  return auth.user;
}

export const projectRoutes = [
  defineRoute({
    method: "GET",
    path: "/internal/projects",
    summary: "Projects the signed-in dashboard user manages",
    tags,
    hidden: true,
    access: ["client", "server", "admin"],
    schemas: {},
    handler: async ({ auth, app }) => {
      const user = internalUser(auth);
      const rows = await app.database.db
        .selectFrom("projects as p")
        .innerJoin("team_members as m", (join) => join.onRef("m.team_id", "=", "p.owner_team_id"))
        .select("p.id")
        .where("m.tenancy_id", "=", auth.tenancy.id)
        .where("m.user_id", "=", user.id)
        .orderBy("p.created_at")
        .execute();
      const views = await Promise.all(rows.map((row) => adminViewIfAny(app, row.id, "main")));
      // One deleted since the rows were read is left out, as a list read after the delete would.
      return json({ items: views.filter((view) => view !== null), is_paginated: false });
    },
  }),
  defineRoute({
    method: "POST",
    path: "/internal/projects",
    summary: "Create a project owned by one of the user's dashboard teams",
    tags,
    hidden: true,
    access: ["client", "server", "admin"],
    successStatus: 201,
    schemas: { body: projectCreateBody, response: adminProjectView },
    handler: async ({ auth, body, app }) => {
      const user = internalUser(auth);
      const { owner_team_id: ownerTeamId, display_name: displayName, ...update } = body;
      if (!(await isTeamMember(app.database.db, auth.tenancy.id, ownerTeamId, user.id)))
        throw new KnownError("TEAM_MEMBERSHIP_NOT_FOUND", ownerTeamId, user.id);
      const projectId = await insertProject(app.database.db, { displayName, ownerTeamId });
      await applyProjectUpdate(app, projectId, "main", update);
      return json(await freshAdminView(app, projectId, "main"), 201);
    },
  }),
  defineRoute({
    method: "GET",
    path: "/projects/current",
    summary: "The current project, as any client may see it",
    tags,
    access: ["client", "server", "admin"],
    schemas: { response: clientProjectView },
    handler: async ({ auth }) => json(renderClientView(auth.project, auth.tenancy.config)),
  }),
  defineRoute({
    method: "GET",
    path: "/internal/projects/current",
    summary: "The current project with its settings",
    tags,
    hidden: true,
    access: ["admin"],
    schemas: { response: adminProjectView },
    handler: async ({ auth }) => json(renderAdminView(auth.project, auth.tenancy.config)),
  }),
  defineRoute({
    method: "PATCH",
    path: "/internal/projects/current",
    summary: "Update the current project",
    tags,
    hidden: true,
    access: ["admin"],
    schemas: { body: projectUpdateBody, response: adminProjectView },
    handler: async ({ auth, body, app }) => {
      await applyProjectUpdate(app, auth.project.id, auth.tenancy.branchId, body);
      return json(await freshAdminView(app, auth.project.id, auth.tenancy.branchId));
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/internal/projects/current",
    summary: "Delete the current project and all its data",
    tags,
    hidden: true,
    access: ["admin"],
    schemas: {},
    handler: async ({ auth, app }) => {
      if (auth.project.id === "internal")
        throw new StatusError(400, "The internal project cannot be deleted.");
      const deleted = await app.database.db
        .deleteFrom("projects")
        .where("id", "=", auth.project.id)
        .executeTakeFirst();
      app.projects.invalidate(auth.project.id);
      // A concurrent delete got there first: answered as the project's keys are from now on.
      if (deleted.numDeletedRows === 0n) throw new KnownError("CURRENT_PROJECT_NOT_FOUND", auth.project.id);
      return success();
    },
  }),
];
