import type { TSchema } from "typebox";

/** Small readers over the JSON Schema that TypeBox builds, shared by validation and rendering. */
export interface ObjectSchema {
  type: "object";
  properties?: Record<string, TSchema>;
  patternProperties?: Record<string, TSchema>;
  additionalProperties?: boolean | TSchema;
  default?: unknown;
}

export const isObjectSchema = (schema: TSchema): schema is TSchema & ObjectSchema =>
  (schema as { type?: unknown }).type === "object";

/** Records are objects keyed by user-chosen ids: `patternProperties` with one value schema. */
export function recordValueSchema(schema: TSchema): TSchema | null {
  if (!isObjectSchema(schema) || schema.properties) return null;
  const values = Object.values(schema.patternProperties ?? {});
  return values[0] ?? null;
}

export function recordKeyPattern(schema: TSchema): RegExp | null {
  if (!isObjectSchema(schema)) return null;
  const pattern = Object.keys(schema.patternProperties ?? {})[0];
  return pattern ? new RegExp(pattern) : null;
}

/** The schema of `key` inside an object or record schema, or null if there is none. */
export function childSchema(schema: TSchema, key: string): TSchema | null {
  if (!isObjectSchema(schema)) {
    const variants = (schema as { anyOf?: TSchema[] }).anyOf;
    if (variants) {
      for (const variant of variants) {
        const child = childSchema(variant, key);
        if (child) return child;
      }
    }
    return null;
  }
  if (schema.properties) return schema.properties[key] ?? null;
  const value = recordValueSchema(schema);
  if (!value) return null;
  const pattern = recordKeyPattern(schema);
  return pattern && !pattern.test(key) ? null : value;
}
