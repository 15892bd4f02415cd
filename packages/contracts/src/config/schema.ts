import Type, { type Static, type TSchema } from "typebox";

/**
 * The project config schema: one tree for every level, each field annotated with the lowest level that
 * may set it. `project` fields are shared by all branches; unannotated fields are "pushable" branch
 * config; `environment` fields hold secrets and per-deployment values (trusted domains, e-mail server,
 * OAuth secrets…). Defaults live on the fields: a rendered config is the merged overrides with every
 * default filled in, including inside each entry of a record.
 */
export const LEVEL_KEYWORD = "x-config-level";
export type ConfigLevel = "project" | "branch" | "environment";

const projectOnly = { [LEVEL_KEYWORD]: "project" } as const;
const environmentOnly = { [LEVEL_KEYWORD]: "environment" } as const;

/**
 * Ids users choose for records (trusted domains, permissions, products…). At most 256 characters: some
 * become keys of indexed rows (permission grants), which PostgreSQL's btree limits to about 2.7 kB.
 */
export const USER_SPECIFIED_ID = "^[a-zA-Z0-9_$][a-zA-Z0-9_$:-]{0,255}$";

const record = <T extends TSchema>(value: T, options: Record<string, unknown> = {}) =>
  Type.Record(Type.String({ pattern: USER_SPECIFIED_ID }), value, options);
const trueRecord = () => record(Type.Literal(true), { default: {} });
const flag = (value: boolean, options: Record<string, unknown> = {}) =>
  Type.Boolean({ default: value, ...options });
const dayInterval = () =>
  Type.Tuple([
    Type.Integer({ minimum: 0 }),
    Type.Union([Type.Literal("day"), Type.Literal("week"), Type.Literal("month"), Type.Literal("year")]),
  ]);
const customerType = (options: Record<string, unknown> = {}) =>
  Type.Union([Type.Literal("user"), Type.Literal("team"), Type.Literal("custom")], options);

export const oauthProviderTypes = [
  "google",
  "github",
  "microsoft",
  "spotify",
  "facebook",
  "discord",
  "gitlab",
  "bitbucket",
  "linkedin",
  "apple",
  "x",
  "twitch",
] as const;

/** Every app a project can install, in the order the dashboard lists them. */
export const allAppIds = [
  "authentication",
  "fraud-protection",
  "onboarding",
  "teams",
  "rbac",
  "api-keys",
  "payments",
  "emails",
  "email-api",
  "data-vault",
  "workflows",
  "webhooks",
  "tv-mode",
  "launch-checklist",
  "catalyst",
  "neon",
  "convex",
  "vercel",
  "analytics",
] as const;

const currencyAmount = () => Type.String({ pattern: "^(0|[1-9][0-9]*)(\\.[0-9]+)?$" });

const price = Type.Object({
  USD: Type.Optional(currencyAmount()),
  EUR: Type.Optional(currencyAmount()),
  GBP: Type.Optional(currencyAmount()),
  JPY: Type.Optional(currencyAmount()),
  INR: Type.Optional(currencyAmount()),
  AUD: Type.Optional(currencyAmount()),
  CAD: Type.Optional(currencyAmount()),
  interval: Type.Optional(dayInterval()),
  serverOnly: flag(false),
  freeTrial: Type.Optional(dayInterval()),
});

const product = Type.Object({
  displayName: Type.Optional(Type.String({ "x-default-from-key": true })),
  customerType: customerType({ default: "user" }),
  productLineId: Type.Optional(Type.String()),
  isAddOnTo: Type.Union([Type.Literal(false), record(Type.Literal(true))], { default: false }),
  serverOnly: flag(false),
  stackable: Type.Optional(Type.Boolean()),
  freeTrial: Type.Optional(dayInterval()),
  prices: Type.Union([Type.Literal("include-by-default"), record(price)], { default: {} }),
  includedItems: record(
    Type.Object({
      quantity: Type.Number({ default: 0 }),
      repeat: Type.Union([Type.Literal("never"), dayInterval()], { default: "never" }),
      expires: Type.Union(
        [Type.Literal("never"), Type.Literal("when-purchase-expires"), Type.Literal("when-repeated")],
        { default: "when-repeated" },
      ),
    }),
    { default: {} },
  ),
});

