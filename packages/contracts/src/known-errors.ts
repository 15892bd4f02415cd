/**
 * The known errors of the Stack Auth wire contract that Latchkey emits. A known error is sent as
 * `{code, error, details?}` with an `x-stack-known-error: <code>` header; the official SDK parses it
 * by `code` and rebuilds it from `details`, so the details keys here are part of the contract.
 *
 * Each entry maps the error's arguments to its status, human message and details.
 */
export interface KnownErrorShape {
  status: number;
  message: string;
  details?: Record<string, unknown>;
}

type Definition<Args extends unknown[]> = (...args: Args) => KnownErrorShape;

const define = <Args extends unknown[]>(definition: Definition<Args>) => definition;

type AccessType = "client" | "server" | "admin";

export const knownErrors = {
  SCHEMA_ERROR: define((message: string) => ({ status: 400, message, details: { message } })),
  BODY_PARSING_ERROR: define((message: string) => ({ status: 400, message })),
  PROJECT_KEY_WITHOUT_ACCESS_TYPE: define(() => ({
    status: 400,
    message:
      "Either an API key or an admin access token was provided, but the x-stack-access-type header is missing. Set it to 'client', 'server', or 'admin' as appropriate.",
  })),
  INVALID_ACCESS_TYPE: define((accessType: string) => ({
    status: 400,
    message: `The x-stack-access-type header must be 'client', 'server', or 'admin', but was '${accessType}'.`,
  })),
  ACCESS_TYPE_WITHOUT_PROJECT_ID: define((accessType: AccessType) => ({
    status: 400,
    message: `The x-stack-access-type header was '${accessType}', but the x-stack-project-id header was not provided.\n\nFor more information, see the docs on REST API authentication: https://docs.stack-auth.com/rest-api/overview#authentication`,
    details: { request_type: accessType },
  })),
  ACCESS_TYPE_REQUIRED: define(() => ({
    status: 400,
    message:
      "You must specify an access level for this Stack project. Make sure project API keys are provided (eg. x-stack-publishable-client-key) and you set the x-stack-access-type header to 'client', 'server', or 'admin'.\n\nFor more information, see the docs on REST API authentication: https://docs.stack-auth.com/rest-api/overview#authentication",
  })),
  INSUFFICIENT_ACCESS_TYPE: define((actual: AccessType, allowed: AccessType[]) => ({
    status: 401,
    message: `The x-stack-access-type header must be ${allowed.map((t) => `'${t}'`).join(" or ")}, but was '${actual}'.`,
    details: { actual_access_type: actual, allowed_access_types: allowed },
  })),
  INVALID_PUBLISHABLE_CLIENT_KEY: define((projectId: string) => ({
    status: 401,
    message: `The publishable key is not valid for the project ${JSON.stringify(projectId)}. Does the project and/or the key exist?`,
    details: { project_id: projectId },
  })),
  INVALID_SECRET_SERVER_KEY: define((projectId: string) => ({
    status: 401,
    message: `The secret server key is not valid for the project ${JSON.stringify(projectId)}. Does the project and/or the key exist?`,
    details: { project_id: projectId },
  })),
  INVALID_SUPER_SECRET_ADMIN_KEY: define((projectId: string) => ({
    status: 401,
    message: `The super secret admin key is not valid for the project ${JSON.stringify(projectId)}. Does the project and/or the key exist?`,
    details: { project_id: projectId },
  })),
  PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT: define((projectId: string) => ({
    status: 401,
    message: `The project ${JSON.stringify(projectId)} requires a publishable client key, but none was provided.`,
    details: { project_id: projectId },
  })),
  SERVER_AUTHENTICATION_REQUIRED: define(() => ({
    status: 401,
    message: "The secret server key must be provided.",
  })),
  ADMIN_AUTHENTICATION_REQUIRED: define(() => ({
    status: 401,
    message: "The super secret admin key must be provided.",
  })),
  UNPARSABLE_ADMIN_ACCESS_TOKEN: define(() => ({
    status: 401,
    message: "Admin access token is not parsable.",
  })),
  ADMIN_ACCESS_TOKEN_EXPIRED: define((expiredAt: Date | null) => ({
    status: 401,
    message: `Admin access token has expired. Please refresh it and try again.${expiredAt ? ` (The access token expired at ${expiredAt.toISOString()}.)` : ""}`,
    details: { expired_at_millis: expiredAt?.getTime() ?? null },
  })),
  ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN: define(() => ({
    status: 401,
    message: "Admin access token does not have the required permissions to access this project.",
  })),
  EXPECTED_INTERNAL_PROJECT: define(() => ({
    status: 401,
    message: "The project ID is expected to be internal.",
  })),
  UNPARSABLE_ACCESS_TOKEN: define(() => ({
    status: 401,
    message: "Access token is not parsable.",
  })),
  ACCESS_TOKEN_EXPIRED: define(
    (
      expiredAt: Date | null,
      projectId: string | null = null,
      userId: string | null = null,
      refreshTokenId: string | null = null,
    ) => ({
      status: 401,
      message: `Access token has expired. Please refresh it and try again.${expiredAt ? ` (The access token expired at ${expiredAt.toISOString()}.)` : ""}`,
      details: {
        expired_at_millis: expiredAt?.getTime() ?? null,
        project_id: projectId,
        user_id: userId,
        refresh_token_id: refreshTokenId,
      },
    }),
  ),
  INVALID_PROJECT_FOR_ACCESS_TOKEN: define((expectedProjectId: string, actualProjectId: string) => ({
    status: 401,
    message: `Access token not valid for this project. Expected project ID ${JSON.stringify(expectedProjectId)}, but the token is for project ID ${JSON.stringify(actualProjectId)}.`,
    details: { expected_project_id: expectedProjectId, actual_project_id: actualProjectId },
  })),
  CURRENT_PROJECT_NOT_FOUND: define((projectId: string) => ({
    status: 400,
    message: `The current project with ID ${projectId} was not found. Please check the value of the x-stack-project-id header.`,
    details: { project_id: projectId },
  })),
  PROJECT_NOT_FOUND: define((projectId: string) => ({
    status: 404,
    message: `Project ${projectId} not found or is not accessible with the current user.`,
    details: { project_id: projectId },
  })),
  BRANCH_DOES_NOT_EXIST: define((branchId: string) => ({
    status: 400,
    message: `The branch with ID ${branchId} does not exist.`,
    details: { branch_id: branchId },
  })),
  API_KEY_NOT_FOUND: define(() => ({ status: 404, message: "API key not found." })),
  USER_AUTHENTICATION_REQUIRED: define(() => ({
    status: 401,
    message: "User authentication required for this endpoint.",
  })),
  CANNOT_GET_OWN_USER_WITHOUT_USER: define(() => ({
    status: 400,
    message: "You have specified 'me' as a userId, but did not provide authentication for a user.",
  })),
} satisfies Record<string, Definition<never[]>>;

export type KnownErrorCode = keyof typeof knownErrors;
export type KnownErrorArgs<C extends KnownErrorCode> = Parameters<(typeof knownErrors)[C]>;
