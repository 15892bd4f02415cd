import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { runProcess } from "../test/child-process.ts";

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const gateScript = path.join(projectRoot, "packages/server/tools/migrations-compat.ts");
// One HTTP-level file that reads project columns keeps each gate run to seconds.
const SUITE = "packages/server/src/features/projects/projects.test.ts";

let work: string;
let repo: string;
let baseCommit: string;

async function run(command: string, args: string[], cwd: string): Promise<string> {
  const result = await runProcess(command, args, { cwd });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed: ${result.stderr}`);
  return result.stdout.trim();
}
const git = (...args: string[]) => run("git", args, repo);

/** A throw-away git repository holding the project as it is now (committed or not), as the base. */
beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), "latchkey-gate-test-"));
  chmodSync(work, 0o755);
  repo = path.join(work, "repo");
  const files = (await run("git", ["ls-files", "-co", "--exclude-standard"], projectRoot))
    .split("\n")
    // A tracked file deleted in the working tree is listed too; the copy is of the tree as it is.
    .filter((file) => file !== "" && existsSync(path.join(projectRoot, file)));
  for (const file of files) {
    mkdirSync(path.dirname(path.join(repo, file)), { recursive: true });
    cpSync(path.join(projectRoot, file), path.join(repo, file));
  }
  await run("cp", ["-al", path.join(projectRoot, "node_modules"), path.join(repo, "node_modules")], work);
  await git("init", "-q", "-b", "main");
  await git("config", "user.email", "gate@test.invalid");
  await git("config", "user.name", "gate test");
  await git("add", "-A");
  await git("commit", "-qm", "base release");
  baseCommit = await git("rev-parse", "HEAD");
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

async function commitMigration(name: string, sql: string): Promise<void> {
  const folder = path.join(repo, "packages/server/migrations", `29990101000000_${name}`);
  mkdirSync(folder, { recursive: true });
  writeFileSync(path.join(folder, "migration.sql"), sql);
  await git("add", "-A");
  await git("commit", "-qm", name);
}

async function runGate(filter = SUITE): Promise<{ status: number | null; output: string }> {
  const result = await runProcess(process.execPath, ["--import", "tsx", gateScript], {
    cwd: repo,
    // A failing gate keeps its logs in its temporary folder; inside ours, afterAll removes them.
    env: { ...process.env, LATCHKEY_COMPAT_TEST_FILTER: filter, TMPDIR: work },
  });
  return { status: result.status, output: `${result.stdout}\n${result.stderr}` };
}

describe("migration compatibility gate", () => {
  afterEach(async () => {
    // Back to the base release, whatever the test committed.
    await git("reset", "-q", "--hard", baseCommit);
  });

  it("fails a migration that drops a column the base code reads, naming the broken test", async () => {
    await commitMigration("drop_project_description", "ALTER TABLE projects DROP COLUMN description;\n");
    const gate = await runGate();
    expect(gate.output).toMatch(/migrations:compat FAIL — back-compat/);
    // Creating a project writes `description`: the base's suite breaks in its setup, and the gate says where.
    expect(gate.output).toContain(
      `${SUITE} (suite failed: column "description" of relation "projects" does not exist)`,
    );
    expect(gate.output).toMatch(/forward-compat \(current code on \w+'s migrations\): pass/);
    expect(gate.status).toBe(1);
  }, 240_000);

  it("names the individual test that breaks", async () => {
    await commitMigration("drop_onboarding_status", "ALTER TABLE projects DROP COLUMN onboarding_status;\n");
    const gate = await runGate();
    expect(gate.output).toMatch(/migrations:compat FAIL — back-compat: \w+'s code fails 1 test\(s\)/);
    expect(gate.output).toContain(`${SUITE} > /internal/projects/current reads and updates the admin view`);
    expect(gate.status).toBe(1);
  }, 240_000);

  it("passes a migration that adds a nullable column", async () => {
    await commitMigration("add_project_tagline", "ALTER TABLE projects ADD COLUMN tagline text;\n");
    const gate = await runGate();
    expect(gate.output).toMatch(
      /migrations:compat PASS — back-compat: \w+'s code passed [1-9]\d* tests on the current migrations/,
    );
    expect(gate.status).toBe(0);
  }, 240_000);

  it("passes when a base test fails once and passes when run again, naming it as flaky", async () => {
    const flakyFile = "packages/server/src/flaky-once.test.ts";
    writeFileSync(
      path.join(repo, flakyFile),
      [
        'import { existsSync, writeFileSync } from "node:fs";',
        'import os from "node:os";',
        'import path from "node:path";',
        'import { it } from "vitest";',
        'it("fails on its first run only", () => {',
        '  const marker = path.join(os.tmpdir(), "latchkey-flaky-once");',
        "  if (existsSync(marker)) return;",
        '  writeFileSync(marker, "");',
        '  throw new Error("first run");',
        "});",
        "",
      ].join("\n"),
    );
    await git("add", "-A");
    await git("commit", "-qm", "a flaky test");
    await commitMigration("add_project_motto", "ALTER TABLE projects ADD COLUMN motto text;\n");
    const gate = await runGate(flakyFile);
    expect(gate.output).toMatch(
      /migrations:compat PASS — back-compat: \w+'s code passed 0 tests on the current migrations, then the 1 tests of its files with failures on a second run/,
    );
    expect(gate.output).toMatch(/Flaky in \w+ \(failed once, passed on a second run\):/);
    expect(gate.output).toContain(`${flakyFile} > fails on its first run only`);
    expect(gate.status).toBe(0);
  }, 240_000);

  it("passes when there is no earlier release", async () => {
    const gate = await runGate();
    expect(gate.output).toContain(
      "migrations:compat PASS — the migrations were introduced by the first commit",
    );
    expect(gate.status).toBe(0);
  }, 60_000);
});
