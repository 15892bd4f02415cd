import type { FastifyRequest } from "fastify";
import { KnownError } from "../errors/index.ts";
import type { UserRecord } from "../features/users/records.ts";
import type { RequestAuth } from "./authenticate.ts";

/**
 * Routes whose schema requires a signed-in user answer a schema error naming `auth.user`, as the
 * contract does for password update/set.
 */
export function requireUserSchema(auth: RequestAuth, raw: FastifyRequest): UserRecord {
  if (!auth.user) {
    throw new KnownError(
      "SCHEMA_ERROR",
      `Request validation failed on ${raw.method} ${raw.url}:\n  - auth.user must be defined`,
    );
  }
  return auth.user;
}

/** Resolves a `user_id` that may be `me`. */
export function resolveUserId(auth: RequestAuth, userId: string): string {
  if (userId !== "me") return userId;
  if (!auth.user) throw new KnownError("CANNOT_GET_OWN_USER_WITHOUT_USER");
  return auth.user.id;
}

export const tenancyContext = (auth: RequestAuth) => ({
  tenancyId: auth.tenancy.id,
  config: auth.tenancy.config,
});
