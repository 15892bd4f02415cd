import type { TSchema } from "typebox";
import { type ConfigObject, isPlainObject, normalizeConfig, overrideConfig } from "./format.ts";
import { configSchema, type RenderedConfig } from "./schema.ts";
import { isObjectSchema, recordValueSchema } from "./schema-walk.ts";

/**
 * Renders a config from the overrides of each level, lowest first: stack them, expand dot notation
 * (dropping dotted keys whose parent does not exist), then fill every default the schema defines.
 */
export function renderConfig(overrides: readonly ConfigObject[]): RenderedConfig {
  const merged = overrides.reduce<ConfigObject>((base, next) => overrideConfig(base, next), {});
  const normalized = normalizeConfig(merged, { canCreateParent: isFixedSection });
  return fillDefaults(configSchema, normalized, undefined) as RenderedConfig;
}

/**
 * Dot notation may reach into sections the schema always has (`auth.password.allowSignIn` works on an
 * empty override), but not into record entries that do not exist yet — those must be created with the
 * nested-object form, as upstream requires.
 */
function isFixedSection(path: readonly string[]): boolean {
  let schema: TSchema = configSchema;
  for (const segment of path) {
    const properties = isObjectSchema(schema) ? schema.properties : undefined;
    const child = properties?.[segment];
    if (!child) return false;
    schema = child;
  }
  return isObjectSchema(schema);
}

function fillDefaults(schema: TSchema, value: unknown, key: string | undefined): unknown {
  const declared = schema as { default?: unknown; "x-default-from-key"?: boolean; anyOf?: TSchema[] };
  if (value === undefined) {
    if (declared["x-default-from-key"] && key !== undefined) return key;
    if ("default" in declared) value = structuredClone(declared.default);
    else if (isObjectSchema(schema) && schema.properties) value = {};
    else return undefined;
  }
  if (!isObjectSchema(schema)) {
    const objectVariant = declared.anyOf?.find(isObjectSchema);
    return objectVariant && isPlainObject(value) ? fillDefaults(objectVariant, value, key) : value;
  }
  if (!isPlainObject(value)) return value;
  if (schema.properties) {
    const out: Record<string, unknown> = {};
    for (const [name, child] of Object.entries(schema.properties)) {
      const rendered = fillDefaults(child, value[name], name);
      if (rendered !== undefined) out[name] = rendered;
    }
    return out;
  }
  const entrySchema = recordValueSchema(schema);
  if (!entrySchema) return value;
  // A record's default entries (e.g. every app, uninstalled) stay unless the override replaces them.
  const entries = { ...(isPlainObject(declared.default) ? declared.default : {}), ...value };
  const out: Record<string, unknown> = {};
  for (const [entryKey, entry] of Object.entries(entries)) {
    const rendered = fillDefaults(entrySchema, entry, entryKey);
    if (rendered !== undefined) out[entryKey] = rendered;
  }
  return out;
}