export const configSchema = Type.Object({
  sourceOfTruth: Type.Object(
    {
      type: Type.Union([Type.Literal("hosted"), Type.Literal("neon"), Type.Literal("postgres")], {
        default: "hosted",
      }),
      connectionString: Type.Optional(Type.String()),
      connectionStrings: Type.Optional(record(Type.String())),
    },
    projectOnly,
  ),
  project: Type.Object({ requirePublishableClientKey: flag(false) }, projectOnly),
  rbac: Type.Object({
    permissions: record(
      Type.Object({
        description: Type.Optional(Type.String()),
        scope: Type.Union([Type.Literal("team"), Type.Literal("project")], { default: "team" }),
        containedPermissionIds: trueRecord(),
      }),
      { default: {} },
    ),
    defaultPermissions: Type.Object({
      teamCreator: trueRecord(),
      teamMember: trueRecord(),
      signUp: trueRecord(),
    }),
  }),
  apiKeys: Type.Object({ enabled: Type.Object({ team: flag(false), user: flag(false) }) }),
  apps: Type.Object({
    installed: record(Type.Object({ enabled: flag(false) }), {
      default: Object.fromEntries(allAppIds.map((id) => [id, { enabled: false }])),
    }),
  }),
  teams: Type.Object({ createPersonalTeamOnSignUp: flag(false), allowClientTeamCreation: flag(false) }),
  users: Type.Object({ allowClientUserDeletion: flag(false) }),
  onboarding: Type.Object({ requireEmailVerification: flag(false) }),
  domains: Type.Object({
    allowLocalhost: flag(false, environmentOnly),
    trustedDomains: record(
      Type.Object({
        baseUrl: Type.Optional(Type.String()),
        handlerPath: Type.String({ default: "/handler" }),
      }),
      { default: {}, ...environmentOnly },
    ),
  }),
  auth: Type.Object({
    allowSignUp: flag(true),
    password: Type.Object({ allowSignIn: flag(false) }),
    otp: Type.Object({ allowSignIn: flag(false) }),
    passkey: Type.Object({ allowSignIn: flag(false) }),
    oauth: Type.Object({
      accountMergeStrategy: Type.Union(
        [Type.Literal("link_method"), Type.Literal("raise_error"), Type.Literal("allow_duplicates")],
        { default: "link_method" },
      ),
      providers: record(
        Type.Object({
          type: Type.Optional(Type.Union(oauthProviderTypes.map((t) => Type.Literal(t)))),
          allowSignIn: flag(false),
          allowConnectedAccounts: flag(false),
          isShared: flag(true, environmentOnly),
          clientId: Type.Optional(Type.String(environmentOnly)),
          clientSecret: Type.Optional(Type.String(environmentOnly)),
          facebookConfigId: Type.Optional(Type.String(environmentOnly)),
          microsoftTenantId: Type.Optional(Type.String(environmentOnly)),
          appleBundles: Type.Optional(record(Type.Object({ bundleId: Type.String() }), environmentOnly)),
        }),
        { default: {} },
      ),
    }),
    signUpRules: record(
      Type.Object({
        enabled: flag(false),
        displayName: Type.Optional(Type.String()),
        priority: Type.Number({ default: 0 }),
        condition: Type.Optional(Type.String()),
        action: Type.Object({
          type: Type.Union(
            [Type.Literal("allow"), Type.Literal("reject"), Type.Literal("restrict"), Type.Literal("log")],
            {
              default: "allow",
            },
          ),
          message: Type.Optional(Type.String()),
        }),
      }),
      { default: {} },
    ),
    signUpRulesDefaultAction: Type.Union([Type.Literal("allow"), Type.Literal("reject")], {
      default: "allow",
    }),
  }),
  emails: Type.Object({
    server: Type.Object(
      {
        isShared: flag(true),
        provider: Type.Union([Type.Literal("smtp"), Type.Literal("resend"), Type.Literal("managed")], {
          default: "smtp",
        }),
        host: Type.Optional(Type.String()),
        port: Type.Optional(Type.Number()),
        username: Type.Optional(Type.String()),
        password: Type.Optional(Type.String()),
        senderName: Type.Optional(Type.String()),
        senderEmail: Type.Optional(Type.String()),
      },
      environmentOnly,
    ),
    selectedThemeId: Type.String({ default: "1df07ae6-abf3-4a40-83a5-a1a2cbe336ac" }),
    themes: record(
      Type.Object({
        displayName: Type.String({ default: "Unnamed Theme" }),
        tsxSource: Type.String({ default: "" }),
      }),
      {
        default: {},
      },
    ),
    templates: record(
      Type.Object({
        displayName: Type.String({ default: "Unnamed Template" }),
        tsxSource: Type.String({ default: "" }),
        themeId: Type.Optional(Type.Union([Type.String(), Type.Literal(false)])),
      }),
      { default: {} },
    ),
  }),
  payments: Type.Object({
    blockNewPurchases: flag(false),
    testMode: flag(true, environmentOnly),
    autoPay: Type.Optional(Type.Object({ interval: dayInterval() })),
    productLines: record(
      Type.Object({ displayName: Type.Optional(Type.String()), customerType: Type.Optional(customerType()) }),
      { default: {} },
    ),
    products: record(product, { default: {} }),
    items: record(
      Type.Object({
        displayName: Type.Optional(Type.String({ "x-default-from-key": true })),
        customerType: customerType({ default: "user" }),
      }),
      { default: {} },
    ),
  }),
  dbSync: Type.Object({
    externalDatabases: record(
      Type.Object({
        type: Type.Optional(Type.Union([Type.Literal("postgres"), Type.Literal("clickhouse")])),
        connectionString: Type.Optional(Type.String()),
      }),
      { default: {} },
    ),
  }),
  dataVault: Type.Object({
    stores: record(Type.Object({ displayName: Type.String({ default: "Unnamed Vault" }) }), { default: {} }),
  }),
  analytics: Type.Object(
    {
      queryFolders: record(
        Type.Object({
          displayName: Type.String({ default: "Unnamed Folder" }),
          sortOrder: Type.Number({ default: 0 }),
          queries: record(
            Type.Object({
              displayName: Type.String({ default: "Unnamed Query" }),
              sqlQuery: Type.String({ default: "" }),
              description: Type.Optional(Type.String()),
            }),
            { default: {} },
          ),
        }),
        { default: {} },
      ),
    },
    environmentOnly,
  ),
  customDashboards: record(
    Type.Object({
      displayName: Type.String({ default: "Unnamed Dashboard" }),
      tsxSource: Type.String({ default: "" }),
    }),
    { default: {}, ...environmentOnly },
  ),
});

/** A rendered (complete) config: every section present, defaults filled in. */
export type RenderedConfig = Static<typeof configSchema>;
