import Type from "typebox";
import type { AppContext } from "../../app-context.ts";
import { KnownError, StatusError } from "../../errors/index.ts";
import type { RequestAuth } from "../../http/authenticate.ts";
import {
  clientOwnUser,
  rejectServerOnlyFields,
  requireUserSchema,
  resolveUserId,
  userIdOrMe,
} from "../../http/requirements.ts";
import { defineRoute, json, success } from "../../http/route.ts";
import { isTrustedUrl } from "../auth/trusted-urls.ts";
import { type Db, lockUser, userExists } from "../users/records.ts";
import { emailAddress } from "../users/schemas.ts";
import { insertChannel, normalizeEmail, rethrowEmailConflict } from "../users/service.ts";
import { checkCode } from "../verification-codes/codes.ts";
import { checkCodeRoute } from "../verification-codes/routes.ts";
import { sendContactVerification } from "./verification.ts";

const anyAccess = ["client", "server", "admin"] as const;
const tags = ["Contact channels"];
const channelParams = Type.Object(
  { user_id: userIdOrMe, contact_channel_id: Type.String({ format: "uuid" }) },
  { additionalProperties: false },
);

interface ChannelRow {
  id: string;
  user_id: string;
  type: string;
  value: string;
  is_primary: boolean;
  is_verified: boolean;
  used_for_auth: boolean;
}

const view = (row: ChannelRow) => ({
  id: row.id,
  user_id: row.user_id,
  type: row.type,
  value: row.value,
  is_primary: row.is_primary,
  is_verified: row.is_verified,
  used_for_auth: row.used_for_auth,
});

/** Clients act on their own user only; `me` works for everyone with a user. */
function ownUser(auth: RequestAuth, userId: string, action: "list" | "read" | "manage"): string {
  const resolved = resolveUserId(auth, userId);
  if (auth.type === "client" && resolved !== clientOwnUser(auth).id) {
    throw new StatusError(403, `Client can only ${action} their own contact channels.`);
  }
  return resolved;
}

const channelColumns = [
  "id",
  "user_id",
  "type",
  "value",
  "is_primary",
  "is_verified",
  "used_for_auth",
] as const;

async function findChannel(db: Db, auth: RequestAuth, userId: string, channelId: string) {
  return db
    .selectFrom("contact_channels")
    .select(channelColumns)
    .where("tenancy_id", "=", auth.tenancy.id)
    .where("user_id", "=", userId)
    .where("id", "=", channelId)
    .executeTakeFirst();
}

async function requireChannel(
  db: Db,
  auth: RequestAuth,
  userId: string,
  channelId: string,
  missingStatus: number,
) {
  const channel = await findChannel(db, auth, userId, channelId);
  if (!channel) throw new StatusError(missingStatus, "Contact channel not found");
  return channel;
}

async function assertUserExists(app: AppContext, auth: RequestAuth, userId: string): Promise<void> {
  if (!(await userExists(app.database.db, auth.tenancy.id, userId))) {
    throw new KnownError("USER_ID_DOES_NOT_EXIST", userId);
  }
}

/**
 * A primary channel is demoted before another takes its place (one primary per user). Callers hold
 * the user's lock (`lockUser`): two transactions promoting channels at once would each demote the
 * primary they can see and both promote theirs.
 */
async function demotePrimary(trx: Db, tenancyId: string, userId: string, except?: string) {
  let query = trx
    .updateTable("contact_channels")
    .set({ is_primary: false })
    .where("tenancy_id", "=", tenancyId)
    .where("user_id", "=", userId)
    .where("is_primary", "=", true);
  if (except) query = query.where("id", "<>", except);
  await query.execute();
}

function rethrowChannelConflict(error: unknown, value: string): never {
  const pgError = error as { code?: string; constraint?: string };
  if (pgError.code === "23505" && pgError.constraint === "contact_channels_value_per_user") {
    throw new StatusError(400, "Contact channel already exists");
  }
  if (pgError.code === "23505" && pgError.constraint === "contact_channels_auth_value") {
    throw new KnownError("CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE", "email", value, false);
  }
  throw error;
}

