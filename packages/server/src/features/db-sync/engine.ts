import { sql } from "kysely";
import type pg from "pg";
import { to as copyTo } from "pg-copy-streams";
import type { AppContext } from "../../app-context.ts";
import { isMissingReference } from "../../db/database.ts";
import { onConnection } from "../../db/single-connection.ts";
import type { Db } from "../users/records.ts";
import { ClickHouseTarget } from "./clickhouse-target.ts";
import {
  changesCopy,
  changesJsonQuery,
  liveRowsCopy,
  type Mapping,
  mappings,
  TOMBSTONES_IN_RANGE,
} from "./mappings.ts";
import { PostgresTarget } from "./postgres-target.ts";
import {
  type ExternalDatabase,
  enqueueDatabaseSync,
  externalDatabasesOf,
  type SyncJobPayload,
} from "./queue.ts";
import type { ChangePage, SyncTarget, TargetOptions } from "./target.ts";
import { telemetry } from "./telemetry.ts";

/** Changes per target transaction: large enough that a backfill streams, small enough to retry cheaply. */
export const PAGE_SIZE = 50_000;

/** Open connections to customers' databases, by connection string, shared by the jobs of a process. */
const targets = new Map<string, SyncTarget>();

/**
 * What this process knows of each target, so that a run skips the mappings nothing changed in: the
 * cursor it last wrote (runs of one target are serialised, so it is current) and the tables it has
 * seen exist. A failed run forgets both for its target.
 */
const knownCursors = new Map<string, string>();
const ensuredTables = new Set<string>();

function forgetTarget(targetKey: string): void {
  for (const key of knownCursors.keys()) if (key.startsWith(`${targetKey}|`)) knownCursors.delete(key);
  for (const key of ensuredTables) if (key.startsWith(`${targetKey}|`)) ensuredTables.delete(key);
}

/** The newest sequence id among a tenancy's rows and tombstones of the mapping's source table. */
async function latestSequence(
  connection: pg.PoolClient,
  tenancyId: string,
  mapping: Mapping,
): Promise<string> {
  const { rows } = await connection.query<{ latest: string }>(
    `SELECT greatest(
       (SELECT max(sync_seq) FROM ${mapping.sourceTable} WHERE tenancy_id = $1),
       (SELECT max(sync_seq) FROM sync_deleted_rows WHERE tenancy_id = $1 AND table_name = $2),
       0)::text AS latest`,
    [tenancyId, mapping.sourceTable],
  );
  return rows[0]!.latest;
}

export const openTarget = (
  type: "postgres" | "clickhouse",
  connectionString: string,
  options: TargetOptions = {},
): SyncTarget =>
  type === "postgres"
    ? new PostgresTarget(connectionString, options)
    : new ClickHouseTarget(connectionString, options);

export async function closeTargets(): Promise<void> {
  const open = [...targets.values()];
  targets.clear();
  knownCursors.clear();
  ensuredTables.clear();
  await Promise.all(open.map((target) => target.close().catch(() => {})));
}

/**
 * One sync run of a (tenancy, external database): for each mapping, pages of changes after the
 * target's cursor are applied in sequence order until none are left. A failure is recorded and the
 * run is re-queued with exponential backoff (1 s, 2 s, 4 s … 60 s); the next run resumes from the
 * cursor, so nothing is lost and nothing applied twice.
 *
 * A run works on one connection of its own: it holds the run's lock, reads the changes and records
 * a success. So a run never waits on the pool while it holds a connection, except for the second one
 * a bulk page streams from.
 */
export async function runSync(app: AppContext, payload: SyncJobPayload): Promise<void> {
  // Looked up before the run's connection is taken: the config may come from the pool.
  const database = (await externalDatabasesOf(app, payload.tenancyId)).find(
    (d) => d.id === payload.databaseId,
  );
  if (!database) return; // removed from the config since it was queued
  if (await deliveryPaused(app.database.db, payload.tenancyId)) return; // resuming queues it again
  const connection = await app.database.pool.connect();
  const onRunConnection = onConnection(connection);
  let failure: { error: unknown } | null = null;
  try {
    // One run per (tenancy, database) at a time, across processes: a delete applied by one run could
    // otherwise be undone by an older insert of another. The lock dies with its connection, so a
    // killed worker never leaves it held.
    const key = `db-sync:${payload.tenancyId}:${payload.databaseId}`;
    const acquired = await connection.query("SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok", [
      key,
    ]);
    if (!acquired.rows[0].ok) {
      // Another run is busy with this target: look again right after it.
      await enqueueDatabaseSync(onRunConnection, payload, new Date(Date.now() + 100));
      return;
    }
    const started = performance.now();
    telemetry.engine.runs++;
    try {
      await syncOnce(app, payload, database, connection);
      await recordOutcome(app, onRunConnection, payload, null);
      telemetry.engine.last_run_at_millis = Date.now();
      telemetry.engine.last_run_duration_ms = performance.now() - started;
    } catch (error) {
      failure = { error };
      return;
    }
    await connection.query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [key]);
  } finally {
    // A failed run may have left its connection in the middle of a COPY: closed, not pooled, and the
    // lock goes with it.
    connection.release(failure !== null);
    if (failure) await recordFailure(app, payload, database, failure.error);
  }
}

