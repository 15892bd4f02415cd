import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const gateScript = path.join(projectRoot, "packages/server/tools/migrations-compat.ts");
// One HTTP-level file that reads project columns keeps each gate run to seconds.
const SUITE = "packages/server/src/features/projects/projects.test.ts";

let work: string;
let repo: string;
let baseCommit: string;

const git = (...args: string[]) => execFileSync("git", args, { cwd: repo, encoding: "utf8" }).trim();

/** A throw-away git repository holding the project as it is now (committed or not), as the base. */
beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), "latchkey-gate-test-"));
  chmodSync(work, 0o755);
  repo = path.join(work, "repo");
  const files = execFileSync("git", ["ls-files", "-co", "--exclude-standard"], {
    cwd: projectRoot,
    encoding: "utf8",
  })
    .split("\n")
    // A tracked file deleted in the working tree is listed too; the copy is of the tree as it is.
    .filter((file) => file !== "" && existsSync(path.join(projectRoot, file)));
  for (const file of files) {
    mkdirSync(path.dirname(path.join(repo, file)), { recursive: true });
    cpSync(path.join(projectRoot, file), path.join(repo, file));
  }
  execFileSync("cp", ["-al", path.join(projectRoot, "node_modules"), path.join(repo, "node_modules")]);
  git("init", "-q", "-b", "main");
  git("config", "user.email", "gate@test.invalid");
  git("config", "user.name", "gate test");
  git("add", "-A");
  git("commit", "-qm", "base release");
  baseCommit = git("rev-parse", "HEAD");
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function commitMigration(name: string, sql: string): void {
  const folder = path.join(repo, "packages/server/migrations", `29990101000000_${name}`);
  mkdirSync(folder, { recursive: true });
  writeFileSync(path.join(folder, "migration.sql"), sql);
  git("add", "-A");
  git("commit", "-qm", name);
}

function runGate(): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, ["--import", "tsx", gateScript], {
    cwd: repo,
    env: { ...process.env, LATCHKEY_COMPAT_TEST_FILTER: SUITE },
    encoding: "utf8",
  });
  return { status: result.status, output: `${result.stdout}\n${result.stderr}` };
}

describe("migration compatibility gate", () => {
  afterEach(() => {
    // Back to the base release, whatever the test committed.
    git("reset", "-q", "--hard", baseCommit);
  });

  it("fails a migration that drops a column the base code reads, naming the broken test", () => {
    commitMigration("drop_project_description", "ALTER TABLE projects DROP COLUMN description;\n");
    const gate = runGate();
    expect(gate.output).toMatch(/migrations:compat FAIL — back-compat/);
    // Creating a project writes `description`: the base's suite breaks in its setup, and the gate says where.
    expect(gate.output).toContain(
      `${SUITE} (suite failed: column "description" of relation "projects" does not exist)`,
    );
    expect(gate.output).toMatch(/forward-compat \(current code on \w+'s migrations\): pass/);
    expect(gate.status).toBe(1);
  }, 240_000);

  it("names the individual test that breaks", () => {
    commitMigration("drop_onboarding_status", "ALTER TABLE projects DROP COLUMN onboarding_status;\n");
    const gate = runGate();
    expect(gate.output).toMatch(/migrations:compat FAIL — back-compat: \w+'s code fails 1 test\(s\)/);
    expect(gate.output).toContain(`${SUITE} > /internal/projects/current reads and updates the admin view`);
    expect(gate.status).toBe(1);
  }, 240_000);

  it("passes a migration that adds a nullable column", () => {
    commitMigration("add_project_tagline", "ALTER TABLE projects ADD COLUMN tagline text;\n");
    const gate = runGate();
    expect(gate.output).toMatch(
      /migrations:compat PASS — back-compat: \w+'s code passed [1-9]\d* tests on the current migrations/,
    );
    expect(gate.status).toBe(0);
  }, 240_000);

  it("passes when there is no earlier release", () => {
    const gate = runGate();
    expect(gate.output).toContain(
      "migrations:compat PASS — the migrations were introduced by the first commit",
    );
    expect(gate.status).toBe(0);
  }, 60_000);
});
