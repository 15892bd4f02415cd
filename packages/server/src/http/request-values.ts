import type { RequestPart } from "./validation.ts";

/**
 * How deep a request's JSON may nest. Deeper values overflow the stack of whatever recurses over them
 * next (`JSON.stringify` for a jsonb column, an error message printing the value); a session replay's
 * DOM snapshot, the deepest legitimate body, nests two levels per DOM level.
 */
export const MAX_NESTING_DEPTH = 512;

/**
 * Whether PostgreSQL's text and jsonb can hold a string: not with a NUL character, nor with half of a
 * surrogate pair, which is not Unicode at all (jsonb refuses it; text would store mojibake).
 */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const storable = (text: string) => !text.includes("\0") && !LONE_SURROGATE.test(text);

interface Visit {
  value: object;
  depth: number;
  /** Where the value sits, kept as links and only spelled out for an error message. */
  parent: Visit | null;
  key: string | number;
}

const pathOf = (part: RequestPart, visit: Visit | null, key?: string | number): string => {
  const keys: (string | number)[] = key === undefined ? [] : [key];
  for (let at = visit; at?.parent; at = at.parent) keys.unshift(at.key);
  return part + keys.map((k) => (typeof k === "number" ? `[${k}]` : `.${k}`)).join("");
};

/**
 * The first problem of a request part that no schema can express, as a `SCHEMA_ERROR` sentence, or null:
 * nesting deeper than {@link MAX_NESTING_DEPTH}, and (when `textMustBeStorable`) a string or property
 * name with a character PostgreSQL cannot store. Iterative, so a hostile depth cannot overflow it.
 */
export function unstorableValueIn(
  part: RequestPart,
  value: unknown,
  textMustBeStorable: boolean,
): string | null {
  if (typeof value === "string") return textMustBeStorable && !storable(value) ? unstorableText(part) : null;
  // A Buffer is an octet-stream body: bytes, not text, and its indices are no properties to walk.
  if (value === null || typeof value !== "object" || ArrayBuffer.isView(value)) return null;
  const pending: Visit[] = [{ value, depth: 0, parent: null, key: "" }];
  for (let visit = pending.pop(); visit !== undefined; visit = pending.pop()) {
    // Without the path: 512 steps of it would make a message nobody reads.
    if (visit.depth >= MAX_NESTING_DEPTH)
      return `${part} is nested more than ${MAX_NESTING_DEPTH} levels deep`;
    const current = visit.value as Record<string, unknown> | unknown[];
    if (Array.isArray(current)) {
      for (let index = 0; index < current.length; index++) {
        const problem = inspectChild(part, visit, index, current[index], pending, textMustBeStorable);
        if (problem) return problem;
      }
      continue;
    }
    // Parsed JSON: own enumerable properties only, nothing inherited to skip.
    for (const key in current) {
      if (textMustBeStorable && !storable(key))
        return unstorableText(`${pathOf(part, visit, key)} (its name)`);
      const problem = inspectChild(part, visit, key, current[key], pending, textMustBeStorable);
      if (problem) return problem;
    }
  }
  return null;
}

/** Checks a string child where it stands; queues an object or array child for its own visit. */
function inspectChild(
  part: RequestPart,
  parent: Visit,
  key: string | number,
  child: unknown,
  pending: Visit[],
  textMustBeStorable: boolean,
): string | null {
  if (typeof child === "string") {
    return textMustBeStorable && !storable(child) ? unstorableText(pathOf(part, parent, key)) : null;
  }
  if (child !== null && typeof child === "object") {
    pending.push({ value: child, depth: parent.depth + 1, parent, key });
  }
  return null;
}

const unstorableText = (path: string) =>
  `${path} must not contain NUL characters (\\u0000) or unpaired UTF-16 surrogates`;
