import { StatusError } from "../../errors/index.ts";
import { defineRoute, json, success } from "../../http/route.ts";
import { changeOverride, patchWith } from "../config/index.ts";
import { adminProjectView, clientProjectView, projectUpdateBody } from "./schemas.ts";
import {
  legacyConfigToOverride,
  adminProjectView as renderAdminView,
  clientProjectView as renderClientView,
} from "./views.ts";

const tags = ["Projects"];

export const projectRoutes = [
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
      const { config, description, ...fields } = body;
      const columns = {
        ...fields,
        ...(description !== undefined ? { description: description ?? "" } : {}),
      };
      if (Object.keys(columns).length > 0) {
        await app.database.db
          .updateTable("projects")
          .set({ ...columns, updated_at: new Date() })
          .where("id", "=", auth.project.id)
          .execute();
      }
      if (config) {
        await changeOverride(
          app.database,
          "environment",
          { projectId: auth.project.id, branchId: auth.tenancy.branchId },
          patchWith(legacyConfigToOverride(config)),
        );
      }
      app.projects.invalidate(auth.project.id);
      const fresh = await app.projects.get(auth.project.id);
      const tenancy = fresh?.branches.get(auth.tenancy.branchId);
      if (!fresh || !tenancy)
        throw new StatusError(404, "The project was deleted while it was being updated.");
      return json(renderAdminView(fresh, tenancy.config));
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
      await app.database.db.deleteFrom("projects").where("id", "=", auth.project.id).execute();
      app.projects.invalidate(auth.project.id);
      return success();
    },
  }),
];
