import type { FastifyRequest } from "fastify";
import Type from "typebox";
import { KnownError } from "../errors/index.ts";
import type { UserRecord } from "../features/users/records.ts";
import type { RequestAuth } from "./authenticate.ts";

/** A `SCHEMA_ERROR` in the same words the schema validator uses. */
export function schemaError(raw: Pick<FastifyRequest, "method" | "url">, violations: string[]): KnownError {
  return new KnownError(
    "SCHEMA_ERROR",
    `Request validation failed on ${raw.method} ${requestPath(raw.url)}:\n${violations.map((v) => `  - ${v}`).join("\n")}`,
  );
}

/**
 * Routes whose schema requires a signed-in user answer a schema error naming `auth.user`, as the
 * contract does for password update/set.
 */
export function requireUserSchema(auth: RequestAuth, raw: FastifyRequest): UserRecord {
  if (!auth.user) throw schemaError(raw, ["auth.user must be defined"]);
  return auth.user;
}

/**
 * Clients may not send server-only body fields: to them those fields do not exist, so they are
 * reported as unknown properties, exactly as a client-only schema would.
 */
export function rejectServerOnlyFields(
  auth: RequestAuth,
  raw: FastifyRequest,
  body: object,
  serverOnly: readonly string[],
): void {
  if (auth.type !== "client") return;
  const sent = serverOnly.filter((field) => (body as Record<string, unknown>)[field] !== undefined);
  if (sent.length > 0) throw schemaError(raw, [`body contains unknown properties: ${sent.join(", ")}`]);
}

/**
 * A client's own user where upstream answers a client without one with CANNOT_GET_OWN_USER_WITHOUT_USER
 * (listing or managing what belongs to a user), rather than USER_AUTHENTICATION_REQUIRED.
 */
export function clientOwnUser(auth: RequestAuth): UserRecord {
  if (!auth.user) throw new KnownError("CANNOT_GET_OWN_USER_WITHOUT_USER");
  return auth.user;
}

/** Resolves a `user_id` that may be `me`. */
export function resolveUserId(auth: RequestAuth, userId: string): string {
  if (userId !== "me") return userId;
  if (!auth.user) throw new KnownError("CANNOT_GET_OWN_USER_WITHOUT_USER");
  return auth.user.id;
}

/** A UUID as PostgreSQL's uuid type reads it (no braces, no `urn:uuid:` prefix). */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids that come from `me` or a free-form path segment are checked before they reach a uuid column. */
export const isUuid = (value: string) => UUID.test(value);

export const USER_ID_OR_ME = "uuid-or-me";

/** A `user_id` in a request: a UUID, or `me` for the signed-in user ({@link resolveUserId}). */
export const userIdOrMe = Type.String({ format: USER_ID_OR_ME });

export const tenancyContext = (auth: RequestAuth) => ({
  tenancyId: auth.tenancy.id,
  config: auth.tenancy.config,
});

/** The path a client asked for, without its query string (what schema errors name). */
export const requestPath = (url: string) => url.split("?")[0]!;
