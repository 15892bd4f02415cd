import {
  type ConfigLevel,
  type ConfigObject,
  configOverrideErrors,
  isPlainObject,
  migrateConfigOverride,
  overrideConfig,
  removeConfigKeys,
  schemaForLevel,
} from "@latchkey/contracts";
import { type RawBuilder, sql, type Transaction } from "kysely";
import type { Database, DatabaseHandle } from "../../db/database.ts";
import { StatusError } from "../../errors/index.ts";
import { signUpRuleConditionErrors } from "../auth/sign-up-rules.ts";

const MAX_OVERRIDE_BYTES = 5 * 1024 * 1024;
/**
 * The config schema is a few levels deep; a deeper override is refused before anything recursive (key
 * migration, serialisation) walks it and runs out of stack.
 */
const MAX_OVERRIDE_DEPTH = 32;

/** How deeply objects and arrays nest in a parsed JSON value, walked without recursion. */
function nestingDepth(value: unknown): number {
  let deepest = 0;
  const pending: [unknown, number][] = [[value, 1]];
  while (pending.length > 0) {
    const [current, depth] = pending.pop()!;
    if (typeof current !== "object" || current === null) continue;
    deepest = Math.max(deepest, depth);
    for (const child of Object.values(current)) pending.push([child, depth + 1]);
  }
  return deepest;
}

export type BranchSource =
  | {
      type: "pushed-from-github";
      owner: string;
      repo: string;
      branch: string;
      commit_hash: string;
      config_file_path: string;
    }
  | { type: "pushed-from-unknown" }
  | { type: "unlinked" };

/** Parses a config override sent as a JSON string, migrates old keys and rejects invalid ones (text 400). */
export function parseOverride(level: ConfigLevel, text: string): ConfigObject {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new StatusError(400, "Invalid config JSON");
  }
  if (!isPlainObject(parsed)) throw new StatusError(400, "Config override must be a non-null object.");
  if (nestingDepth(parsed) > MAX_OVERRIDE_DEPTH) {
    throw new StatusError(
      400,
      `Config override is nested too deeply (at most ${MAX_OVERRIDE_DEPTH} levels).`,
    );
  }
  const migrated = migrateConfigOverride(level, parsed);
  const errors = configOverrideErrors(schemaForLevel(level), migrated);
  if (errors.length === 0) errors.push(...signUpRuleConditionErrors(migrated));
  if (errors.length > 0) throw new StatusError(400, errors.join("\n"));
  return migrated;
}

export type Change = (current: ConfigObject) => ConfigObject;

/**
 * Read-modify-write of one level's override under a row lock, so two concurrent PATCHes cannot lose
 * each other's keys (upstream's merge is not transactional).
 */
export async function changeOverride(
  database: DatabaseHandle,
  level: ConfigLevel,
  target: { projectId: string; branchId: string },
  change: Change,
  source?: BranchSource,
  /** More writes that must commit with the change, or not at all (run after it, under the lock). */
  alongside?: (trx: Transaction<Database>) => Promise<void>,
): Promise<void> {
  await database.db.transaction().execute(async (trx) => {
    const current = await lockedOverride(trx, level, target);
    const next = change(migrateConfigOverride(level, current));
    const serialized = JSON.stringify(next);
    if (Buffer.byteLength(serialized) > MAX_OVERRIDE_BYTES) {
      throw new StatusError(
        400,
        `The ${level} config override for project ${target.projectId} is too large.`,
      );
    }
    if (level === "project") {
      await trx
        .updateTable("projects")
        .set({ config_override: serialized, updated_at: new Date() })
        .where("id", "=", target.projectId)
        .execute();
    } else {
      // Only a branch records where its config came from.
      const withSource = level === "branch" && source ? { source: JSON.stringify(source) } : {};
      await trx
        .insertInto(OVERRIDE_TABLES[level])
        .values({
          project_id: target.projectId,
          branch_id: target.branchId,
          config: serialized,
          ...withSource,
        })
        .onConflict((oc) =>
          oc
            .columns(["project_id", "branch_id"])
            .doUpdateSet({ config: serialized, updated_at: new Date(), ...withSource }),
        )
        .execute();
    }
    await alongside?.(trx);
  });
}

export const patchWith =
  (patch: ConfigObject): Change =>
  (current) =>
    overrideConfig(current, patch);
export const replaceWith =
  (replacement: ConfigObject): Change =>
  () =>
    replacement;
export const removeKeys =
  (keys: readonly string[]): Change =>
  (current) =>
    removeConfigKeys(current, keys);

export async function setBranchSource(
  database: DatabaseHandle,
  target: { projectId: string; branchId: string },
  source: BranchSource,
): Promise<void> {
  await database.db
    .insertInto("branch_config_overrides")
    .values({ project_id: target.projectId, branch_id: target.branchId, source: JSON.stringify(source) })
    .onConflict((oc) =>
      oc.columns(["project_id", "branch_id"]).doUpdateSet({ source: JSON.stringify(source) }),
    )
    .execute();
}

/**
 * The environment override as it is now, held against changes until the transaction ends: for a write
 * that must not land on config a concurrent change has just made stale (a grant of a permission being
 * deleted). An environment without an override row gets an empty one, so there is a row to hold.
 */
export async function sharedEnvironmentOverride(
  trx: Transaction<Database>,
  target: { projectId: string; branchId: string },
): Promise<ConfigObject> {
  return migrateConfigOverride("environment", await lockedOverride(trx, "environment", target, sql`SHARE`));
}

/** Where the branch and environment overrides live: a row per (project, branch); a project's is a column. */
const OVERRIDE_TABLES = {
  branch: "branch_config_overrides",
  environment: "environment_config_overrides",
} as const;

/** One level's override, locked `FOR UPDATE` (to change it) or `FOR SHARE` (to write on top of it). */
async function lockedOverride(
  trx: Transaction<Database>,
  level: ConfigLevel,
  target: { projectId: string; branchId: string },
  mode = sql`UPDATE`,
): Promise<ConfigObject> {
  let query: RawBuilder<{ config: unknown }>;
  if (level === "project") {
    query = sql`SELECT config_override AS config FROM projects WHERE id = ${target.projectId} FOR ${mode}`;
  } else {
    const table = OVERRIDE_TABLES[level];
    // A missing row locks nothing: made first (empty), so that concurrent changes queue on it.
    await trx
      .insertInto(table)
      .values({ project_id: target.projectId, branch_id: target.branchId })
      .onConflict((oc) => oc.columns(["project_id", "branch_id"]).doNothing())
      .execute();
    query = sql`SELECT config FROM ${sql.table(table)}
                 WHERE project_id = ${target.projectId} AND branch_id = ${target.branchId} FOR ${mode}`;
  }
  const { rows } = await query.execute(trx);
  const config = rows[0]?.config;
  return isPlainObject(config) ? config : {};
}
