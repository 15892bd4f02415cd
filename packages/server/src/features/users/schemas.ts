import Type, { type Static } from "typebox";
import { pageLimit } from "../../http/value-schemas.ts";

/** RFC 5321's limit on an address (a path of 256 octets, less the angle brackets). */
export const EMAIL_MAX_LENGTH = 254;
/** An e-mail address as requests carry it. */
export const emailAddress = Type.String({ format: "email", maxLength: EMAIL_MAX_LENGTH });

const json = Type.Unknown();
const nullableString = Type.Union([Type.String(), Type.Null()]);
const riskScore = Type.Integer({ minimum: 0, maximum: 100 });

/** Fields a client may change on its own user. */
const clientUpdateFields = {
  display_name: Type.Optional(Type.Union([Type.String({ maxLength: 256 }), Type.Null()])),
  profile_image_url: Type.Optional(nullableString),
  client_metadata: Type.Optional(json),
  selected_team_id: Type.Optional(Type.Union([Type.String({ format: "uuid" }), Type.Null()])),
  totp_secret_base64: Type.Optional(nullableString),
  otp_auth_enabled: Type.Optional(Type.Boolean()),
  passkey_auth_enabled: Type.Optional(Type.Boolean()),
  primary_email: Type.Optional(Type.Union([emailAddress, Type.Null()])),
};

const serverFields = {
  client_read_only_metadata: Type.Optional(json),
  server_metadata: Type.Optional(json),
  primary_email_verified: Type.Optional(Type.Boolean()),
  primary_email_auth_enabled: Type.Optional(Type.Boolean()),
  password: Type.Optional(Type.Union([Type.String({ maxLength: 70 }), Type.Null()])),
  password_hash: Type.Optional(Type.String()),
  restricted_by_admin: Type.Optional(Type.Boolean()),
  restricted_by_admin_reason: Type.Optional(nullableString),
  restricted_by_admin_private_details: Type.Optional(nullableString),
  country_code: Type.Optional(Type.Union([Type.String({ pattern: "^[A-Z]{2}$" }), Type.Null()])),
  risk_scores: Type.Optional(
    Type.Object(
      {
        sign_up: Type.Object(
          { bot: riskScore, free_trial_abuse: riskScore },
          { additionalProperties: false },
        ),
      },
      { additionalProperties: false },
    ),
  ),
};

export const clientUserUpdate = Type.Object(clientUpdateFields, { additionalProperties: false });

export const serverUserUpdate = Type.Object(
  { ...clientUpdateFields, ...serverFields, is_anonymous: Type.Optional(Type.Literal(false)) },
  { additionalProperties: false },
);

// A new user belongs to no team yet: there is none to select.
const { selected_team_id: _, ...createFields } = clientUpdateFields;

export const serverUserCreate = Type.Object(
  {
    ...createFields,
    ...serverFields,
    primary_email: Type.Optional(Type.Union([emailAddress, Type.Null()])),
    is_anonymous: Type.Optional(Type.Boolean()),
    oauth_providers: Type.Optional(
      Type.Array(
        Type.Object(
          {
            // Bounded so that the pair fits the unique index on (provider, account id).
            id: Type.String({ maxLength: 100 }),
            account_id: Type.String({ maxLength: 500 }),
            email: Type.Optional(nullableString),
          },
          { additionalProperties: false },
        ),
      ),
    ),
  },
  { additionalProperties: false },
);

export type UserUpdateInput = Static<typeof serverUserUpdate>;
export type UserCreateInput = Static<typeof serverUserCreate>;

const booleanString = Type.Union([Type.Literal("true"), Type.Literal("false")]);

export const userListQuery = Type.Object(
  {
    limit: Type.Optional(pageLimit()),
    cursor: Type.Optional(Type.String({ format: "uuid" })),
    order_by: Type.Optional(Type.Literal("signed_up_at")),
    desc: Type.Optional(booleanString),
    query: Type.Optional(Type.String()),
    team_id: Type.Optional(Type.String({ format: "uuid" })),
    include_restricted: Type.Optional(booleanString),
    include_anonymous: Type.Optional(booleanString),
    only_anonymous: Type.Optional(booleanString),
  },
  { additionalProperties: false },
);

export type UserListQuery = Static<typeof userListQuery>;

export const userIdParams = Type.Object(
  { user_id: Type.String({ format: "uuid" }) },
  { additionalProperties: false },
);
