import { Logger, type Runner, run } from "graphile-worker";
import pg from "pg";
import type { AppContext } from "../../app-context.ts";
import { closeTargets, runSync } from "./engine.ts";
import { enqueueEverySync, SYNC_TASK, type SyncJobPayload } from "./queue.ts";
import { runSequencerPass } from "./sequencer.ts";
import { telemetry } from "./telemetry.ts";

export interface SyncWorker {
  stop(): Promise<void>;
}

const SWEEP_MS = 2000;

/**
 * The db-sync pipeline of one process: the sequencer, woken by the capture triggers' NOTIFY at commit
 * (with a slow sweep as safety net), and graphile-worker running sync jobs. Any number of processes
 * may run it: sequencer passes are serialised by an advisory lock, jobs by graphile-worker's row
 * locks and a lock per target.
 */
export async function startSyncWorker(app: AppContext, connectionString: string): Promise<SyncWorker> {
  // Our own pool, listened to for good: graphile-worker stops listening to the pool it makes when it
  // stops, so a connection the database ended just then (a restart, a shutdown racing ours) threw an
  // unhandled 'error' event and ended the process.
  const pgPool = new pg.Pool({ connectionString, max: 10, application_name: "latchkey-sync-worker" });
  pgPool.on("error", (error) => app.log(`db-sync worker: idle connection lost: ${error.message}`));
  pgPool.on("connect", (client) => client.on("error", () => {}));
  const runner: Runner = await run({
    pgPool,
    // A run holds a connection of the pool and takes a second for a bulk page: at most half the pool
    // runs at once, so a small pool still leaves every run its second connection.
    concurrency: Math.max(1, Math.min(4, Math.floor(app.env.databasePoolSize / 2))),
    noHandleSignals: true,
    pollInterval: 1000,
    logger: new Logger(() => (level, message) => {
      if (level === "error") app.log(`db-sync worker: ${message}`);
    }),
    taskList: {
      [SYNC_TASK]: async (payload) => runSync(app, payload as SyncJobPayload),
    },
  }).catch(async (error) => {
    await pgPool.end();
    throw error;
  });

  let running = false;
  let again = false;
  let stopped = false;
  const unqueued = new Set<string>();
  const sequence = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        const stamped = await runSequencerPass(app, unqueued);
        telemetry.sequencer.passes++;
        telemetry.sequencer.rows_stamped += stamped;
        telemetry.sequencer.last_pass_at_millis = Date.now();
        if (stamped > 0) again = true; // there may be more than one batch
      } while (again && !stopped);
    } catch (error) {
      telemetry.sequencer.last_error = String(error);
      app.log(`db-sync sequencer: ${error}`);
    } finally {
      running = false;
    }
  };
  app.changes.on("latchkey_sync_dirty", () => void sequence());
  const sweep = setInterval(() => void sequence(), SWEEP_MS);
  sweep.unref();
  // Every tenancy with external databases is queued once: whatever a crashed process left half done
  // is picked up from the targets' cursors.
  await enqueueEverySync(app);
  void sequence();

  return {
    stop: async () => {
      stopped = true;
      clearInterval(sweep);
      await runner.stop();
      await closeTargets();
      await pgPool.end();
    },
  };
}
