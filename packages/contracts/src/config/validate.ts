import { Ajv, type ValidateFunction } from "ajv";
import type { TSchema } from "typebox";
import { type ConfigObject, type ConfigValue, isPlainObject, isValidConfigKey } from "./format.ts";
import { childSchema, isObjectSchema } from "./schema-walk.ts";

const ajv = new Ajv({ strict: false, allErrors: false });
const leafValidators = new WeakMap<TSchema, ValidateFunction>();

/**
 * The errors that block writing an override at a level (tier 1): it must be an object, its keys must be
 * well-formed and exist in that level's schema, and every value must have the right type. Cross-field
 * rules are not checked here — a half-written config must be storable.
 */
export function configOverrideErrors(levelSchema: TSchema, override: unknown): string[] {
  if (!isPlainObject(override)) return ["Config override must be a non-null object."];
  const errors: string[] = [];
  for (const [key, value] of Object.entries(override)) {
    if (!isValidConfigKey(key)) {
      errors.push(
        `Invalid config format: All keys of override must consist of only alphanumeric characters, dots, underscores, colons, dollar signs, or hyphens and start with a character other than a hyphen. Invalid key: ${key}`,
      );
      continue;
    }
    const path = key.split(".");
    let schema: TSchema | null = levelSchema;
    for (let i = 0; i < path.length && schema; i++) {
      const next: TSchema | null = childSchema(schema, path[i]!);
      if (!next) {
        errors.push(invalidKey(key, path.slice(0, i + 1).join(".")));
        schema = null;
      } else {
        schema = next;
      }
    }
    if (schema) checkValue(schema, value, key, errors);
  }
  return errors;
}

function invalidKey(key: string, missing: string): string {
  return `The key ${JSON.stringify(key)} is not valid (nested object not found in schema: ${JSON.stringify(missing)}).`;
}

function checkValue(schema: TSchema, value: ConfigValue, path: string, errors: string[]): void {
  if (value === null) return;
  const variants = (schema as { anyOf?: TSchema[] }).anyOf;
  const objectVariant = isObjectSchema(schema) ? schema : variants?.find(isObjectSchema);
  if (isPlainObject(value) && objectVariant) {
    checkObject(objectVariant, value, path, errors);
    return;
  }
  let validate = leafValidators.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    leafValidators.set(schema, validate);
  }
  if (!validate(value)) errors.push(describeLeafError(schema, value, path));
}

function checkObject(schema: TSchema, value: ConfigObject, path: string, errors: string[]): void {
  for (const [key, child] of Object.entries(value)) {
    if (key.includes(".")) {
      errors.push(
        `Key ${JSON.stringify(`${path}.${key}`)} contains a dot, which is not allowed in config override.`,
      );
      continue;
    }
    const childPath = `${path}.${key}`;
    const nested = childSchema(schema, key);
    if (!nested) {
      errors.push(invalidKey(childPath, childPath));
      continue;
    }
    checkValue(nested, child, childPath, errors);
  }
}

function describeLeafError(schema: TSchema, value: ConfigValue, path: string): string {
  const literals = literalValuesOf(schema);
  if (literals) return `${path} must be one of the following values: ${literals.join(", ")}`;
  const type = (schema as { type?: string }).type ?? "valid value";
  return `${path} must be a \`${type}\` type, but the final value was: \`${JSON.stringify(value)}\`.`;
}

function literalValuesOf(schema: TSchema): string[] | null {
  const variants = (schema as { anyOf?: TSchema[] }).anyOf;
  if (!variants?.every((v) => "const" in v)) return null;
  return variants.map((v) => String((v as { const: unknown }).const));
}
