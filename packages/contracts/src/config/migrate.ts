import { type ConfigObject, type ConfigValue, isPlainObject, normalizeConfig } from "./format.ts";
import type { ConfigLevel } from "./schema.ts";

/**
 * Brings an override written in an older config format up to date. It runs on every stored override
 * read, on every write and on request bodies before validation, so old configs keep meaning the same
 * thing. Every rule works on nested, dotted and mixed forms. Rules never remove meaning silently except
 * where the old key no longer does anything.
 */
export function migrateConfigOverride(level: ConfigLevel, override: ConfigObject): ConfigObject {
  if (level === "project") return override;
  let config = override;
  config = renamePath(config, ["emails", "theme"], "selectedThemeId");
  if (level === "environment") config = trustedDomainsArrayToRecord(config);
  config = removePath(config, ["emails", "themeList"]);
  config = removePath(config, ["emails", "templateList"]);
  config = removePath(config, ["sourceOfTruth"]);
  config = removePath(config, ["payments", "stripeAccountId"]);
  config = removePath(config, ["payments", "stripeAccountSetupComplete"]);
  config = removePath(config, ["payments", "items", "*", "default"]);
  config = renamePath(config, ["payments", "offers"], "products");
  config = renamePath(config, ["payments", "groups"], "catalogs");
  config = renamePath(config, ["payments", "products", "*", "groupId"], "catalogId");
  config = removePath(config, ["workflows"]);
  config = removePath(config, ["apps", "installed", "workflows"]);
  config = catalogsToProductLines(config);
  return config;
}

type PathPattern = readonly string[];

const matches = (segment: string, pattern: string) => pattern === "*" || segment === pattern;

/** Visits every key, flat or nested, whose path starts like the pattern, and rewrites the key there. */
function rewritePath(
  config: ConfigObject,
  pattern: PathPattern,
  rewrite: (segments: string[], index: number) => string[] | null,
): ConfigObject {
  const out: ConfigObject = {};
  for (const [key, value] of Object.entries(config)) {
    const segments = key.split(".");
    const common = Math.min(segments.length, pattern.length);
    let prefixMatches = true;
    for (let i = 0; i < common; i++) if (!matches(segments[i]!, pattern[i]!)) prefixMatches = false;
    if (!prefixMatches) {
      out[key] = value;
    } else if (segments.length >= pattern.length) {
      const rewritten = rewrite(segments, pattern.length - 1);
      if (rewritten) out[rewritten.join(".")] = value;
    } else if (isPlainObject(value)) {
      out[key] = rewritePath(value, pattern.slice(segments.length), rewrite);
    } else {
      out[key] = value;
    }
  }
  return out;
}

function renamePath(config: ConfigObject, pattern: PathPattern, newName: string): ConfigObject {
  return rewritePath(config, pattern, (segments, index) =>
    segments.map((s, i) => (i === index ? newName : s)),
  );
}

function removePath(config: ConfigObject, pattern: PathPattern): ConfigObject {
  return rewritePath(config, pattern, () => null);
}

function trustedDomainsArrayToRecord(config: ConfigObject): ConfigObject {
  const toRecord = (value: ConfigValue): ConfigValue =>
    Array.isArray(value) ? Object.fromEntries(value.map((entry, i) => [String(i), entry])) : value;
  const out: ConfigObject = {};
  for (const [key, value] of Object.entries(config)) {
    if (key === "domains.trustedDomains") out[key] = toRecord(value);
    else if (key === "domains" && isPlainObject(value) && "trustedDomains" in value) {
      out[key] = { ...value, trustedDomains: toRecord(value.trustedDomains!) };
    } else out[key] = value;
  }
  return out;
}

/**
 * Catalogs became product lines, which carry a customer type: infer it from the catalog's products and
 * drop catalogs that no product uses.
 */
function catalogsToProductLines(config: ConfigObject): ConfigObject {
  const mentionsCatalogs = Object.entries(config).some(
    ([key, value]) =>
      key.includes("catalog") || (isPlainObject(value) && JSON.stringify(value).includes('"catalog')),
  );
  if (!mentionsCatalogs) return config;
  const payments = normalizeConfig(config).payments;
  const products = isPlainObject(payments) && isPlainObject(payments.products) ? payments.products : {};
  const usedBy = new Map<string, string>();
  for (const product of Object.values(products)) {
    if (isPlainObject(product) && typeof product.catalogId === "string" && !usedBy.has(product.catalogId)) {
      usedBy.set(product.catalogId, typeof product.customerType === "string" ? product.customerType : "user");
    }
  }
  let migrated = rewritePath(config, ["payments", "catalogs", "*"], (segments, index) =>
    usedBy.has(segments[index]!) ? segments : null,
  );
  migrated = renamePath(migrated, ["payments", "catalogs"], "productLines");
  migrated = renamePath(migrated, ["payments", "products", "*", "catalogId"], "productLineId");
  for (const [lineId, customerType] of usedBy) {
    const key = `payments.productLines.${lineId}.customerType`;
    const existing = normalizeConfig(migrated).payments;
    const line =
      isPlainObject(existing) && isPlainObject(existing.productLines)
        ? existing.productLines[lineId]
        : undefined;
    if (isPlainObject(line) && line.customerType === undefined) migrated[key] = customerType;
  }
  return migrated;
}
