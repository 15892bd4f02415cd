import { sql } from "kysely";
import type { AppContext } from "../../app-context.ts";
import { openTarget } from "./engine.ts";
import { changesQuery, mappings } from "./mappings.ts";
import { externalDatabasesOf, syncingTenancies } from "./queue.ts";
import { describeConnection } from "./redact.ts";
import { telemetry } from "./telemetry.ts";

/** How long the status page waits for a target's cursor before showing it as unknown. */
const STATUS_READ_TIMEOUT_MS = 5_000;

interface SequenceStats {
  total: string;
  pending: string;
  min_sequence_id: string | null;
  max_sequence_id: string | null;
}

const sequencedSources = {
  users: "users",
  contact_channels: "contact_channels",
  teams: "teams",
  team_members: "team_members",
  team_permissions: "team_member_permissions",
  project_permissions: "user_permissions",
  refresh_tokens: "sessions",
  connected_accounts: "oauth_accounts",
  deleted_rows: "sync_deleted_rows",
} as const;

/** Sequencer and queue figures of one tenancy, or of every tenancy when `tenancyId` is null. */
async function pipelineStats(db: AppContext["database"]["db"], tenancyId: string | null) {
  const inScope = tenancyId === null ? sql`true` : sql`tenancy_id = ${tenancyId}`;
  const sequencer: Record<string, SequenceStats> = {};
  for (const [key, table] of Object.entries(sequencedSources)) {
    const { rows } = await sql<SequenceStats>`
      SELECT count(*)::text AS total, count(*) FILTER (WHERE sync_dirty)::text AS pending,
             min(sync_seq)::text AS min_sequence_id, max(sync_seq)::text AS max_sequence_id
      FROM ${sql.table(table)} WHERE ${inScope}`.execute(db);
    sequencer[key] = rows[0]!;
  }
  const jobs = tenancyId === null ? "db-sync:%" : `db-sync:${tenancyId}:%`;
  const { rows } = await sql<{ total: string; pending: string; in_flight: string; oldest: Date | null }>`
    SELECT count(*)::text AS total, count(*) FILTER (WHERE locked_at IS NULL)::text AS pending,
           count(*) FILTER (WHERE locked_at IS NOT NULL)::text AS in_flight, min(created_at) AS oldest
    FROM graphile_worker.jobs WHERE task_identifier = 'db_sync' AND key LIKE ${jobs}`.execute(db);
  const queue = rows[0]!;
  return {
    sequencer,
    poller: {
      total: queue.total,
      pending: queue.pending,
      in_flight: queue.in_flight,
      oldest_created_at_millis: queue.oldest?.getTime() ?? null,
    },
  };
}

/**
 * The pipeline across every tenancy (`scope=all`, internal project only): how many tenancies sync,
 * and the sequencer and queue figures of all of them. No external database is contacted.
 */
export async function globalSyncStatus(
  app: AppContext,
  tenancy: { id: string; projectId: string; branchId: string },
) {
  const db = app.database.db;
  const stats = await pipelineStats(db, null);
  const { rows } = await sql<{ total: string }>`SELECT count(*)::text AS total FROM tenancies`.execute(db);
  return {
    ok: true,
    generated_at_millis: Date.now(),
    global: {
      tenancies_total: rows[0]!.total,
      tenancies_with_db_sync: String((await syncingTenancies(db)).length),
      ...stats,
    },
    tenancy: { id: tenancy.id, project_id: tenancy.projectId, branch_id: tenancy.branchId },
    ...stats,
    sync_engine: { external_databases: [] },
    telemetry,
  };
}

/**
 * The pipeline's state for one tenancy: what the sequencer has still to stamp, the queue, and per
 * external database and mapping how far its cursor is behind (in rows), its lag and its last error.
 * Big numbers are decimal strings, times epoch milliseconds, as upstream's status endpoint.
 */
export async function syncStatus(
  app: AppContext,
  tenancy: { id: string; projectId: string; branchId: string },
) {
  const db = app.database.db;
  const { sequencer, poller } = await pipelineStats(db, tenancy.id);
  const states = await db
    .selectFrom("sync_target_states")
    .selectAll()
    .where("tenancy_id", "=", tenancy.id)
    .execute();
  const pauses = await db
    .selectFrom("sync_tenancy_pauses")
    .selectAll()
    .where("tenancy_id", "=", tenancy.id)
    .executeTakeFirst();
  const fusebox = await db.selectFrom("sync_fusebox").selectAll().executeTakeFirst();

  const externalDatabases = [];
  for (const database of await externalDatabasesOf(app, tenancy.id)) {
    const state = states.find((s) => s.database_id === database.id);
    const entry = {
      id: database.id,
      type: database.type ?? null,
      connection: describeConnection(database.connectionString),
      status: "ok" as "ok" | "error",
      error: null as string | null,
      last_success_at_millis: state?.last_success_at?.getTime() ?? null,
      last_error: state?.last_error ?? null,
      last_error_at_millis: state?.last_error_at?.getTime() ?? null,
      consecutive_failures: state?.consecutive_failures ?? 0,
      mapping_status: [] as unknown[],
    };
    if (database.type && database.connectionString) {
      // A status page asks each target briefly, and gives up on one after its first unanswered read.
      const target = openTarget(database.type, database.connectionString, {
        timeoutMs: STATUS_READ_TIMEOUT_MS,
      });
      let answering = true;
      try {
        for (const mapping of mappings) {
          const cursor = answering
            ? await target.cursor(tenancy.id, mapping).catch(() => {
                answering = false;
                return null;
              })
            : null;
          const backlog =
            cursor === null
              ? null
              : (
                  await app.database.pool.query<{ n: string }>(
                    `SELECT count(*)::text AS n FROM (${changesQuery(mapping)}) pending`,
                    [tenancy.id, cursor, Number.MAX_SAFE_INTEGER],
                  )
                ).rows[0]!.n;
          entry.mapping_status.push({
            mapping_id: mapping.name,
            last_synced_sequence_id: cursor,
            backlog_rows: backlog,
            lag_ms:
              backlog !== null && backlog !== "0" && entry.last_success_at_millis
                ? Date.now() - entry.last_success_at_millis
                : 0,
          });
        }
      } catch (error) {
        entry.status = "error";
        entry.error = error instanceof Error ? error.message : String(error);
      } finally {
        await target.close();
      }
    } else {
      entry.status = "error";
      entry.error = database.type ? "no connectionString configured" : "no type configured";
    }
    if (entry.consecutive_failures > 0) entry.status = "error";
    externalDatabases.push(entry);
  }

  return {
    ok: true,
    generated_at_millis: Date.now(),
    tenancy: { id: tenancy.id, project_id: tenancy.projectId, branch_id: tenancy.branchId },
    fusebox: {
      sequencer_enabled: fusebox?.sequencer_enabled ?? true,
      delivery_enabled: fusebox?.delivery_enabled ?? true,
      project_sequencer_paused: pauses?.sequencer_paused ?? false,
      project_delivery_paused: pauses?.delivery_paused ?? false,
    },
    global: null,
    sequencer,
    poller,
    sync_engine: { external_databases: externalDatabases },
    // No `telemetry` here: those counters are the whole process's, every tenancy's writes included.
  };
}
