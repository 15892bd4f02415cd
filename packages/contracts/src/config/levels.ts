import type { TSchema } from "typebox";
import { type ConfigLevel, configSchema, LEVEL_KEYWORD } from "./schema.ts";

/**
 * The part of the schema one level may override: project-level fields only at the project level,
 * environment-only fields only at the environment level, everything else at branch and environment.
 */
export function schemaForLevel(level: ConfigLevel): TSchema {
  return levelSchemas[level];
}

const allowedAt: Record<ConfigLevel, ReadonlySet<ConfigLevel>> = {
  project: new Set(["project"]),
  branch: new Set(["branch"]),
  environment: new Set(["branch", "environment"]),
};

function filter(schema: TSchema, level: ConfigLevel, inherited: ConfigLevel): TSchema | null {
  const fieldLevel =
    ((schema as Record<string, unknown>)[LEVEL_KEYWORD] as ConfigLevel | undefined) ?? inherited;
  const properties = (schema as { properties?: Record<string, TSchema> }).properties;
  const patterns = (schema as { patternProperties?: Record<string, TSchema> }).patternProperties;
  if ((schema as { type?: unknown }).type === "object" && patterns && !properties) {
    // A record: its entries may hold fields of other levels (an OAuth provider's secret), so filter
    // the entry schema too.
    if (!allowedAt[level].has(fieldLevel) && fieldLevel !== "branch") return null;
    const filteredEntries: Record<string, TSchema> = {};
    for (const [pattern, entry] of Object.entries(patterns)) {
      const filtered = filter(entry, level, fieldLevel);
      if (filtered) filteredEntries[pattern] = filtered;
    }
    return Object.keys(filteredEntries).length > 0
      ? ({ ...schema, patternProperties: filteredEntries } as TSchema)
      : null;
  }
  if ((schema as { type?: unknown }).type !== "object" || !properties) {
    return allowedAt[level].has(fieldLevel) ? schema : null;
  }
  const kept: Record<string, TSchema> = {};
  for (const [key, child] of Object.entries(properties)) {
    const filtered = filter(child, level, fieldLevel);
    if (filtered) kept[key] = filtered;
  }
  if (Object.keys(kept).length === 0) return null;
  return {
    ...schema,
    properties: kept,
    required: ((schema as { required?: string[] }).required ?? []).filter((key) => key in kept),
  } as TSchema;
}

const levelSchemas: Record<ConfigLevel, TSchema> = {
  project: filter(configSchema, "project", "branch")!,
  branch: filter(configSchema, "branch", "branch")!,
  environment: filter(configSchema, "environment", "branch")!,
};
