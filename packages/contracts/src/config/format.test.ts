import { describe, expect, it } from "vitest";
import { type ConfigObject, normalizeConfig, overrideConfig } from "./format.ts";

/** The rule `overrideConfig` implements, spelled out as plainly (and slowly) as possible. */
function referenceOverride(base: ConfigObject, patch: ConfigObject): ConfigObject {
  const result: ConfigObject = {};
  const patchKeys = Object.keys(patch).filter((key) => patch[key] !== undefined);
  for (const [key, value] of Object.entries(base)) {
    if (patchKeys.some((p) => key === p || key.startsWith(`${p}.`))) continue;
    result[key] = value;
  }
  for (const key of patchKeys) result[key] = patch[key]!;
  return result;
}

describe("overrideConfig", () => {
  it("removes the base keys equal to or below a patched key, and no others", () => {
    const base = { a: 1, ab: 2, "a.b": 3, "a.b.c": 4, "a.bc": 5, b: { a: 6 }, "b.a": 7, x: 8 };
    expect(overrideConfig(base, { "a.b": 9 })).toEqual({
      a: 1,
      ab: 2,
      "a.bc": 5,
      b: { a: 6 },
      "b.a": 7,
      x: 8,
      "a.b": 9,
    });
    expect(overrideConfig(base, { a: null })).toEqual({ ab: 2, b: { a: 6 }, "b.a": 7, x: 8, a: null });
    // A nested key is no dotted key: patching `b` drops `b.a`, patching `b.a` keeps the nested `b`.
    expect(overrideConfig(base, { b: 0 })).toEqual({
      a: 1,
      ab: 2,
      "a.b": 3,
      "a.b.c": 4,
      "a.bc": 5,
      x: 8,
      b: 0,
    });
    expect(overrideConfig(base, { "b.a": 0 })).toEqual({ ...base, "b.a": 0 });
  });

  it("keeps the base's order for what stays, then the patch's order, and ignores undefined patch values", () => {
    const result = overrideConfig({ z: 1, y: 2, x: 3 }, {
      x: 4,
      w: undefined,
      y: 5,
    } as unknown as ConfigObject);
    expect(Object.keys(result)).toEqual(["z", "x", "y"]);
    expect(result).toEqual({ z: 1, x: 4, y: 5 });
  });

  it("agrees with the plain rule on every pair of odd keys, empty segments included", () => {
    const keys = ["", ".", "a", "a.", ".a", "a..b", "a.b", "a.b.", "ab", "a.b.c", "b", "b.a", "a.bc"];
    for (const baseKey of keys)
      for (const patchKey of keys)
        for (const otherPatch of ["a", "zz"]) {
          const base = { [baseKey]: 1, keep: 2 };
          const patch = { [patchKey]: 3, [otherPatch]: 4 };
          const result = overrideConfig(base, patch);
          const expected = referenceOverride(base, patch);
          expect(result, `${baseKey} / ${patchKey}`).toEqual(expected);
          expect(Object.keys(result)).toEqual(Object.keys(expected));
        }
  });

  it("merges tens of thousands of dotted keys on tens of thousands", () => {
    const count = 20_000;
    const entries = (round: number) =>
      Object.fromEntries(
        Array.from(
          { length: count },
          (_, i) => [`rbac.permissions.r${round}_${i}`, {}] as [string, ConfigObject],
        ),
      );
    const first = overrideConfig({}, entries(1));
    const second = overrideConfig(first, entries(2));
    expect(Object.keys(second)).toHaveLength(2 * count);
    const again = overrideConfig(second, { ...entries(2), "rbac.permissions.r1_7": null });
    expect(Object.keys(again)).toHaveLength(2 * count);
    expect(again["rbac.permissions.r1_7"]).toBeNull();
    const replaced = overrideConfig(again, { "rbac.permissions": {} });
    expect(replaced).toEqual({ "rbac.permissions": {} });
    expect(
      Object.keys(normalizeConfig(second, { canCreateParent: () => true }).rbac as ConfigObject),
    ).toEqual(["permissions"]);
  });
});
