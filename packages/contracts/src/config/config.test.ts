import { describe, expect, it } from "vitest";
import { isPlainObject, normalizeConfig, overrideConfig, removeConfigKeys } from "./format.ts";
import { schemaForLevel } from "./levels.ts";
import { migrateConfigOverride } from "./migrate.ts";
import { renderConfig } from "./render.ts";
import { allAppIds } from "./schema.ts";
import { configOverrideErrors } from "./validate.ts";

describe("override format", () => {
  it("patching a key replaces its whole subtree; patching a dotted key overlays it", () => {
    const base = { a: { b: 1, c: 2 }, "a.d": 3, x: 1 };
    expect(overrideConfig(base, { a: { z: 9 } })).toEqual({ x: 1, a: { z: 9 } });
    const dotted = overrideConfig(base, { "a.b": 5 });
    expect(dotted).toEqual({ a: { b: 1, c: 2 }, "a.d": 3, x: 1, "a.b": 5 });
    expect(normalizeConfig(dotted)).toEqual({ a: { b: 5, c: 2, d: 3 }, x: 1 });
  });

  it("normalises shallowest first, deletes with null and reports dangling dotted keys", () => {
    const dangling: string[] = [];
    const result = normalizeConfig(
      { "a.b.c": 1, a: { b: { d: 2 } }, "a.b.d": null, "missing.child": 1 },
      {
        onDanglingKey: (key) => dangling.push(key),
      },
    );
    expect(result).toEqual({ a: { b: { c: 1 } } });
    expect(dangling).toEqual(["missing.child"]);
  });

  it("removes keys and their descendants in flat and nested form", () => {
    const config = { a: { b: { c: 1 }, keep: 1 }, "a.b.d": 2, "a.bb": 3, other: 1 };
    expect(removeConfigKeys(config, ["a.b"])).toEqual({ a: { keep: 1 }, "a.bb": 3, other: 1 });
    expect(removeConfigKeys(config, [])).toEqual(config);
  });
});

describe("rendering", () => {
  it("fills every default, including inside record entries", () => {
    const config = renderConfig([{ "domains.trustedDomains": { main: { baseUrl: "https://example.com" } } }]);
    expect(config.auth.allowSignUp).toBe(true);
    expect(config.auth.password.allowSignIn).toBe(false);
    expect(config.auth.oauth.accountMergeStrategy).toBe("link_method");
    expect(config.domains.trustedDomains.main).toEqual({
      baseUrl: "https://example.com",
      handlerPath: "/handler",
    });
    expect(Object.keys(config.apps.installed)).toEqual([...allAppIds]);
    expect(config.payments.testMode).toBe(true);
  });

  it("lets dotted keys reach fixed sections, but not record entries that do not exist (scenario 18)", () => {
    expect(renderConfig([{ "teams.allowClientTeamCreation": true }]).teams.allowClientTeamCreation).toBe(
      true,
    );
    expect(
      renderConfig([{ "domains.trustedDomains.new.baseUrl": "https://x.example.com" }]).domains
        .trustedDomains,
    ).toEqual({});
    expect(
      renderConfig([{ "domains.trustedDomains.new": { baseUrl: "https://x.example.com" } }]).domains
        .trustedDomains.new?.baseUrl,
    ).toBe("https://x.example.com");
  });

  it("stacks levels: later wins, null falls back (scenarios 14, 15)", () => {
    const project = { "project.requirePublishableClientKey": true };
    const branch = { "apiKeys.enabled.user": true, teams: { allowClientTeamCreation: true } };
    const environment = { "apiKeys.enabled.user": false, "teams.allowClientTeamCreation": null };
    const config = renderConfig([project, branch, environment]);
    expect(config.project.requirePublishableClientKey).toBe(true);
    expect(config.apiKeys.enabled.user).toBe(false);
    expect(config.teams.allowClientTeamCreation).toBe(false);
  });
});

