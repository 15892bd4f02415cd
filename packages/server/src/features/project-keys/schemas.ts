import Type, { type Static } from "typebox";
import { timestampMillis } from "../../http/value-schemas.ts";

const lastFour = Type.Object({ last_four: Type.String() }, { additionalProperties: false });

export const keySetCreateBody = Type.Object(
  {
    description: Type.String(),
    expires_at_millis: timestampMillis(),
    has_publishable_client_key: Type.Boolean(),
    has_secret_server_key: Type.Boolean(),
    has_super_secret_admin_key: Type.Boolean(),
  },
  { additionalProperties: false },
);

export const keySetUpdateBody = Type.Object(
  { description: Type.Optional(Type.String()), revoked: Type.Optional(Type.Literal(true)) },
  { additionalProperties: false },
);

export const keySetParams = Type.Object(
  { api_key_id: Type.String({ format: "uuid" }) },
  { additionalProperties: false },
);

const keySetBase = {
  id: Type.String(),
  description: Type.String(),
  created_at_millis: Type.Number(),
  expires_at_millis: Type.Number(),
  manually_revoked_at_millis: Type.Optional(Type.Number()),
};

/** A key set as listed: each key shown only by its last four characters. */
export const keySetRead = Type.Object({
  ...keySetBase,
  publishable_client_key: Type.Optional(lastFour),
  secret_server_key: Type.Optional(lastFour),
  super_secret_admin_key: Type.Optional(lastFour),
});

/** A key set right after creation: the only time the full keys are returned. */
export const keySetCreated = Type.Object({
  ...keySetBase,
  publishable_client_key: Type.Optional(Type.String()),
  secret_server_key: Type.Optional(Type.String()),
  super_secret_admin_key: Type.Optional(Type.String()),
});

export type KeySetRead = Static<typeof keySetRead>;
export type KeySetCreated = Static<typeof keySetCreated>;
