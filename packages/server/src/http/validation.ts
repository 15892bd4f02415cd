import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import type { TSchema } from "typebox";
import { USER_ID_OR_ME, UUID } from "./requirements.ts";

// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
type AddFormats = (ajv: Ajv) => Ajv;
const addFormats: AddFormats =
  (addFormatsModule as unknown as { default?: AddFormats }).default ??
  (addFormatsModule as unknown as AddFormats);

function createAjv(coerceTypes: boolean): Ajv {
  // verbose: errors carry their schema, which tells an enum (union of literals) from other unions.
  const ajv = new Ajv({ allErrors: true, strict: false, coerceTypes, useDefaults: false, verbose: true });
  addFormats(ajv);
  // ajv-formats also takes `urn:uuid:…`, which PostgreSQL's uuid type does not.
  ajv.addFormat("uuid", UUID);
  ajv.addFormat(USER_ID_OR_ME, (value: string) => value === "me" || UUID.test(value));
  return ajv;
}

/** Bodies are JSON and validated as sent; query strings and path params are text and coerced. */
const jsonAjv = createAjv(false);
const textAjv = createAjv(true);

export type RequestPart = "body" | "query" | "params";

export interface CompiledPart {
  part: RequestPart;
  validate: ValidateFunction;
}

export function compilePart(part: RequestPart, schema: TSchema): CompiledPart {
  const ajv = part === "body" ? jsonAjv : textAjv;
  return { part, validate: ajv.compile(schema) };
}

/** Validates one part in place (coercion mutates query/params); returns the violations as sentences. */
export function violationsOf(compiled: CompiledPart, value: unknown): string[] {
  if (compiled.validate(value)) return [];
  return describeErrors(compiled.part, compiled.validate.errors ?? []);
}

/**
 * Renders Ajv errors as the sentences Stack Auth's schema errors use (`query contains unknown
 * properties: extra`, `body.email must be defined`), so messages read the same to clients of either.
 */
export function describeErrors(part: RequestPart, errors: readonly ErrorObject[]): string[] {
  const unknownByPath = new Map<string, string[]>();
  const messages: string[] = [];
  const seen = new Set<string>();
  const add = (message: string) => {
    if (!seen.has(message)) {
      seen.add(message);
      messages.push(message);
    }
  };

  // anyOf over literals is how enums are written; report it once, not once per branch.
  const enumPaths = new Set(
    errors.filter((e) => e.keyword === "anyOf" && isLiteralUnion(e.parentSchema)).map((e) => e.instancePath),
  );

  for (const error of errors) {
    const path = pathOf(part, error.instancePath);
    switch (error.keyword) {
      case "additionalProperties": {
        const list = unknownByPath.get(path) ?? [];
        list.push(String(error.params.additionalProperty));
        unknownByPath.set(path, list);
        break;
      }
      case "required":
        add(`${path}.${error.params.missingProperty} must be defined`);
        break;
      case "minLength":
        add(
          error.params.limit === 1
            ? `${path} must not be empty`
            : `${path} must be at least ${error.params.limit} characters`,
        );
        break;
      case "maxLength":
        add(`${path} must be at most ${error.params.limit} characters`);
        break;
      case "minimum":
        add(`${path} must be greater than or equal to ${error.params.limit}`);
        break;
      case "maximum":
        add(`${path} must be less than or equal to ${error.params.limit}`);
        break;
      case "exclusiveMinimum":
        add(`${path} must be greater than ${error.params.limit}`);
        break;
      case "exclusiveMaximum":
        add(`${path} must be less than ${error.params.limit}`);
        break;
      case "minItems":
        add(`${path} field must have at least ${error.params.limit} items`);
        break;
      case "maxItems":
        add(`${path} field must have less than or equal to ${error.params.limit} items`);
        break;
      case "type":
        if (error.params.type === "integer" && typeof error.data === "number") {
          add(`${path} must be an integer`);
          break;
        }
        add(
          `${path} must be a \`${error.params.type}\` type, but the final value was: \`${printValue(error.data)}\`.`,
        );
        break;
      case "format":
      case "pattern":
        if (typeof error.parentSchema?.errorMessage === "string") {
          add(error.parentSchema.errorMessage);
          break;
        }
        if (error.keyword === "pattern") {
          add(`${path} must match the following: "/${error.params.pattern}/"`);
          break;
        }
        add(`${path} must be a valid ${formatNames[error.params.format as string] ?? error.params.format}`);
        break;
      case "const":
      case "enum":
        if (enumPaths.has(error.instancePath)) break;
        add(`${path} must be one of the following values: ${allowedValues(error).join(", ")}`);
        break;
      case "anyOf":
        if (enumPaths.has(error.instancePath)) {
          add(`${path} must be one of the following values: ${literalValues(error.parentSchema).join(", ")}`);
        } else {
          add(`${path} does not match any of the allowed shapes`);
        }
        break;
      default:
        add(`${path} ${error.message ?? "is invalid"}`);
    }
  }
  const unknown = [...unknownByPath].map(
    ([path, props]) => `${path} contains unknown properties: ${props.join(", ")}`,
  );
  // Inside an enum union every branch also reports its own const/type errors: drop those.
  const filtered = messages.filter(
    (m) => ![...enumPaths].some((p) => m.startsWith(`${pathOf(part, p)} must be a \``)),
  );
  return [...unknown, ...filtered];
}

const formatNames: Record<string, string> = {
  uuid: "UUID",
  [USER_ID_OR_ME]: "UUID",
  email: "email",
  uri: "URL",
  url: "URL",
};

/** Past this, a rejected value is cut short in the message: an error must not echo a megabyte back. */
const PRINTED_VALUE_MAX_CHARS = 200;

/**
 * How upstream's validator prints a rejected value: strings quoted, other scalars bare, objects as JSON
 * (indented when short; a long one compact and cut at {@link PRINTED_VALUE_MAX_CHARS}).
 */
function printValue(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  // A value JSON cannot write, such as the `keys` method a Buffer body has where a field was expected.
  const compact = JSON.stringify(value) ?? `[${typeof value}]`;
  if (compact.length > PRINTED_VALUE_MAX_CHARS) return `${compact.slice(0, PRINTED_VALUE_MAX_CHARS)}…`;
  return typeof value === "object" ? JSON.stringify(value, undefined, 2) : compact;
}

function pathOf(part: RequestPart, instancePath: string): string {
  if (!instancePath) return part;
  return (
    part +
    instancePath
      .split("/")
      .slice(1)
      .map((segment) => {
        const key = segment.replace(/~1/g, "/").replace(/~0/g, "~");
        return /^\d+$/.test(key) ? `[${key}]` : `.${key}`;
      })
      .join("")
  );
}

function isLiteralUnion(schema: unknown): boolean {
  const anyOf = (schema as { anyOf?: unknown[] } | undefined)?.anyOf;
  return (
    Array.isArray(anyOf) && anyOf.length > 0 && anyOf.every((s) => s && typeof s === "object" && "const" in s)
  );
}

function literalValues(schema: unknown): string[] {
  return ((schema as { anyOf: { const: unknown }[] }).anyOf ?? []).map((s) => String(s.const));
}

function allowedValues(error: ErrorObject): string[] {
  if (error.keyword === "const") return [String(error.params.allowedValue)];
  return (error.params.allowedValues as unknown[]).map(String);
}
