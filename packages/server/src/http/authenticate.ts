import type { IncomingHttpHeaders } from "node:http";
import type { AppContext } from "../app-context.ts";
import { KnownError, StatusError } from "../errors/index.ts";
import type { AccessTokenClaims } from "../features/auth/tokens.ts";
import {
  type KeyKind,
  type ProjectSnapshot,
  type TenancySnapshot,
  verifyProjectKey,
} from "../features/projects/index.ts";
import { isTeamMember } from "../features/teams/service.ts";
import { selectUser, type UserRecord, userExists } from "../features/users/records.ts";
import { stackHeader } from "./headers.ts";

/** What the SDK sends as its publishable client key when a project requires none. */
export const PUBLIC_CLIENT_SENTINEL = "__stack_public_client__";

export const accessTypes = ["client", "server", "admin"] as const;
export type AccessType = (typeof accessTypes)[number];

/** Who is calling, resolved from the `x-stack-*` headers. */
export interface RequestAuth {
  type: AccessType;
  project: ProjectSnapshot;
  tenancy: TenancySnapshot;
  /** The signed-in user (from `x-stack-access-token`); null without a token or if the user is gone. */
  user: UserRecord | null;
  /** The verified access token's claims, when one was sent. */
  token: AccessTokenClaims | null;
  /** How the credential check passed. */
  credential: "key" | "admin-access-token" | "development-override" | "none";
}

const keyHeaderFor: Record<AccessType, { header: string; kind: KeyKind }> = {
  client: { header: "publishable-client-key", kind: "publishable_client_key" },
  server: { header: "secret-server-key", kind: "secret_server_key" },
  admin: { header: "super-secret-admin-key", kind: "super_secret_admin_key" },
};

/**
 * Stack Auth's request authentication, in its order — the order decides which error a client sees when
 * several things are wrong at once (spec core-api §1.2). Warm requests cost no database round trip:
 * projects, key digests and rendered config come from the in-memory project cache.
 */
export async function authenticate(
  app: AppContext,
  headers: IncomingHttpHeaders,
): Promise<RequestAuth | null> {
  const accessType = stackHeader(headers, "access-type");
  const adminAccessToken = stackHeader(headers, "admin-access-token");
  const presentedKeys = {
    client: stackHeader(headers, "publishable-client-key"),
    server: stackHeader(headers, "secret-server-key"),
    admin: stackHeader(headers, "super-secret-admin-key"),
  };

  if (!accessType) {
    if (presentedKeys.client || presentedKeys.server || presentedKeys.admin || adminAccessToken) {
      throw new KnownError("PROJECT_KEY_WITHOUT_ACCESS_TYPE");
    }
    return null;
  }
  if (!isAccessType(accessType)) throw new KnownError("INVALID_ACCESS_TYPE", accessType);

  const projectId = stackHeader(headers, "project-id");
  if (!projectId) throw new KnownError("ACCESS_TYPE_WITHOUT_PROJECT_ID", accessType);

  const accessToken = stackHeader(headers, "access-token");
  let token: AccessTokenClaims | null = null;
  if (accessToken !== undefined) {
    token = await app.tokens.verify(accessToken);
    if (token.project_id !== projectId)
      throw new KnownError("INVALID_PROJECT_FOR_ACCESS_TOKEN", projectId, token.project_id);
    const allowAnonymous = stackHeader(headers, "allow-anonymous-user") === "true";
    const allowRestricted = allowAnonymous || stackHeader(headers, "allow-restricted-user") === "true";
    if (token.is_anonymous && !allowAnonymous) throw new KnownError("ANONYMOUS_AUTHENTICATION_NOT_ALLOWED");
    if (token.is_restricted && !token.is_anonymous && !allowRestricted) {
      throw new KnownError(
        "RESTRICTED_USER_NOT_ALLOWED",
        token.restricted_reason ?? { type: "restricted_by_administrator" },
      );
    }
  }

  const project = await app.projects.get(projectId);
  if (!project) throw new KnownError("CURRENT_PROJECT_NOT_FOUND", projectId);

  const branchId = stackHeader(headers, "branch-id") ?? "main";
  const tenancy = project.branches.get(branchId);
  const credential = await checkCredential(
    app,
    project,
    tenancy,
    accessType,
    presentedKeys[accessType],
    headers,
  );
  // Only once the caller has proved it may use the project, so branches cannot be probed without keys.
  if (!tenancy) throw new KnownError("BRANCH_DOES_NOT_EXIST", branchId);

  // One query for the signed-in user with everything its API object shows; nothing else reads it again.
  const user =
    token && token.branch_id === branchId ? await selectUser(app.database.db, tenancy.id, token.sub) : null;
  return { type: accessType, project, tenancy, user, token, credential };
}

