import { describe, expect, it } from "vitest";
import { MAX_NESTING_DEPTH, unstorableValueIn } from "./request-values.ts";

const nested = (depth: number): unknown => {
  let value: unknown = "leaf";
  for (let i = 0; i < depth; i++) value = i % 2 ? { a: value } : [value];
  return value;
};

describe("unstorableValueIn", () => {
  it("lets every well-formed string through, astral characters included", () => {
    expect(unstorableValueIn("body", { name: "Zoë 😀", tags: ["ok", { ключ: "値" }] }, true)).toBeNull();
    expect(unstorableValueIn("query", { q: "" }, true)).toBeNull();
    expect(unstorableValueIn("body", undefined, true)).toBeNull();
    expect(unstorableValueIn("body", Buffer.from([0, 0xd8, 0]), true)).toBeNull();
  });

  it("names where a NUL or an unpaired surrogate sits, in values and in property names", () => {
    expect(unstorableValueIn("body", { user: { display_name: "a\u0000b" } }, true)).toBe(
      "body.user.display_name must not contain NUL characters (\\u0000) or unpaired UTF-16 surrogates",
    );
    expect(unstorableValueIn("body", { list: ["fine", "\ud800"] }, true)).toContain("body.list[1] must not");
    expect(unstorableValueIn("body", { meta: { "\udc00x": 1 } }, true)).toContain(
      "body.meta.\udc00x (its name) must not",
    );
    expect(unstorableValueIn("params", { id: "\u0000" }, true)).toContain("params.id must not");
    expect(unstorableValueIn("body", "\u0000", true)).toContain("body must not");
  });

  it("lets routes that store text elsewhere take any string, but never any depth", () => {
    expect(unstorableValueIn("body", { data: "\u0000\ud800" }, false)).toBeNull();
    expect(unstorableValueIn("body", nested(MAX_NESTING_DEPTH + 1), false)).toContain(
      `is nested more than ${MAX_NESTING_DEPTH} levels deep`,
    );
  });

  it("stops at the depth limit without recursing, however deep the value", () => {
    expect(unstorableValueIn("body", nested(MAX_NESTING_DEPTH), true)).toBeNull();
    expect(unstorableValueIn("body", nested(MAX_NESTING_DEPTH + 1), true)).toBe(
      `body is nested more than ${MAX_NESTING_DEPTH} levels deep`,
    );
    expect(unstorableValueIn("body", nested(200_000), true)).toContain("nested more than");
  });
});