describe("validation per level (scenarios 16, 17)", () => {
  const errors = (level: "project" | "branch" | "environment", override: unknown) =>
    configOverrideErrors(schemaForLevel(level), override);

  it("accepts well-formed overrides", () => {
    expect(
      errors("environment", {
        "auth.password.allowSignIn": true,
        "domains.trustedDomains": { a: { baseUrl: "https://a" } },
      }),
    ).toEqual([]);
    expect(
      errors("branch", {
        rbac: { permissions: { admin: { containedPermissionIds: { $read_members: true } } } },
      }),
    ).toEqual([]);
    expect(
      errors("project", { "project.requirePublishableClientKey": true, sourceOfTruth: { type: "hosted" } }),
    ).toEqual([]);
    expect(errors("environment", { "auth.allowSignUp": null })).toEqual([]);
  });

  it("names unknown keys with the shortest missing prefix", () => {
    expect(errors("environment", { nonExistentField: 1 })).toEqual([
      'The key "nonExistentField" is not valid (nested object not found in schema: "nonExistentField").',
    ]);
    expect(errors("environment", { "auth.nope.deeper": 1 })).toEqual([
      'The key "auth.nope.deeper" is not valid (nested object not found in schema: "auth.nope").',
    ]);
  });

  it("rejects dots in nested keys, bad characters, wrong types and wrong enum values", () => {
    expect(errors("environment", { auth: { "password.allowSignIn": true } })[0]).toContain("contains a dot");
    expect(errors("environment", { "bad key!": 1 })[0]).toContain("Invalid config format");
    expect(errors("environment", { "auth.allowSignUp": "yes" })[0]).toContain(
      "auth.allowSignUp must be a `boolean` type",
    );
    expect(errors("environment", { "auth.oauth.providers.p.type": "myspace" })[0]).toBe(
      "auth.oauth.providers.p.type must be one of the following values: google, github, microsoft, spotify, facebook, discord, gitlab, bitbucket, linkedin, apple, x, twitch",
    );
    expect(errors("environment", [])).toEqual(["Config override must be a non-null object."]);
  });

  it("keeps environment-only fields off the branch level and project fields at the project level", () => {
    for (const key of [
      "domains.trustedDomains",
      "emails.server",
      "auth.oauth.providers.google.clientSecret",
      "payments.testMode",
    ]) {
      expect(
        errors("branch", {
          [key]: key.endsWith("clientSecret") ? "s" : key === "payments.testMode" ? true : {},
        }).length,
        key,
      ).toBe(1);
      expect(
        errors("environment", {
          [key]: key.endsWith("clientSecret") ? "s" : key === "payments.testMode" ? true : {},
        }),
        key,
      ).toEqual([]);
    }
    expect(errors("branch", { sourceOfTruth: { type: "hosted" } })).toHaveLength(1);
    expect(errors("environment", { "project.requirePublishableClientKey": true })).toHaveLength(1);
    expect(errors("project", { "auth.allowSignUp": true })).toHaveLength(1);
  });
});

describe("legacy overrides (scenario 19)", () => {
  it("renders old keys exactly as their migrated equivalents", () => {
    const old = {
      "emails.theme": "theme-1",
      payments: {
        groups: { plans: { displayName: "Plans" }, empty: {} },
        offers: { pro: { groupId: "plans", customerType: "team", displayName: "Pro" } },
      },
    };
    const migrated = migrateConfigOverride("environment", old);
    const config = renderConfig([migrated]);
    expect(config.emails.selectedThemeId).toBe("theme-1");
    expect(config.payments.products.pro).toMatchObject({
      productLineId: "plans",
      customerType: "team",
      displayName: "Pro",
    });
    expect(config.payments.productLines).toEqual({ plans: { displayName: "Plans", customerType: "team" } });
    expect(configOverrideErrors(schemaForLevel("environment"), migrated)).toEqual([]);
  });

  it("turns an array of trusted domains into a record and drops removed keys", () => {
    const migrated = migrateConfigOverride("environment", {
      "domains.trustedDomains": [{ baseUrl: "https://a.example.com", handlerPath: "/h" }],
      workflows: { x: 1 },
      "apps.installed.workflows": { enabled: true },
      "emails.themeList": {},
    });
    expect(migrated).toEqual({
      "domains.trustedDomains": { "0": { baseUrl: "https://a.example.com", handlerPath: "/h" } },
    });
  });
});

describe("schema fuzzing (scenario 21)", () => {
  it("renders every random valid override without throwing", () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const leaves: [string, () => unknown][] = [
      ["auth.allowSignUp", () => random() < 0.5],
      ["auth.password.allowSignIn", () => random() < 0.5],
      [
        "auth.oauth.accountMergeStrategy",
        () => ["link_method", "raise_error", "allow_duplicates"][Math.floor(random() * 3)],
      ],
      ["teams.allowClientTeamCreation", () => random() < 0.5],
      ["apiKeys.enabled.user", () => random() < 0.5],
      ["domains.allowLocalhost", () => random() < 0.5],
      [
        "domains.trustedDomains",
        () => ({ [`d${Math.floor(random() * 9)}`]: { baseUrl: "https://x.example.com" } }),
      ],
      ["rbac.permissions", () => ({ p: { containedPermissionIds: { q: true } }, q: {} })],
      ["payments.items", () => ({ credits: { customerType: "user" } })],
      ["emails.server", () => ({ isShared: false, host: "smtp.example.com", port: 587 })],
      ["apps.installed.analytics", () => ({ enabled: random() < 0.5 })],
    ];
    for (let i = 0; i < 300; i++) {
      const override: Record<string, unknown> = {};
      for (const [key, value] of leaves) {
        if (random() < 0.4) continue;
        const v = random() < 0.1 ? null : value();
        if (random() < 0.5 || !isPlainObject(v)) override[key] = v;
        else {
          const [head, ...rest] = key.split(".");
          override[head!] = { ...(override[head!] as object), [rest.join(".") || key]: v };
        }
      }
      const valid = Object.fromEntries(
        Object.entries(override).filter(
          ([k, v]) => configOverrideErrors(schemaForLevel("environment"), { [k]: v }).length === 0,
        ),
      );
      const config = renderConfig([{}, {}, valid as never]);
      for (const section of ["auth", "teams", "apiKeys", "domains", "rbac", "payments", "emails", "apps"]) {
        expect(config).toHaveProperty(section);
      }
    }
  });
});
