import { sql } from "kysely";
import type { AppContext } from "../../app-context.ts";
import type { Db } from "../users/records.ts";

export const SYNC_TASK = "db_sync";

export interface SyncJobPayload {
  tenancyId: string;
  databaseId: string;
}

export interface ExternalDatabase {
  id: string;
  type: "postgres" | "clickhouse" | undefined;
  connectionString: string | undefined;
}

/** A tenancy's configured external databases (from the cached project config). */
export async function externalDatabasesOf(app: AppContext, tenancyId: string): Promise<ExternalDatabase[]> {
  const tenancy = await app.database.db
    .selectFrom("tenancies")
    .select(["project_id", "branch_id"])
    .where("id", "=", tenancyId)
    .executeTakeFirst();
  if (!tenancy) return [];
  const project = await app.projects.get(tenancy.project_id);
  const config = project?.branches.get(tenancy.branch_id)?.config;
  return Object.entries(config?.dbSync.externalDatabases ?? {}).map(([id, database]) => ({
    id,
    type: database.type,
    connectionString: database.connectionString,
  }));
}

/**
 * Queues a sync of each of the tenancy's external databases, in the caller's transaction. A job's key is
 * the pair (tenancy, database), so queued jobs for one pair collapse into one. (Runs of one pair are
 * serialised by an advisory lock in the run, not by a named job queue: a queue locked by a killed
 * worker would stay locked for hours, a lock dies with its connection.)
 */
export async function enqueueTenancySync(app: AppContext, db: Db, tenancyId: string): Promise<void> {
  for (const database of await externalDatabasesOf(app, tenancyId)) {
    await enqueueDatabaseSync(db, { tenancyId, databaseId: database.id });
  }
}

/** Queues a sync of every tenancy that has external databases (start-up, a global resume). */
export async function enqueueEverySync(app: AppContext): Promise<void> {
  for (const tenancy of await syncingTenancies(app.database.db)) {
    await enqueueTenancySync(app, app.database.db, tenancy.id);
  }
}

export async function enqueueDatabaseSync(db: Db, payload: SyncJobPayload, runAt?: Date): Promise<void> {
  const key = `db-sync:${payload.tenancyId}:${payload.databaseId}`;
  await sql`SELECT graphile_worker.add_job(
    ${SYNC_TASK},
    ${JSON.stringify(payload)}::json,
    run_at => ${runAt ?? null}::timestamptz,
    max_attempts => 1000,
    job_key => ${key},
    job_key_mode => 'replace'
  )`.execute(db);
}

/**
 * Tenancies whose config names external databases at any level (project, branch or environment): the
 * ones a sync may concern. A loose text match; `externalDatabasesOf` reads the rendered config.
 */
export async function syncingTenancies(
  db: Db,
): Promise<{ id: string; project_id: string; branch_id: string }[]> {
  const { rows } = await sql<{ id: string; project_id: string; branch_id: string }>`
    SELECT t.id, t.project_id, t.branch_id FROM tenancies t
    JOIN projects p ON p.id = t.project_id
    LEFT JOIN branch_config_overrides b ON b.project_id = t.project_id AND b.branch_id = t.branch_id
    LEFT JOIN environment_config_overrides o ON o.project_id = t.project_id AND o.branch_id = t.branch_id
    WHERE concat(p.config_override::text, b.config::text, o.config::text) LIKE '%externalDatabases%'
    ORDER BY t.project_id, t.branch_id`.execute(db);
  return rows;
}
