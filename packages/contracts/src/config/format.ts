/**
 * The config override format: a JSON object whose top-level keys may use dot notation
 * (`{"auth.password.allowSignIn": true}`) while nested keys may not. `null` means "unset": the key falls
 * back to its default (or to a lower level's value).
 */
export type ConfigValue = string | number | boolean | null | ConfigValue[] | ConfigObject;
export interface ConfigObject {
  [key: string]: ConfigValue;
}

const KEY_SEGMENT = /^[a-zA-Z0-9_:$][a-zA-Z0-9_:$-]*$/;

export function isPlainObject(value: unknown): value is ConfigObject {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

export function isValidConfigKey(key: string): boolean {
  return key.split(".").every((segment) => KEY_SEGMENT.test(segment));
}

/**
 * Every value of an override that is not an object, with its full path: a dotted key and the nesting
 * under it read the same (`{"a.b": {"c": 1}}` yields `["a", "b", "c"]`).
 */
export function* configLeaves(
  config: ConfigObject,
  prefix: readonly string[] = [],
): Generator<[path: string[], value: Exclude<ConfigValue, ConfigObject>]> {
  for (const [key, value] of Object.entries(config)) {
    const path = [...prefix, ...key.split(".")];
    if (isPlainObject(value)) yield* configLeaves(value, path);
    else yield [path, value];
  }
}

/**
 * Applies `patch` on top of `base` the way every level stacks on the previous one and every PATCH
 * lands: each key of the patch removes the base keys equal to it or below it, then takes its place.
 * Patching `a` therefore replaces the whole `a` subtree, while patching `a.b` keeps a nested `a` and
 * adds a flat `a.b` that wins when the config is normalised.
 */
export function overrideConfig(base: ConfigObject, patch: ConfigObject): ConfigObject {
  const result: ConfigObject = {};
  const patchKeys = Object.keys(patch).filter((key) => patch[key] !== undefined);
  // A set, not a scan of the patch for every base key: overrides can hold tens of thousands of keys.
  const patched = new Set(patchKeys);
  for (const [key, value] of Object.entries(base)) {
    if (isPatched(key, patched)) continue;
    result[key] = value;
  }
  for (const key of patchKeys) result[key] = patch[key]!;
  return result;
}

/** Whether `key` itself or a dotted prefix of it (`a` and `a.b` for `a.b.c`) is among `patched`. */
function isPatched(key: string, patched: ReadonlySet<string>): boolean {
  if (patched.has(key)) return true;
  for (let dot = key.indexOf("."); dot !== -1; dot = key.indexOf(".", dot + 1))
    if (patched.has(key.slice(0, dot))) return true;
  return false;
}

/**
 * Expands dot notation into nested objects. Keys are applied shallowest first, so `{"a": {...},
 * "a.b": 1}` sets `b` inside `a`. `null` deletes. A dotted key into a parent that does not exist (or is
 * not an object) cannot be applied: `onDanglingKey` decides what happens (rendering ignores it).
 */
export function normalizeConfig(
  config: ConfigObject,
  options: {
    onDanglingKey?: (key: string, parent: string) => void;
    /** Whether a missing parent may be created (fixed schema sections may; record entries may not). */
    canCreateParent?: (path: readonly string[]) => boolean;
  } = {},
  prefix: readonly string[] = [],
): ConfigObject {
  const result: ConfigObject = {};
  const keys = Object.keys(config).sort((a, b) => a.split(".").length - b.split(".").length);
  for (const key of keys) {
    const value = config[key];
    if (value === undefined) continue;
    const path = key.split(".");
    let target: ConfigObject = result;
    let dangling = false;
    for (let i = 0; i < path.length - 1; i++) {
      let next = target[path[i]!];
      if (next === undefined && options.canCreateParent?.([...prefix, ...path.slice(0, i + 1)])) {
        next = {};
        target[path[i]!] = next;
      }
      if (!isPlainObject(next)) {
        options.onDanglingKey?.(key, path.slice(0, i + 1).join("."));
        dangling = true;
        break;
      }
      target = next;
    }
    if (dangling) continue;
    const last = path.at(-1)!;
    if (value === null) delete target[last];
    else target[last] = isPlainObject(value) ? normalizeConfig(value, options, [...prefix, ...path]) : value;
  }
  return result;
}

/** Removes each key and everything below it, in flat and nested form (reset-keys). */
export function removeConfigKeys(config: ConfigObject, keys: readonly string[]): ConfigObject {
  const result: ConfigObject = {};
  for (const [key, value] of Object.entries(config)) {
    if (keys.some((k) => key === k || key.startsWith(`${k}.`))) continue;
    const inner = keys.filter((k) => k.startsWith(`${key}.`)).map((k) => k.slice(key.length + 1));
    if (inner.length > 0 && isPlainObject(value)) {
      const pruned = removeConfigKeys(value, inner);
      if (Object.keys(pruned).length > 0 || Object.keys(value).length === 0) result[key] = pruned;
    } else {
      result[key] = value;
    }
  }
  return result;
}
