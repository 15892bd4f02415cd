import type { ConfigLevel } from "@latchkey/contracts";
import Type from "typebox";
import type { AppContext } from "../../app-context.ts";
import { StatusError } from "../../errors/index.ts";
import type { RequestAuth } from "../../http/authenticate.ts";
import { defineRoute, json, success } from "../../http/route.ts";
import { enqueueTenancySync } from "../db-sync/queue.ts";
import { redactConfigSecrets } from "../db-sync/redact.ts";
import {
  type BranchSource,
  changeOverride,
  parseOverride,
  patchWith,
  removeKeys,
  replaceWith,
  setBranchSource,
} from "./overrides.ts";

const tags = ["Config"];
const levelParams = Type.Object(
  { level: Type.Union([Type.Literal("project"), Type.Literal("branch"), Type.Literal("environment")]) },
  { additionalProperties: false },
);
const resettableLevelParams = Type.Object(
  { level: Type.Union([Type.Literal("branch"), Type.Literal("environment")]) },
  { additionalProperties: false },
);
const sourceSchema = Type.Union([
  Type.Object(
    {
      type: Type.Literal("pushed-from-github"),
      owner: Type.String(),
      repo: Type.String(),
      branch: Type.String(),
      commit_hash: Type.String(),
      config_file_path: Type.String(),
    },
    { additionalProperties: false },
  ),
  Type.Object({ type: Type.Literal("pushed-from-unknown") }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal("unlinked") }, { additionalProperties: false }),
]);
/**
 * After an override changed: every process drops its cached config (the trigger tells the others), and
 * external databases are synced at once — a newly added one is filled without waiting for a change.
 */
async function configChanged(app: AppContext, auth: RequestAuth): Promise<void> {
  app.projects.invalidate(auth.project.id);
  await enqueueTenancySync(app, app.database.db, auth.tenancy.id);
}

const configString = Type.Object({ config_string: Type.String() });

/** Server keys may manage the pushable branch config only; everything else needs admin access. */
function assertMayManage(auth: RequestAuth, level: ConfigLevel): void {
  if (auth.type === "server" && level !== "branch") {
    throw new StatusError(403, "Server access can only manage branch config overrides.");
  }
}

const target = (auth: RequestAuth) => ({ projectId: auth.project.id, branchId: auth.tenancy.branchId });

function storedOverride(auth: RequestAuth, level: ConfigLevel) {
  if (level === "project") return auth.project.projectOverride;
  return level === "branch" ? auth.tenancy.branchOverride : auth.tenancy.environmentOverride;
}

export const configRoutes = [
  defineRoute({
    method: "GET",
    path: "/internal/config",
    summary: "The branch's complete rendered config",
    tags,
    hidden: true,
    access: ["admin"],
    schemas: { response: configString },
    handler: async ({ auth }) =>
      json({ config_string: JSON.stringify(redactConfigSecrets(auth.tenancy.config)) }),
  }),
  defineRoute({
    method: "GET",
    path: "/internal/config/override/:level",
    summary: "The stored override of one config level",
    tags,
    hidden: true,
    access: ["server", "admin"],
    schemas: { params: levelParams, response: configString },
    handler: async ({ auth, params }) => {
      assertMayManage(auth, params.level);
      return json({ config_string: JSON.stringify(redactConfigSecrets(storedOverride(auth, params.level))) });
    },
  }),
  defineRoute({
    method: "PATCH",
    path: "/internal/config/override/:level",
    summary: "Merge keys into one config level's override",
    tags,
    hidden: true,
    access: ["server", "admin"],
    schemas: {
      params: levelParams,
      body: Type.Object({ config_override_string: Type.String() }, { additionalProperties: false }),
    },
    handler: async ({ auth, params, body, app }) => {
      assertMayManage(auth, params.level);
      const patch = parseOverride(params.level, body.config_override_string);
      await changeOverride(app.database, params.level, target(auth), patchWith(patch));
      await configChanged(app, auth);
      return success();
    },
  }),
  defineRoute({
    method: "PUT",
    path: "/internal/config/override/:level",
    summary: "Replace one config level's override",
    tags,
    hidden: true,
    access: ["server", "admin"],
    schemas: {
      params: levelParams,
      body: Type.Object(
        { config_string: Type.String(), source: Type.Optional(sourceSchema) },
        { additionalProperties: false },
      ),
    },
    handler: async ({ auth, params, body, app }) => {
      assertMayManage(auth, params.level);
      if (params.level === "branch" && !body.source) {
        throw new StatusError(400, "source is required for branch level config");
      }
      const replacement = parseOverride(params.level, body.config_string);
      await changeOverride(
        app.database,
        params.level,
        target(auth),
        replaceWith(replacement),
        params.level === "branch" ? (body.source as BranchSource) : undefined,
      );
      await configChanged(app, auth);
      return success();
    },
  }),
  defineRoute({
    method: "POST",
    path: "/internal/config/override/:level/reset-keys",
    summary: "Remove keys (and everything below them) from an override",
    tags,
    hidden: true,
    access: ["admin"],
    schemas: {
      params: resettableLevelParams,
      body: Type.Object({ keys: Type.Array(Type.String()) }, { additionalProperties: false }),
    },
    handler: async ({ auth, params, body, app }) => {
      await changeOverride(app.database, params.level, target(auth), removeKeys(body.keys));
      await configChanged(app, auth);
      return success();
    },
  }),
  defineRoute({
    method: "GET",
    path: "/internal/config/source",
    summary: "Where the branch config was pushed from",
    tags,
    hidden: true,
    access: ["admin"],
    schemas: { response: Type.Object({ source: sourceSchema }) },
    handler: async ({ auth }) => json({ source: auth.tenancy.branchSource ?? { type: "unlinked" } }),
  }),
  defineRoute({
    method: "DELETE",
    path: "/internal/config/source",
    summary: "Unlink the branch config from its source",
    tags,
    hidden: true,
    access: ["admin"],
    schemas: {},
    handler: async ({ auth, app }) => {
      await setBranchSource(app.database, target(auth), { type: "unlinked" });
      await configChanged(app, auth);
      return success();
    },
  }),
];
