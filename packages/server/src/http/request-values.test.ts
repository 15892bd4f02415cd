import { describe, expect, it } from "vitest";
import { MAX_NESTING_DEPTH, prepareRequestValue } from "./request-values.ts";

const nested = (depth: number): unknown => {
  let value: unknown = "leaf";
  for (let i = 0; i < depth; i++) value = i % 2 ? { a: value } : [value];
  return value;
};
const problemIn = (part: "body" | "query" | "params", value: unknown, textIsStored = true) =>
  prepareRequestValue(part, value, textIsStored).problem;

describe("prepareRequestValue", () => {
  it("lets every well-formed string through unchanged, astral characters included", () => {
    const body = { name: "Zoë 😀", tags: ["ok", { ключ: "値" }] };
    expect(prepareRequestValue("body", body, true)).toEqual({
      value: { name: "Zoë 😀", tags: ["ok", { ключ: "値" }] },
      problem: null,
    });
    expect(problemIn("query", { q: "" })).toBeNull();
    expect(problemIn("body", undefined)).toBeNull();
    expect(problemIn("body", Buffer.from([0, 0xd8, 0]))).toBeNull();
  });

  it("names where a NUL sits, in values and in property names", () => {
    expect(problemIn("body", { user: { display_name: "a\u0000b" } })).toBe(
      "body.user.display_name must not contain NUL characters (\\u0000)",
    );
    expect(problemIn("body", { list: ["fine", "\u0000"] })).toContain("body.list[1] must not");
    expect(problemIn("body", { meta: { "x\u0000": 1 } })).toContain("body.meta.x\u0000 (its name) must not");
    expect(problemIn("params", { id: "\u0000" })).toContain("params.id must not");
    expect(problemIn("body", "\u0000")).toContain("body must not");
  });

  it("repairs a string cut in the middle of an emoji, as the database driver would store it", () => {
    const body = { display_name: "smile \ud83d", meta: { "\ude00key": ["x\ud800y"] } };
    expect(prepareRequestValue("body", body, true)).toEqual({
      value: { display_name: "smile \ufffd", meta: { "\ufffdkey": ["x\ufffdy"] } },
      problem: null,
    });
    expect(prepareRequestValue("body", "\udc00", true).value).toBe("\ufffd");
  });

  it("leaves the text of routes that store it elsewhere as sent, but never takes any depth", () => {
    const body = { data: "\u0000\ud800" };
    expect(prepareRequestValue("body", body, false)).toEqual({
      value: { data: "\u0000\ud800" },
      problem: null,
    });
    expect(problemIn("body", nested(MAX_NESTING_DEPTH + 1), false)).toContain(
      `is nested more than ${MAX_NESTING_DEPTH} levels deep`,
    );
  });

  it("stops at the depth limit without recursing, however deep the value", () => {
    expect(problemIn("body", nested(MAX_NESTING_DEPTH))).toBeNull();
    expect(problemIn("body", nested(MAX_NESTING_DEPTH + 1))).toBe(
      `body is nested more than ${MAX_NESTING_DEPTH} levels deep`,
    );
    expect(problemIn("body", nested(200_000))).toContain("nested more than");
  });

  it("takes a route's own depth limit", () => {
    expect(prepareRequestValue("body", nested(2048), false, 2048).problem).toBeNull();
    expect(prepareRequestValue("body", nested(2049), false, 2048).problem).toBe(
      "body is nested more than 2048 levels deep",
    );
  });
});