export const contactChannelRoutes = [
  defineRoute({
    method: "GET",
    path: "/contact-channels",
    summary: "List a user's contact channels",
    tags,
    access: anyAccess,
    schemas: {
      query: Type.Object(
        {
          user_id: Type.Optional(userIdOrMe),
          contact_channel_id: Type.Optional(Type.String({ format: "uuid" })),
        },
        { additionalProperties: false },
      ),
    },
    handler: async ({ auth, query, app }) => {
      // Without a user, a server lists every channel of the project; a client only ever its own.
      if (query.user_id === undefined && auth.type === "client")
        throw new StatusError(403, "Client can only list their own contact channels.");
      const userId = query.user_id === undefined ? undefined : ownUser(auth, query.user_id, "list");
      let channels = app.database.db
        .selectFrom("contact_channels")
        .select(channelColumns)
        .where("tenancy_id", "=", auth.tenancy.id);
      if (userId !== undefined) channels = channels.where("user_id", "=", userId);
      if (query.contact_channel_id !== undefined)
        channels = channels.where("id", "=", query.contact_channel_id);
      const rows = await channels.orderBy("created_at").orderBy("id").execute();
      return json({ items: rows.map(view), is_paginated: false });
    },
  }),
  defineRoute({
    method: "POST",
    path: "/contact-channels",
    summary: "Add a contact channel to a user",
    tags,
    access: anyAccess,
    successStatus: 201,
    schemas: {
      body: Type.Object(
        {
          user_id: userIdOrMe,
          type: Type.Literal("email"),
          value: emailAddress,
          used_for_auth: Type.Boolean(),
          is_primary: Type.Optional(Type.Boolean()),
          is_verified: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    },
    handler: async ({ auth, body, app, raw }) => {
      rejectServerOnlyFields(auth, raw, body, ["is_verified"]);
      const userId = ownUser(auth, body.user_id, "manage");
      const value = normalizeEmail(body.value);
      const channel = await app.database.db.transaction().execute(async (trx) => {
        if (!(await lockUser(trx, auth.tenancy.id, userId))) {
          throw new KnownError("USER_ID_DOES_NOT_EXIST", userId);
        }
        if (body.is_primary) await demotePrimary(trx, auth.tenancy.id, userId);
        const existing = await trx
          .selectFrom("contact_channels")
          .select("id")
          .where("tenancy_id", "=", auth.tenancy.id)
          .where("user_id", "=", userId)
          .where("value", "=", value)
          .executeTakeFirst();
        if (existing) throw new StatusError(400, "Contact channel already exists");
        const id = await insertChannel(trx, auth.tenancy.id, userId, {
          value,
          isPrimary: body.is_primary ?? false,
          isVerified: body.is_verified ?? false,
          usedForAuth: body.used_for_auth,
        }).catch((error) => {
          if (error instanceof KnownError && error.code === "USER_EMAIL_ALREADY_EXISTS") {
            throw new KnownError(
              "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE",
              "email",
              value,
              false,
            );
          }
          return rethrowChannelConflict(error, value);
        });
        return (await findChannel(trx, auth, userId, id))!;
      });
      return json(view(channel), 201);
    },
  }),
  defineRoute({
    method: "POST",
    path: "/contact-channels/verify",
    summary: "Verify a contact channel with an e-mailed code",
    tags,
    access: anyAccess,
    schemas: {
      body: Type.Object(
        { code: Type.String({ minLength: 45, maxLength: 45 }) },
        { additionalProperties: false },
      ),
    },
    handler: async ({ auth, body, app }) => {
      await app.database.db.transaction().execute(async (trx) => {
        const data = await checkCode(trx, {
          tenancyId: auth.tenancy.id,
          purpose: "contact_channel_verification",
          code: body.code,
          consume: true,
        });
        await lockUser(trx, auth.tenancy.id, String(data.user_id));
        // The address the code was sent to, on the user it was sent for (as upstream keys it): a channel
        // changed to another address since is not verified by it.
        const verified = await trx
          .updateTable("contact_channels")
          .set({ is_verified: true })
          .where("tenancy_id", "=", auth.tenancy.id)
          .where("user_id", "=", String(data.user_id))
          .where("type", "=", "email")
          .where("value", "=", String(data.value))
          .executeTakeFirst();
        if (verified.numUpdatedRows === 0n)
          throw new StatusError(400, "Contact channel not found. Was your contact channel deleted?");
      });
      return success();
    },
  }),
  checkCodeRoute(
    "/contact-channels/verify/check-code",
    "contact_channel_verification",
    "Check a verification code without using it",
    tags,
  ),
  defineRoute({
    method: "POST",
    path: "/contact-channels/send-verification-code",
    summary: "E-mail a verification link for the primary e-mail (legacy)",
    tags,
    access: anyAccess,
    schemas: {
      body: Type.Object(
        { email: Type.String(), callback_url: Type.String() },
        { additionalProperties: false },
      ),
    },
    handler: async ({ auth, body, app, raw }) => {
      const user = requireUserSchema(auth, raw);
      const primaryChannel = user.channels.find((c) => c.is_primary);
      const primary = primaryChannel?.value ?? null;
      if (normalizeEmail(body.email) !== primary)
        throw new KnownError("EMAIL_IS_NOT_PRIMARY_EMAIL", body.email, primary);
      // Upstream's order: an address already verified is said so whatever the link.
      if (primaryChannel?.is_verified) throw new KnownError("EMAIL_ALREADY_VERIFIED");
      if (!isTrustedUrl(auth.tenancy.config, body.callback_url))
        throw new KnownError("REDIRECT_URL_NOT_WHITELISTED");
      await sendContactVerification(app, auth, user.id, null, body.callback_url);
      return success();
    },
  }),
  defineRoute({
    method: "GET",
    path: "/contact-channels/:user_id/:contact_channel_id",
    summary: "Read a contact channel",
    tags,
    access: anyAccess,
    schemas: { params: channelParams },
    handler: async ({ auth, params, app }) => {
      const userId = ownUser(auth, params.user_id, "read");
      const channel = await requireChannel(app.database.db, auth, userId, params.contact_channel_id, 404);
      return json(view(channel));
    },
  }),
  defineRoute({
    method: "PATCH",
    path: "/contact-channels/:user_id/:contact_channel_id",
    summary: "Update a contact channel",
    tags,
    access: anyAccess,
    schemas: {
      params: channelParams,
      body: Type.Object(
        {
          value: Type.Optional(emailAddress),
          type: Type.Optional(Type.Literal("email")),
          used_for_auth: Type.Optional(Type.Boolean()),
          is_primary: Type.Optional(Type.Boolean()),
          is_verified: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    },
    handler: async ({ auth, params, body, app, raw }) => {
      rejectServerOnlyFields(auth, raw, body, ["is_verified"]);
      const userId = ownUser(auth, params.user_id, "manage");
      const value = body.value !== undefined ? normalizeEmail(body.value) : undefined;
      const updated = await app.database.db.transaction().execute(async (trx) => {
        await lockUser(trx, auth.tenancy.id, userId);
        const channel = await requireChannel(trx, auth, userId, params.contact_channel_id, 400);
        if (body.is_primary) await demotePrimary(trx, auth.tenancy.id, userId, channel.id);
        const valueChanged = value !== undefined && value !== channel.value;
        const changes = {
          ...(value !== undefined ? { value } : {}),
          ...(body.used_for_auth !== undefined ? { used_for_auth: body.used_for_auth } : {}),
          ...(body.is_primary !== undefined ? { is_primary: body.is_primary } : {}),
          // A new address is unverified unless the server says otherwise.
          ...(body.is_verified !== undefined
            ? { is_verified: body.is_verified }
            : valueChanged
              ? { is_verified: false }
              : {}),
        };
        if (Object.keys(changes).length === 0) return channel;
        await trx
          .updateTable("contact_channels")
          .set(changes)
          .where("tenancy_id", "=", auth.tenancy.id)
          .where("user_id", "=", userId)
          .where("id", "=", channel.id)
          .execute()
          .catch((error) => rethrowChannelConflict(error, value ?? channel.value))
          .catch((error) => rethrowEmailConflict(error, value ?? channel.value));
        return (await findChannel(trx, auth, userId, channel.id))!;
      });
      return json(view(updated));
    },
  }),
  defineRoute({
    method: "DELETE",
    path: "/contact-channels/:user_id/:contact_channel_id",
    summary: "Delete a contact channel",
    tags,
    access: anyAccess,
    schemas: { params: channelParams },
    handler: async ({ auth, params, app }) => {
      const userId = ownUser(auth, params.user_id, "manage");
      await app.database.db.transaction().execute(async (trx) => {
        await lockUser(trx, auth.tenancy.id, userId);
        // Upstream answers a missing channel on delete with 400, elsewhere with 404.
        const channel = await requireChannel(trx, auth, userId, params.contact_channel_id, 400);
        await trx
          .deleteFrom("contact_channels")
          .where("tenancy_id", "=", auth.tenancy.id)
          .where("user_id", "=", userId)
          .where("id", "=", channel.id)
          .execute();
      });
      return success();
    },
  }),
  defineRoute({
    method: "POST",
    path: "/contact-channels/:user_id/:contact_channel_id/send-verification-code",
    summary: "E-mail a verification link for a contact channel",
    tags,
    access: anyAccess,
    schemas: {
      params: channelParams,
      body: Type.Object({ callback_url: Type.String() }, { additionalProperties: false }),
    },
    handler: async ({ auth, params, body, app }) => {
      const userId = resolveUserId(auth, params.user_id);
      if (auth.type === "client") {
        if (userId !== clientOwnUser(auth).id)
          throw new StatusError(400, "Can only send verification code for your own user");
      } else {
        await assertUserExists(app, auth, userId);
      }
      // Upstream's order: the channel, whether it needs verifying, then the link.
      const channel = await requireChannel(app.database.db, auth, userId, params.contact_channel_id, 404);
      if (channel.is_verified) throw new KnownError("EMAIL_ALREADY_VERIFIED");
      if (!isTrustedUrl(auth.tenancy.config, body.callback_url))
        throw new KnownError("REDIRECT_URL_NOT_WHITELISTED");
      await sendContactVerification(app, auth, userId, channel.id, body.callback_url);
      return success();
    },
  }),
];
