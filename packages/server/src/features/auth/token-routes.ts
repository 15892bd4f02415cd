import Type from "typebox";
import { KnownError, StatusError } from "../../errors/index.ts";
import { PUBLIC_CLIENT_SENTINEL } from "../../http/authenticate.ts";
import { defineRoute, json } from "../../http/route.ts";
import { verifyProjectKey } from "../projects/index.ts";
import { selectUser } from "../users/records.ts";
import { clientIp, endUserOrigin } from "./end-user.ts";
import { accessTokenFor } from "./issue.ts";
import { useRefreshToken } from "./sessions.ts";
import type { TokenAudience } from "./signing-keys.ts";

const booleanString = Type.Optional(Type.Union([Type.Literal("true"), Type.Literal("false")]));

/** RFC 6749 §5.1: token answers are not to be cached. */
const NO_CACHE = { pragma: "no-cache" };

/**
 * The client's credentials: from the body, or from an HTTP Basic `Authorization` header (RFC 6749
 * §2.3.1, what OAuth libraries send by default) when the body has none.
 */
function clientCredentials(
  body: { client_id?: string; client_secret?: string },
  authorization: string | undefined,
): { clientId?: string; clientSecret?: string } {
  if (body.client_id !== undefined || body.client_secret !== undefined || !authorization) {
    return { clientId: body.client_id, clientSecret: body.client_secret };
  }
  const basic = /^Basic\s+(\S+)$/i.exec(authorization);
  if (!basic) return {};
  const decoded = Buffer.from(basic[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return {};
  const formDecode = (part: string) => decodeURIComponent(part.replace(/\+/g, " "));
  try {
    return {
      clientId: formDecode(decoded.slice(0, colon)),
      clientSecret: formDecode(decoded.slice(colon + 1)),
    };
  } catch {
    return {};
  }
}

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
          grant_type: Type.Union([Type.Literal("authorization_code"), Type.Literal("refresh_token")]),
          refresh_token: Type.Optional(Type.String()),
          // Optional here: they may come as HTTP Basic credentials instead (RFC 6749 §2.3.1).
          client_id: Type.Optional(Type.String()),
          client_secret: Type.Optional(Type.String()),
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
      const { clientId, clientSecret } = clientCredentials(body, raw.headers.authorization);
      // Upstream names no client id in this error, whatever was sent.
      if (clientId === undefined || clientSecret === undefined)
        throw new KnownError("INVALID_OAUTH_CLIENT_ID_OR_SECRET");
      const [projectId, branchId = "main"] = clientId.split("#");
      const project = projectId ? await app.projects.get(projectId) : null;
      const tenancy = project?.branches.get(branchId);
      if (!project || !tenancy) throw new KnownError("INVALID_OAUTH_CLIENT_ID_OR_SECRET");
      if (clientSecret === PUBLIC_CLIENT_SENTINEL) {
        if (tenancy.config.project.requirePublishableClientKey) {
          throw new KnownError("PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT", project.id);
        }
      } else if (!verifyProjectKey(project, "publishable_client_key", clientSecret)) {
        throw new KnownError("INVALID_OAUTH_CLIENT_ID_OR_SECRET");
      }
      // An OAuth 2 error rather than a known error, as upstream's OAuth server words it.
      if (body.refresh_token === undefined)
        return json(
          { error: "invalid_request", error_description: "Missing parameter: `refresh_token`" },
          400,
          NO_CACHE,
        );
      if (!body.refresh_token) throw new KnownError("REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
      const session = await useRefreshToken(app.database.db, tenancy.id, body.refresh_token, clientIp(raw));
      const user = await selectUser(app.database.db, tenancy.id, session.user_id);
      if (!user) throw new KnownError("REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
      return json(
        {
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
          // Upstream's OAuth server adds these to every token answer; a refresh has no redirect.
          afterCallbackRedirectUrl: null,
          after_callback_redirect_url: null,
        },
        200,
        NO_CACHE,
      );
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