async function syncOnce(
  app: AppContext,
  payload: SyncJobPayload,
  database: ExternalDatabase,
  connection: pg.PoolClient,
): Promise<void> {
  if (database.type !== "postgres" && database.type !== "clickhouse") {
    throw new Error(`External database "${database.id}" has no supported type (postgres or clickhouse).`);
  }
  if (!database.connectionString)
    throw new Error(`External database "${database.id}" has no connectionString.`);
  const targetKey = `${database.type} ${database.connectionString}`;
  let target = targets.get(targetKey);
  if (!target) {
    target = openTarget(database.type, database.connectionString);
    targets.set(targetKey, target);
  }
  for (const mapping of mappings) {
    const cacheKey = `${targetKey}|${payload.tenancyId}|${mapping.name}`;
    const known = knownCursors.get(cacheKey);
    // Most runs change one or two mappings: skip the others without a round trip to the target.
    if (
      known !== undefined &&
      BigInt(await latestSequence(connection, payload.tenancyId, mapping)) <= BigInt(known)
    ) {
      continue;
    }
    if (!ensuredTables.has(`${targetKey}|${mapping.name}`)) {
      await target.ensureTable(mapping);
      ensuredTables.add(`${targetKey}|${mapping.name}`);
    }
    let cursor = known ?? (await target.cursor(payload.tenancyId, mapping));
    // A first sync (or a refill) moves the whole table: offer targets the bulk form of each page
    // for as long as pages come back full.
    let bulk = cursor === "0";
    for (;;) {
      // The bulk rows stream from a connection of their own, closed afterwards: a bulk load the
      // target abandons half-way leaves that COPY unfinished, and the page is then read again.
      const bulkSource = bulk ? await app.database.pool.connect() : null;
      const page = await target
        .applyPage(
          payload.tenancyId,
          mapping,
          changePage(connection, bulkSource, mapping, payload.tenancyId, cursor),
        )
        .finally(() => bulkSource?.release(true));
      if (!page) break;
      telemetry.engine.rows_applied += page.count;
      cursor = page.lastSeq;
      if (page.count < PAGE_SIZE) {
        // A bulk page holds no tombstones: one ordinary page more picks up any after it.
        if (!bulk) break;
        bulk = false;
        continue;
      }
      bulk = true;
    }
    knownCursors.set(cacheKey, cursor);
  }
}

/** Records a failed run and queues the next with backoff, through the pool: the run holds nothing now. */
async function recordFailure(
  app: AppContext,
  payload: SyncJobPayload,
  database: ExternalDatabase,
  error: unknown,
): Promise<void> {
  // The target may have changed under us (a dropped table, a restored backup): look again next time.
  forgetTarget(`${database.type} ${database.connectionString}`);
  telemetry.engine.failed_runs++;
  const failures = await recordOutcome(app, app.database.db, payload, error);
  if (failures === null) return;
  const delayMs = Math.min(60_000, 1000 * 2 ** Math.min(failures - 1, 6));
  await enqueueDatabaseSync(app.database.db, payload, new Date(Date.now() + delayMs));
}

/** The changes after `cursor`, in every form a target may read them (and in bulk, with `bulkSource`). */
function changePage(
  source: pg.PoolClient,
  bulkSource: pg.PoolClient | null,
  mapping: Mapping,
  tenancyId: string,
  cursor: string,
): ChangePage {
  return {
    copyOut: () => source.query(copyTo(changesCopy(mapping, tenancyId, cursor, PAGE_SIZE))),
    jsonRows: async () => {
      const { rows } = await source.query<{ row: string }>(changesJsonQuery(mapping), [
        tenancyId,
        cursor,
        PAGE_SIZE,
      ]);
      return rows.map((row) => row.row);
    },
    bulk: bulkSource
      ? {
          copyLiveRows: () => bulkSource.query(copyTo(liveRowsCopy(mapping, tenancyId, cursor, PAGE_SIZE))),
          hasTombstonesUpTo: async (lastSeq) => {
            const { rows } = await source.query<{ found: boolean }>(TOMBSTONES_IN_RANGE, [
              tenancyId,
              mapping.sourceTable,
              cursor,
              lastSeq,
            ]);
            return rows[0]!.found;
          },
        }
      : undefined,
  };
}

async function deliveryPaused(db: Db, tenancyId: string): Promise<boolean> {
  const { rows } = await sql<{ paused: boolean }>`
    SELECT NOT f.delivery_enabled OR coalesce(p.delivery_paused, false) AS paused
    FROM sync_fusebox f LEFT JOIN sync_tenancy_pauses p ON p.tenancy_id = ${tenancyId}`.execute(db);
  return rows[0]?.paused ?? false;
}

/**
 * Stores the run's outcome for the status endpoint; returns the number of failures in a row, or null
 * when the tenancy is gone (its project deleted during the run): nothing is left to sync.
 */
async function recordOutcome(
  app: AppContext,
  db: Db,
  payload: SyncJobPayload,
  error: unknown,
): Promise<number | null> {
  const message = error === null ? null : error instanceof Error ? error.message : String(error);
  if (message) app.log(`db-sync ${payload.tenancyId}/${payload.databaseId}: ${message}`);
  const row = await db
    .insertInto("sync_target_states")
    .values({
      tenancy_id: payload.tenancyId,
      database_id: payload.databaseId,
      last_success_at: message ? null : new Date(),
      last_error: message,
      last_error_at: message ? new Date() : null,
      consecutive_failures: message ? 1 : 0,
    })
    .onConflict((conflict) =>
      conflict.columns(["tenancy_id", "database_id"]).doUpdateSet(
        message
          ? {
              last_error: message,
              last_error_at: new Date(),
              consecutive_failures: sql`sync_target_states.consecutive_failures + 1`,
            }
          : { last_success_at: new Date(), consecutive_failures: 0 },
      ),
    )
    .returning("consecutive_failures")
    .executeTakeFirstOrThrow()
    .catch((failure) => {
      if (isMissingReference(failure)) return null;
      throw failure;
    });
  return row?.consecutive_failures ?? null;
}
