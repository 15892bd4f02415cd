import { sql } from "kysely";
import type { AppContext } from "../../app-context.ts";
import { enqueueTenancySync } from "./queue.ts";

/** Held (per transaction) by the one sequencer pass running at a time, across all processes. */
const SEQUENCER_LOCK_KEY = 0x4c41_5353; // "LASS"
const BATCH = 5000;

/** The captured tables and how a dirty row is picked and stamped. */
const sequencedTables = [
  { table: "users", key: "tenancy_id, id" },
  { table: "contact_channels", key: "tenancy_id, user_id, id" },
  { table: "teams", key: "tenancy_id, id" },
  { table: "team_members", key: "tenancy_id, team_id, user_id" },
  { table: "team_member_permissions", key: "tenancy_id, team_id, user_id, permission_id" },
  { table: "user_permissions", key: "tenancy_id, user_id, permission_id" },
  { table: "sessions", key: "tenancy_id, id" },
  { table: "oauth_accounts", key: "tenancy_id, id" },
  { table: "sync_deleted_rows", key: "id" },
] as const;

/**
 * One sequencer pass: stamps dirty rows with ids from the global sequence in one transaction, then
 * queues a sync of every tenancy that changed. Passes are serialised by an advisory lock, so their
 * transactions commit in the order their ids were drawn: once a reader has seen id N, no id below N
 * can appear later, and a cursor can never skip a row. Rows a writer still holds are skipped (SKIP
 * LOCKED) and stamped by a later pass, with later ids.
 *
 * The syncs are queued after the commit, never under the pass's row locks: finding a tenancy's
 * external databases may read through the connection pool, and requests waiting on those locks can
 * fill the pool — a deadlock nothing times out. `unqueued` carries the tenancies whose sync is still to
 * be queued; they are added as the rows come back, before the commit is known (a sync of a pass that
 * rolled back finds nothing new), and one that cannot be queued waits for the next pass. A crash in
 * between is covered by the start-up reconcile, which queues every syncing tenancy.
 *
 * Returns how many rows were stamped (0 when another pass held the lock or nothing was dirty).
 */
export async function runSequencerPass(app: AppContext, unqueued: Set<string> = new Set()): Promise<number> {
  try {
    return await stampDirtyRows(app, unqueued);
  } finally {
    await queueSyncs(app, unqueued);
  }
}

/** Each tenancy on its own: one whose sync cannot be queued (its config unreadable) holds up no other. */
async function queueSyncs(app: AppContext, unqueued: Set<string>): Promise<void> {
  for (const tenancyId of [...unqueued]) {
    try {
      await enqueueTenancySync(app, app.database.db, tenancyId);
      unqueued.delete(tenancyId);
    } catch (error) {
      app.log(
        `db-sync sequencer: the sync of tenancy ${tenancyId} is not queued yet (${error}); next pass tries again`,
      );
    }
  }
}

async function stampDirtyRows(app: AppContext, changedTenancies: Set<string>): Promise<number> {
  return app.database.db.transaction().execute(async (trx) => {
    const locked = await sql<{
      locked: boolean;
    }>`SELECT pg_try_advisory_xact_lock(${SEQUENCER_LOCK_KEY}) AS locked`.execute(trx);
    if (!locked.rows[0]?.locked) return 0;
    const fusebox = await trx.selectFrom("sync_fusebox").select("sequencer_enabled").executeTakeFirst();
    if (fusebox && !fusebox.sequencer_enabled) return 0;
    // The capture triggers must not mark the rows this pass stamps as dirty again.
    await sql`SELECT set_config('latchkey.sequencing', 'on', true)`.execute(trx);

    let count = 0;
    for (const { table, key } of sequencedTables) {
      // NO KEY UPDATE: only sync columns change, and a plain FOR UPDATE would also hold off every insert
      // whose foreign key points at a picked row (a new membership of a user being stamped).
      const { rows } = await sql<{ tenancy_id: string }>`
        WITH picked AS (
          SELECT ${sql.raw(key)} FROM ${sql.table(table)} t
          WHERE sync_dirty
            AND NOT EXISTS (SELECT 1 FROM sync_tenancy_pauses p WHERE p.tenancy_id = t.tenancy_id AND p.sequencer_paused)
          ORDER BY tenancy_id
          LIMIT ${BATCH}
          FOR NO KEY UPDATE SKIP LOCKED
        )
        UPDATE ${sql.table(table)} t SET sync_seq = nextval('sync_sequence'), sync_dirty = false
        FROM picked WHERE (${sql.raw(
          key
            .split(", ")
            .map((c) => `t.${c}`)
            .join(", "),
        )}) = (${sql.raw(
          key
            .split(", ")
            .map((c) => `picked.${c}`)
            .join(", "),
        )})
        RETURNING t.tenancy_id`.execute(trx);
      count += rows.length;
      for (const row of rows) changedTenancies.add(row.tenancy_id);
    }
    return count;
  });
}
