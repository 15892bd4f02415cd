/**
 * `npm run migrations:compat` — the migration compatibility gate.
 *
 * In a rolling deploy the new migrations run while the previous release's code is still serving. This
 * gate replays that: it checks out the base (the parent of the newest commit that changed
 * `packages/server/migrations`, or HEAD when the working tree changes them), gives it the *current*
 * migrations, and runs the base's test suite against them (back-compat). When that fails it also runs
 * the current code against only the base's migrations (forward-compat), so the author sees which side
 * breaks. Prints one verdict line; exits 1 on failure.
 *
 * The base's tests are frozen: one of them that is flaky cannot be mended there. So the files with
 * failing tests run once more, and failures that all pass on that second run are reported as flaky,
 * not as a broken release. A real incompatibility fails both times.
 *
 * `LATCHKEY_COMPAT_TEST_FILTER` (space-separated vitest filters) narrows the suites; the gate's own
 * test uses it to stay fast.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const MIGRATIONS = "packages/server/migrations";
/**
 * Tests that check the code against its own migrations, not compatibility across releases, and the
 * gate's own test (it runs the gate, twice over, in a minute of child processes).
 */
const EXCLUDED_TESTS = [
  "**/schema-drift.test.ts",
  "**/tools/migrations-compat.test.ts",
  "**/node_modules/**",
];

interface SuiteResult {
  passed: boolean;
  passedCount: number;
  failed: string[];
  /** The test files the failures are in (empty when the run failed without naming one). */
  failedFiles: string[];
  /** Errors raised outside any test (vitest's "Unhandled Errors"): a rerun of files cannot clear them. */
  unhandledErrors: boolean;
  seconds: number;
  logFile: string;
}

const repo = git(["rev-parse", "--show-toplevel"], process.cwd());
const started = Date.now();
const base = findBase();
if (typeof base !== "string") {
  console.log(`migrations:compat PASS — ${base.reason}`);
  process.exit(0);
}

const work = mkdtempSync(path.join(os.tmpdir(), "latchkey-compat-"));
// As root, embedded PostgreSQL runs as the `postgres` user, who must reach the binaries in node_modules.
chmodSync(work, 0o755);
const baseTree = path.join(work, "base");
let exitCode = 1;
try {
  git(["worktree", "add", "--detach", baseTree, base]);
  install(baseTree);
  const baseMigrations = path.join(work, "base-migrations");
  cpSync(path.join(baseTree, MIGRATIONS), baseMigrations, { recursive: true });
  rmSync(path.join(baseTree, MIGRATIONS), { recursive: true, force: true });
  cpSync(path.join(repo, MIGRATIONS), path.join(baseTree, MIGRATIONS), { recursive: true });

  const short = git(["rev-parse", "--short", base]);
  console.log(`Back-compat: the code of ${short} on the current migrations…`);
  const back = runSuite(baseTree, {}, path.join(work, "back-compat"));
  const again = back.passed ? null : secondRun(back, baseTree);
  const flaky = back.passed ? [] : again?.passed ? back.failed : null;
  if (flaky) {
    // The second run's files passed whole; the first run's count already has their other tests.
    const secondRunNote = again
      ? `, then the ${again.passedCount} tests of its files with failures on a second run`
      : "";
    console.log(
      `migrations:compat PASS — back-compat: ${short}'s code passed ${back.passedCount} tests on the current migrations${secondRunNote} (${back.seconds} s; gate total ${seconds(started)} s)`,
    );
    if (flaky.length > 0) {
      console.log(`Flaky in ${short} (failed once, passed on a second run):`);
      for (const name of flaky) console.log(`  - ${name}`);
    }
    exitCode = 0;
  } else {
    console.log("Forward-compat: the current code on the base's migrations…");
    const forward = runSuite(
      repo,
      { LATCHKEY_MIGRATIONS_DIR: baseMigrations },
      path.join(work, "forward-compat"),
    );
    console.log(
      `migrations:compat FAIL — back-compat: ${short}'s code fails ${back.failed.length} test(s) on the current migrations; forward-compat (current code on ${short}'s migrations): ${forward.passed ? "pass" : `fails ${forward.failed.length} test(s)`}`,
    );
    console.log(`Back-compat failures (the previous release would break during a rolling deploy):`);
    for (const name of back.failed) console.log(`  - ${name}`);
    if (!forward.passed) {
      console.log("Forward-compat failures:");
      for (const name of forward.failed) console.log(`  - ${name}`);
    }
    console.log(`Logs: ${back.logFile}${forward.passed ? "" : `, ${forward.logFile}`}`);
    console.log("See docs/migrations.md: expand in one release, contract in a later one.");
  }
} finally {
  spawnSync("git", ["worktree", "remove", "--force", baseTree], { cwd: repo });
  if (exitCode === 0) rmSync(work, { recursive: true, force: true });
}
process.exit(exitCode);

