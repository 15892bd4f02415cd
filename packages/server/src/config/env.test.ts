import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readServerEnv, resolveDataDir } from "./env.ts";

/** Where the data lives, as `npm start` (run from the server package) and `npx latchkey` see it. */
describe("the data directory", () => {
  let root: string;
  let serverPackage: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), "latchkey-env-"));
    serverPackage = path.join(root, "packages", "server");
    mkdirSync(serverPackage, { recursive: true });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("is .latchkey in the folder the command was typed in, whichever folder npm runs the script from", () => {
    // `npm start` in the root: npm runs the workspace script in packages/server, INIT_CWD is the root.
    expect(resolveDataDir({ INIT_CWD: root }, serverPackage)).toBe(path.join(root, ".latchkey"));
    // `npx latchkey` in the root runs there.
    expect(resolveDataDir({ INIT_CWD: root }, root)).toBe(path.join(root, ".latchkey"));
    // Run without npm (node bin/latchkey.js): the current folder.
    expect(resolveDataDir({}, serverPackage)).toBe(path.join(serverPackage, ".latchkey"));
  });

  it("takes a relative LATCHKEY_DATA_DIR from the folder the command was typed in, an absolute one as it is", () => {
    expect(resolveDataDir({ INIT_CWD: root, LATCHKEY_DATA_DIR: "data" }, serverPackage)).toBe(
      path.join(root, "data"),
    );
    expect(resolveDataDir({ INIT_CWD: root, LATCHKEY_DATA_DIR: "/srv/latchkey" }, serverPackage)).toBe(
      "/srv/latchkey",
    );
  });

  it("keeps using data an earlier release put in the server package's folder, until there is data in the new place", () => {
    mkdirSync(path.join(serverPackage, ".latchkey"));
    expect(resolveDataDir({ INIT_CWD: root }, serverPackage)).toBe(path.join(serverPackage, ".latchkey"));
    // The CLI typed in the root (npx latchkey …) finds it too, and so does a relative LATCHKEY_DATA_DIR.
    expect(resolveDataDir({ INIT_CWD: root }, root)).toBe(path.join(serverPackage, ".latchkey"));
    mkdirSync(path.join(serverPackage, "data"));
    expect(resolveDataDir({ INIT_CWD: root, LATCHKEY_DATA_DIR: "data" }, serverPackage)).toBe(
      path.join(serverPackage, "data"),
    );
    mkdirSync(path.join(root, ".latchkey"));
    expect(resolveDataDir({ INIT_CWD: root }, serverPackage)).toBe(path.join(root, ".latchkey"));
  });

  it("puts analytics inside it unless LATCHKEY_ANALYTICS_DIR says otherwise", () => {
    const cwd = process.cwd();
    process.chdir(serverPackage);
    try {
      expect(readServerEnv({ INIT_CWD: root }).analyticsDir).toBe(path.join(root, ".latchkey", "analytics"));
      expect(readServerEnv({ INIT_CWD: root, LATCHKEY_ANALYTICS_DIR: "chdb" }).analyticsDir).toBe(
        path.join(root, "chdb"),
      );
    } finally {
      process.chdir(cwd);
    }
  });
});
