import Type from "typebox";
import { KnownError, StatusError } from "../../errors/index.ts";
import { PUBLIC_CLIENT_SENTINEL } from "../../http/authenticate.ts";
import { defineRoute, json } from "../../http/route.ts";
import { verifyProjectKey } from "../projects/index.ts";
import { selectUser } from "../users/records.ts";
import { endUserOrigin } from "./end-user.ts";
import { accessTokenFor } from "./issue.ts";
import { useRefreshToken } from "./sessions.ts";
import type { TokenAudience } from "./signing-keys.ts";

const booleanString = Type.Optional(Type.Union([Type.Literal("true"), Type.Literal("false")]));

export const tokenRoutes = [
  defineRoute({
    method: "POST",
    path: "/auth/oauth/token",
    summary: "OAuth 2 token endpoint (refresh_token grant), as the SDK refreshes access tokens",
    tags: ["Sessions"],
    access: "public",
    schemas: {
      body: Type.Object(
        {
          grant_type: Type.String(),
          refresh_token: Type.Optional(Type.String()),
          client_id: Type.String(),
          client_secret: Type.String(),
          scope: Type.Optional(Type.String()),
        },
        { additionalProperties: true },
      ),
    },
    handler: async ({ body, app, raw }) => {
      if (body.grant_type !== "refresh_token") {
        throw new StatusError(
          400,
          `Unsupported grant_type ${JSON.stringify(body.grant_type)}: only refresh_token is supported.`,
        );
      }
      const [projectId, branchId = "main"] = body.client_id.split("#");
      const project = projectId ? await app.projects.get(projectId) : null;
      const tenancy = project?.branches.get(branchId);
      if (!project || !tenancy) throw new KnownError("INVALID_OAUTH_CLIENT_ID_OR_SECRET", body.client_id);
      if (body.client_secret === PUBLIC_CLIENT_SENTINEL) {
        if (tenancy.config.project.requirePublishableClientKey) {
          throw new KnownError("PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT", project.id);
        }
      } else if (!verifyProjectKey(project, "publishable_client_key", body.client_secret)) {
        throw new KnownError("INVALID_OAUTH_CLIENT_ID_OR_SECRET", body.client_id);
      }
      if (!body.refresh_token) throw new KnownError("REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
      const session = await useRefreshToken(app.database.db, tenancy.id, body.refresh_token, raw.ip);
      const user = await selectUser(app.database.db, tenancy.id, session.user_id);
      if (!user) throw new KnownError("REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
      return json({
        access_token: await accessTokenFor(
          app,
          { project, tenancy },
          user,
          session.id,
          endUserOrigin(app, raw),
        ),
        token_type: "Bearer",
        expires_in: app.env.accessTokenTtlSeconds,
        refresh_token: body.refresh_token,
        scope: "legacy",
      });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/projects/:project_id/.well-known/jwks.json",
    summary: "The public keys that verify the project's access tokens",
    tags: ["Sessions"],
    access: "public",
    schemas: {
      params: Type.Object({ project_id: Type.String() }, { additionalProperties: false }),
      query: Type.Object(
        { include_restricted: booleanString, include_anonymous: booleanString },
        { additionalProperties: false },
      ),
    },
    handler: async ({ params, query, app }) => {
      const project = await app.projects.get(params.project_id);
      if (!project) throw new StatusError(404, "Project not found.");
      const audiences: TokenAudience[] = ["user"];
      if (query.include_restricted === "true" || query.include_anonymous === "true")
        audiences.push("restricted");
      if (query.include_anonymous === "true") audiences.push("anonymous");
      return json(
        {
          keys: audiences.flatMap((audience) =>
            app.signingKeys.published(project.id, audience).map((key) => key.publicJwk),
          ),
        },
        200,
        { "cache-control": "public, max-age=3600" },
      );
    },
  }),
  ...(["projects-anonymous-users", "projects-restricted-users"] as const).map((prefix) =>
    defineRoute({
      method: "GET",
      // The issuer of restricted (and anonymous) users' tokens: OIDC discovery under it lands on the
      // project's own documents with the wider key set, the query kept.
      path: `/${prefix}/:project_id/.well-known/*`,
      summary: "Redirects to the project's .well-known documents including restricted (and anonymous) keys",
      tags: ["Sessions"],
      hidden: true,
      access: "public",
      schemas: {
        params: Type.Object(
          { project_id: Type.String(), "*": Type.String() },
          { additionalProperties: false },
        ),
        query: Type.Object({}, { additionalProperties: Type.String() }),
      },
      handler: async ({ raw }) => {
        const target = new URL(raw.url, "http://localhost");
        target.pathname = target.pathname.replace(`/${prefix}/`, "/projects/");
        target.searchParams.set(
          prefix === "projects-anonymous-users" ? "include_anonymous" : "include_restricted",
          "true",
        );
        return {
          kind: "text",
          status: 307,
          body: "",
          headers: { location: `${target.pathname}${target.search}` },
        };
      },
    }),
  ),
];