function findBase(): string | { reason: string } {
  const dirty = git(["status", "--porcelain", "--", MIGRATIONS]) !== "";
  let candidate = "HEAD";
  if (!dirty) {
    const newest = git(["log", "-1", "--format=%H", "--", MIGRATIONS]);
    if (!newest) return { reason: "no migration has been committed yet" };
    const parent = spawnSync("git", ["rev-parse", "--verify", "-q", `${newest}^`], {
      cwd: repo,
      encoding: "utf8",
    });
    if (parent.status !== 0 && git(["rev-parse", "--is-shallow-repository"]) === "true") {
      return {
        reason:
          "SKIPPED — this is a shallow clone without the base commit; fetch full history to run the gate",
      };
    }
    if (parent.status !== 0) {
      return {
        reason:
          "the migrations were introduced by the first commit: there is no earlier release to stay compatible with",
      };
    }
    candidate = parent.stdout.trim();
  }
  if (git(["ls-tree", "-d", candidate, MIGRATIONS]) === "") {
    return {
      reason: `the base (${git(["rev-parse", "--short", candidate])}) has no migrations folder yet: this is the first release with migrations`,
    };
  }
  return candidate;
}

/**
 * Same lockfile: hard-link the installed dependencies (seconds, not minutes). Otherwise `npm ci`; if the
 * base's lock file cannot be installed on this machine, fall back to the current dependencies and say so.
 */
function install(tree: string): void {
  const linkCurrent = () =>
    spawnSync("cp", ["-al", path.join(repo, "node_modules"), path.join(tree, "node_modules")]).status === 0;
  const sameLock =
    existsSync(path.join(repo, "node_modules")) &&
    readFileSync(path.join(repo, "package-lock.json"), "utf8") ===
      readFileSync(path.join(tree, "package-lock.json"), "utf8");
  if (sameLock && linkCurrent()) return;
  const result = spawnSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: tree, stdio: "inherit" });
  if (result.status === 0) return;
  rmSync(path.join(tree, "node_modules"), { recursive: true, force: true });
  if (!linkCurrent()) throw new Error(`npm ci failed in ${tree}`);
  console.log("The base's lock file does not install here; running its tests with the current dependencies.");
}

/** Whether every file with a failing test passes when run again. */
function secondRun(first: SuiteResult, baseTree: string): SuiteResult | null {
  if (first.failedFiles.length === 0 || first.unhandledErrors) return null;
  console.log(`Running again the base's files with failures: ${first.failedFiles.join(", ")}…`);
  return runSuite(baseTree, {}, path.join(work, "back-compat-again"), first.failedFiles);
}

function runSuite(
  cwd: string,
  env: Record<string, string>,
  outputPrefix: string,
  files?: readonly string[],
): SuiteResult {
  const jsonFile = `${outputPrefix}.json`;
  const logFile = `${outputPrefix}.log`;
  const filters = files ?? (process.env.LATCHKEY_COMPAT_TEST_FILTER ?? "").split(/\s+/).filter(Boolean);
  const t0 = Date.now();
  const args = [
    path.join(cwd, "node_modules/vitest/vitest.mjs"),
    "run",
    ...filters,
    ...EXCLUDED_TESTS.flatMap((pattern) => ["--exclude", pattern]),
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${jsonFile}`,
  ];
  const result = spawnSync(process.execPath, args, {
    cwd,
    env: { ...cleanEnvironment(), ...env },
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  const output = `${result.stdout}\n${result.stderr}`;
  writeFileSync(logFile, output);
  const report = existsSync(jsonFile) ? JSON.parse(readFileSync(jsonFile, "utf8")) : null;
  const failed: string[] = [];
  const failedFiles = new Set<string>();
  let passedCount = 0;
  for (const file of report?.testResults ?? []) {
    const relative = path.relative(cwd, file.name);
    for (const test of file.assertionResults ?? []) {
      if (test.status === "passed") passedCount++;
      if (test.status === "failed") {
        failed.push(`${relative} > ${test.fullName}`);
        failedFiles.add(relative);
      }
    }
    const anyFailed = (file.assertionResults ?? []).some(
      (test: { status: string }) => test.status === "failed",
    );
    if (file.status === "failed" && !anyFailed) {
      // The file failed outside any test (a beforeAll, an import): name the file and the reason.
      failed.push(`${relative} (suite failed: ${String(file.message ?? "").split("\n")[0]})`);
      failedFiles.add(relative);
    }
  }
  if (result.status !== 0 && failed.length === 0)
    failed.push(`test run exited with ${result.status} (see ${logFile})`);
  // A suite that ran nothing proves nothing.
  if (passedCount === 0 && failed.length === 0) failed.push(`no test ran (see ${logFile})`);
  return {
    passed: result.status === 0 && failed.length === 0,
    passedCount,
    failed,
    failedFiles: [...failedFiles],
    unhandledErrors: /Vitest caught \d+ unhandled errors?/.test(output),
    seconds: seconds(t0),
    logFile,
  };
}

/**
 * The environment for a suite: the caller's, minus what would point it at the caller's world — its
 * database, another migrations folder, and the variables of an enclosing npm or vitest process.
 */
function cleanEnvironment(): NodeJS.ProcessEnv {
  const inherited = { ...process.env };
  const foreign =
    /^(npm_|VITEST|TINYPOOL|INIT_CWD$|DATABASE_URL$|LATCHKEY_MIGRATIONS_DIR$|NODE_ENV$|TEST$|MODE$|SSR$|DEV$|PROD$|BASE_URL$)/;
  for (const key of Object.keys(inherited)) if (foreign.test(key)) delete inherited[key];
  return inherited;
}

function git(args: string[], cwd = repo): string {
  return execFileSync("git", args, { cwd, encoding: "utf8" }).trim();
}

function seconds(since: number): number {
  return Math.round((Date.now() - since) / 100) / 10;
}
