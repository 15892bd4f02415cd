import type { RequestPart } from "./validation.ts";

/**
 * How deep a request's JSON may nest, unless its route says otherwise (`maxBodyDepth`). Deeper values
 * overflow the stack of whatever recurses over them next (`JSON.stringify` for a jsonb column, an error
 * message printing the value); `JSON.stringify` itself gives out somewhere past 5,000 levels.
 */
export const MAX_NESTING_DEPTH = 512;

/** Half of a surrogate pair: what a client leaves when it cuts a string in the middle of an emoji. */
const LONE_SURROGATES = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * A lone surrogate becomes U+FFFD, the replacement character: what the PostgreSQL driver writes for it
 * to a text column anyway, and what a jsonb column would otherwise refuse the whole value over.
 */
const repaired = (text: string) => text.replace(LONE_SURROGATES, "\ufffd");

interface Visit {
  value: Record<string, unknown> | unknown[];
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
 * Readies one part of a request (body, query, params) for PostgreSQL, in place, or names in a
 * `SCHEMA_ERROR` sentence why no schema could let it through:
 * - nesting deeper than `maxDepth` ({@link MAX_NESTING_DEPTH} unless the route says) is refused;
 * - with `textIsStored`, a NUL in a string or a property name is refused (PostgreSQL's text and jsonb
 *   cannot hold it), and lone surrogates are {@link repaired}.
 * Iterative, so a hostile depth cannot overflow it. Returns the part, a new value only if it was a string.
 */
export function prepareRequestValue(
  part: RequestPart,
  value: unknown,
  textIsStored: boolean,
  maxDepth = MAX_NESTING_DEPTH,
): { value: unknown; problem: string | null } {
  if (typeof value === "string") {
    if (!textIsStored) return { value, problem: null };
    return value.includes("\0") ? { value, problem: nulIn(part) } : { value: repaired(value), problem: null };
  }
  // A Buffer is an octet-stream body: bytes, not text, and its indices are no properties to walk.
  if (value === null || typeof value !== "object" || ArrayBuffer.isView(value))
    return { value, problem: null };
  const pending: Visit[] = [{ value: value as Visit["value"], depth: 0, parent: null, key: "" }];
  for (let visit = pending.pop(); visit !== undefined; visit = pending.pop()) {
    // Without the path: 512 steps of it would make a message nobody reads.
    if (visit.depth >= maxDepth) {
      return { value, problem: `${part} is nested more than ${maxDepth} levels deep` };
    }
    const current = visit.value;
    if (Array.isArray(current)) {
      for (let index = 0; index < current.length; index++) {
        const problem = prepareChild(part, visit, index, pending, textIsStored);
        if (problem) return { value, problem };
      }
      continue;
    }
    for (const key of Object.keys(current)) {
      let name = key;
      if (textIsStored) {
        if (key.includes("\0")) return { value, problem: nulIn(`${pathOf(part, visit, key)} (its name)`) };
        name = repaired(key);
        if (name !== key) {
          current[name] = current[key];
          delete current[key];
        }
      }
      const problem = prepareChild(part, visit, name, pending, textIsStored);
      if (problem) return { value, problem };
    }
  }
  return { value, problem: null };
}

/** Checks (and repairs) a string child where it stands; queues an object or array child for its own visit. */
function prepareChild(
  part: RequestPart,
  parent: Visit,
  key: string | number,
  pending: Visit[],
  textIsStored: boolean,
): string | null {
  const container = parent.value as Record<string | number, unknown>;
  const child = container[key];
  if (typeof child === "string") {
    if (!textIsStored) return null;
    if (child.includes("\0")) return nulIn(pathOf(part, parent, key));
    container[key] = repaired(child);
    return null;
  }
  if (child !== null && typeof child === "object") {
    pending.push({ value: child as Visit["value"], depth: parent.depth + 1, parent, key });
  }
  return null;
}

const nulIn = (path: string) => `${path} must not contain NUL characters (\\u0000)`;
