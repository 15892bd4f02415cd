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
    message:
      "Publishable client keys are required for this project. Create one in Project Keys, or disable this requirement there to allow keyless client access.",
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
      message:
        `Access token has expired. Please refresh it and try again.${expiredAt ? ` (The access token expired at ${expiredAt.toISOString()}.)` : ""}` +
        `${projectId ? ` Project ID: ${projectId}.` : ""}${userId ? ` User ID: ${userId}.` : ""}${refreshTokenId ? ` Refresh token ID: ${refreshTokenId}.` : ""}` +
        "\n\nDebug info: Most likely, you fetched the access token before it expired (for example, in a server component, pre-rendered page, or on page load), but then didn't refresh it before it expired. If this is the case, and you're using the SDK, make sure you call getAccessToken() every time you need to use the access token. If you're not using the SDK, make sure you refresh the access token with the refresh endpoint.",
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
  ANONYMOUS_AUTHENTICATION_NOT_ALLOWED: define(() => ({
    status: 401,
    message:
      "X-Stack-Access-Token is for an anonymous user, but anonymous users are not enabled. Set the X-Stack-Allow-Anonymous-User header of this request to 'true' to allow anonymous users.",
  })),
  RESTRICTED_USER_NOT_ALLOWED: define((reason: { type: string }) => ({
    status: 403,
    message: `The user in the access token is in restricted state. Reason: ${reason.type}. Please pass the X-Stack-Allow-Restricted-User header if this is intended.`,
    details: { restricted_reason: reason },
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
  USER_NOT_FOUND: define(() => ({ status: 404, message: "User not found." })),
  USER_ID_DOES_NOT_EXIST: define((userId: string) => ({
    status: 400,
    message: `The given user with the ID ${userId} does not exist.`,
    details: { user_id: userId },
  })),
  USER_EMAIL_ALREADY_EXISTS: define((email: string, wouldWorkIfEmailWasVerified = false) => ({
    status: 409,
    message: `A user with email ${JSON.stringify(email)} already exists.`,
    details: { email, would_work_if_email_was_verified: wouldWorkIfEmailWasVerified },
  })),
  CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE: define(
    (type: string, value: string, wouldWorkIfEmailWasVerified = false) => ({
      status: 409,
      message: `This ${type} (${value}) is already used for authentication by another account.`,
      details: {
        type,
        contact_channel_value: value,
        would_work_if_email_was_verified: wouldWorkIfEmailWasVerified,
      },
    }),
  ),
  EMAIL_PASSWORD_MISMATCH: define(() => ({ status: 400, message: "Wrong e-mail or password." })),
  PASSWORD_AUTHENTICATION_NOT_ENABLED: define(() => ({
    status: 400,
    message: "Password authentication is not enabled for this project.",
  })),
  SIGN_UP_NOT_ENABLED: define(() => ({
    status: 400,
    message:
      "Creation of new accounts is not enabled for this project. Please ask the project owner to enable it.",
  })),
  SIGN_UP_REJECTED: define((message = "Your sign up was rejected by an administrator's sign-up rule.") => ({
    status: 403,
    message,
    details: { message },
  })),
  BOT_CHALLENGE_REQUIRED: define(() => ({
    status: 409,
    message: "This request needs a visible bot challenge: show it to the user and send its token again.",
  })),
  BOT_CHALLENGE_FAILED: define((message = "The bot challenge could not be verified.") => ({
    status: 400,
    message,
    details: { message },
  })),
  PASSWORD_TOO_SHORT: define((minLength: number) => ({
    status: 400,
    message: `Password too short. Minimum length is ${minLength}.`,
    details: { min_length: minLength },
  })),
  PASSWORD_TOO_LONG: define((maxLength: number) => ({
    status: 400,
    message: `Password too long. Maximum length is ${maxLength}.`,
    // camelCase on purpose: the official SDK reads this exact key.
    details: { maxLength },
  })),
  PASSWORD_CONFIRMATION_MISMATCH: define(() => ({ status: 400, message: "Passwords do not match." })),
  USER_DOES_NOT_HAVE_PASSWORD: define(() => ({
    status: 400,
    message: "This user does not have password authentication enabled.",
  })),
  REDIRECT_URL_NOT_WHITELISTED: define(() => ({
    status: 400,
    message:
      "Redirect URL not whitelisted. Did you forget to add this domain to the trusted domains list on the Stack Auth dashboard?",
  })),
  REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED: define(() => ({
    status: 401,
    message: "Refresh token not found for this project, or the session has expired/been revoked.",
  })),
  CANNOT_DELETE_CURRENT_SESSION: define(() => ({
    status: 400,
    message: "Cannot delete the current session. Use the sign-out endpoint instead.",
  })),
  MULTI_FACTOR_AUTHENTICATION_REQUIRED: define((attemptCode: string) => ({
    status: 400,
    message: "Multi-factor authentication is required for this user.",
    details: { attempt_code: attemptCode },
  })),
  INVALID_TOTP_CODE: define(() => ({ status: 400, message: "The TOTP code is invalid. Please try again." })),
  OAUTH_PROVIDER_ACCOUNT_ID_ALREADY_USED_FOR_SIGN_IN: define(() => ({
    status: 400,
    message: "A provider with the same account ID is already used for signing in.",
  })),
  INVALID_OAUTH_CLIENT_ID_OR_SECRET: define((clientId?: string) => ({
    status: 400,
    message:
      "The OAuth client ID or secret is invalid. The client ID must be equal to the project ID (potentially with a hash and a branch ID), and the client secret must be a publishable client key.",
    details: { client_id: clientId ?? null },
  })),
  VERIFICATION_CODE_NOT_FOUND: define(() => ({
    status: 404,
    message: "The verification code does not exist for this project.",
  })),
  VERIFICATION_CODE_EXPIRED: define(() => ({ status: 400, message: "The verification code has expired." })),
  VERIFICATION_CODE_ALREADY_USED: define(() => ({
    status: 409,
    message: "The verification link has already been used.",
  })),
  VERIFICATION_CODE_MAX_ATTEMPTS_REACHED: define(() => ({
    status: 400,
    message:
      "The verification code nonce has reached the maximum number of attempts. This code is not valid anymore.",
  })),
  EMAIL_ALREADY_VERIFIED: define(() => ({ status: 409, message: "The e-mail is already verified." })),
  EMAIL_IS_NOT_PRIMARY_EMAIL: define((email: string, primaryEmail: string | null) => ({
    status: 400,
    message: `The given e-mail (${email}) must equal the user's primary e-mail (${primaryEmail}).`,
    details: { email, primary_email: primaryEmail },
  })),
  TEAM_NOT_FOUND: define((teamId: string) => ({
    status: 404,
    message: `Team ${teamId} not found.`,
    details: { team_id: teamId },
  })),
  TEAM_MEMBERSHIP_NOT_FOUND: define((teamId: string, userId: string) => ({
    status: 404,
    message: `User ${userId} is not found in team ${teamId}.`,
    details: { team_id: teamId, user_id: userId },
  })),
  TEAM_MEMBERSHIP_ALREADY_EXISTS: define(() => ({ status: 409, message: "Team membership already exists." })),
  TEAM_PERMISSION_REQUIRED: define((teamId: string, userId: string, permissionId: string) => ({
    status: 401,
    message: `User ${userId} does not have permission ${permissionId} in team ${teamId}.`,
    details: { team_id: teamId, user_id: userId, permission_id: permissionId },
  })),
  TEAM_PERMISSION_NOT_FOUND: define((teamId: string, userId: string, permissionId: string) => ({
    status: 401,
    message: `User ${userId} does not have permission ${permissionId} in team ${teamId}.`,
    details: { team_id: teamId, user_id: userId, permission_id: permissionId },
  })),
  WRONG_PERMISSION_SCOPE: define(
    (permissionId: string, expectedScope: "team" | "project", actualScope: "team" | "project" | null) => ({
      status: 404,
      message: `Permission ${JSON.stringify(permissionId)} not found. (It was found for a different scope ${JSON.stringify(actualScope)}, but scope ${JSON.stringify(expectedScope)} was expected.)`,
      details: { permission_id: permissionId, expected_scope: expectedScope, actual_scope: actualScope },
    }),
  ),
  PERMISSION_NOT_FOUND: define((permissionId: string) => ({
    status: 404,
    message: `Permission "${permissionId}" not found. Make sure you created it on the dashboard.`,
    details: { permission_id: permissionId },
  })),
  API_KEY_EXPIRED: define(() => ({ status: 401, message: "API key has expired." })),
  API_KEY_REVOKED: define(() => ({ status: 401, message: "API key has been revoked." })),
  WRONG_API_KEY_TYPE: define((expectedType: string, actualType: string) => ({
    status: 400,
    message: `This endpoint is for ${expectedType} API keys, but a ${actualType} API key was provided.`,
    details: { expected_type: expectedType, actual_type: actualType },
  })),
  USER_AUTHENTICATION_REQUIRED: define(() => ({
    status: 401,
    message: "User authentication required for this endpoint.",
  })),
  CANNOT_GET_OWN_USER_WITHOUT_USER: define(() => ({
    status: 400,
    message: "You have specified 'me' as a userId, but did not provide authentication for a user.",
  })),
  ITEM_NOT_FOUND: define((itemId: string) => ({
    status: 404,
    message: `Item with ID "${itemId}" not found.`,
    details: { item_id: itemId },
  })),
  ANALYTICS_NOT_ENABLED: define(() => ({
    status: 400,
    message: "Analytics is not enabled for this project.",
  })),
  ANALYTICS_QUERY_ERROR: define((error: string) => ({ status: 400, message: error, details: { error } })),
} satisfies Record<string, Definition<never[]>>;

export type KnownErrorCode = keyof typeof knownErrors;
export type KnownErrorArgs<C extends KnownErrorCode> = Parameters<(typeof knownErrors)[C]>;