async function checkCredential(
  app: AppContext,
  project: ProjectSnapshot,
  tenancy: TenancySnapshot | undefined,
  accessType: AccessType,
  presentedKey: string | undefined,
  headers: IncomingHttpHeaders,
): Promise<RequestAuth["credential"]> {
  const overrideKey = stackHeader(headers, "development-override-key");
  if (overrideKey !== undefined) {
    if (app.env.nodeEnv === "production") {
      throw new StatusError(
        401,
        "Development key override is only allowed in development or test environments",
      );
    }
    const internal = await app.projects.get("internal");
    if (!internal || !verifyProjectKey(internal, "super_secret_admin_key", overrideKey)) {
      throw new StatusError(401, "Invalid development key override");
    }
    return "development-override";
  }

  const adminAccessToken = stackHeader(headers, "admin-access-token");
  if (adminAccessToken !== undefined) {
    await checkAdminAccessToken(app, project, adminAccessToken);
    return "admin-access-token";
  }

  const { kind } = keyHeaderFor[accessType];
  // The SDK's stand-in for "no publishable key", which it also sends as this header.
  if (presentedKey === undefined || (accessType === "client" && presentedKey === PUBLIC_CLIENT_SENTINEL)) {
    if (accessType === "client") {
      // A branch that does not exist asks for a key too: without one, it is not worth saying it is missing.
      const required = tenancy ? tenancy.config.project.requirePublishableClientKey : true;
      if (required) throw new KnownError("PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT", project.id);
      return "none";
    }
    throw new KnownError(
      accessType === "server" ? "SERVER_AUTHENTICATION_REQUIRED" : "ADMIN_AUTHENTICATION_REQUIRED",
    );
  }
  if (!verifyProjectKey(project, kind, presentedKey)) {
    throw new KnownError(
      accessType === "client"
        ? "INVALID_PUBLISHABLE_CLIENT_KEY"
        : accessType === "server"
          ? "INVALID_SECRET_SERVER_KEY"
          : "INVALID_SUPER_SECRET_ADMIN_KEY",
      project.id,
    );
  }
  return "key";
}

/**
 * A dashboard user's token: issued by the internal project to a member of the team that owns the
 * target project. It replaces key checks for every access type.
 */
async function checkAdminAccessToken(
  app: AppContext,
  project: ProjectSnapshot,
  token: string,
): Promise<void> {
  const claims = await app.tokens.verify(token, "admin");
  // An anonymous or restricted user's token is no admin token at all; another project's is one for the
  // wrong project.
  if (claims.is_anonymous || claims.is_restricted) throw new KnownError("UNPARSABLE_ADMIN_ACCESS_TOKEN");
  if (claims.project_id !== "internal") throw new KnownError("ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN");
  const internal = await app.projects.get("internal");
  const internalTenancy = internal?.branches.get("main");
  const ownerTeamId = project.row.owner_team_id;
  if (!internalTenancy || !ownerTeamId) throw new KnownError("ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN");
  if (!(await isTeamMember(app.database.db, internalTenancy.id, ownerTeamId, claims.sub))) {
    // A token that outlived its user: told apart, as upstream does, so the dashboard signs in again.
    if (!(await userExists(app.database.db, internalTenancy.id, claims.sub))) {
      throw new StatusError(
        401,
        "The user associated with the admin access token is no longer valid. Please refresh the admin access token and try again.",
      );
    }
    throw new KnownError("ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN");
  }
}

function isAccessType(value: string): value is AccessType {
  return (accessTypes as readonly string[]).includes(value);
}
