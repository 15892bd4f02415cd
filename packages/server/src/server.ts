import type { FastifyInstance } from "fastify";
import { openAnalyticsStore } from "./analytics-store/index.ts";
import type { AppContext } from "./app-context.ts";
import { PersistentCache } from "./cache/index.ts";
import { readServerEnv, type ServerEnv } from "./config/env.ts";
import { ChangeListener } from "./db/change-listener.ts";
import { connectPostgres, type PostgresConnection } from "./db/connect.ts";
import { openDatabase } from "./db/database.ts";
import { discoverMigrations } from "./db/migrations/discover.ts";
import { applyMigrations } from "./db/migrations/runner.ts";
import { pruneRateLimits } from "./features/auth/rate-limit.ts";
import { SigningKeys } from "./features/auth/signing-keys.ts";
import { AccessTokens } from "./features/auth/tokens.ts";
import { startSyncWorker } from "./features/db-sync/worker.ts";
import { pruneEmailOutbox } from "./features/emails/outbox.ts";
import { mergeTallies } from "./features/metrics/user-metrics.ts";
import { CLIENT_UPLOAD_WINDOW_SECONDS } from "./features/profile-images/store.ts";
import type { KeySetCreated } from "./features/project-keys/schemas.ts";
import { ensureInternalProject, ProjectStore } from "./features/projects/index.ts";
import { pruneExpiredCodes } from "./features/verification-codes/codes.ts";
import { buildHttpServer } from "./http/server.ts";
import { httpRoutes } from "./routes.ts";

export interface RunningServer {
  url: string;
  port: number;
  app: AppContext;
  http: FastifyInstance;
  /** The internal project's keys when this start created it (first boot), else null. */
  internalProjectKeys: KeySetCreated | null;
  /** Settles if the embedded PostgreSQL this process started ends unasked (see `connectPostgres`). */
  databaseLost: Promise<string>;
  close(): Promise<void>;
}

export interface StartOptions {
  env?: ServerEnv;
  log?: (message: string) => void;
}

/**
 * Starts Latchkey: PostgreSQL (embedded unless `DATABASE_URL`), migrations, the analytics store (embedded
 * chDB unless `CLICKHOUSE_URL`), the internal project, the change listener behind the in-memory caches,
 * and the HTTP API.
 */
export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const env = options.env ?? readServerEnv();
  const log = options.log ?? ((message: string) => console.log(message));
  const postgres: PostgresConnection = await connectPostgres(env, log);
  const cleanups: (() => Promise<void>)[] = [() => postgres.stop()];
  const closeAll = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error) => log(`shutdown: ${error}`));
  };
  try {
    const result = await applyMigrations(postgres.connectionString, discoverMigrations(), { log });
    if (result.newlyApplied.length > 0) log(`Applied ${result.newlyApplied.length} migration(s).`);

    const analytics = await openAnalyticsStore(env, postgres.connectionString, log);
    cleanups.push(() => analytics.close());

    const database = openDatabase(postgres.connectionString, {
      preparedStatements: env.preparedStatements,
      maxConnections: env.databasePoolSize,
      poolWaitMs: env.databasePoolWaitMs,
      guardTransactions: env.checkTransactions,
      onTransactionOffence: (stack) => log(stack),
    });
    cleanups.push(() => database.close());
    const changes = new ChangeListener(postgres.connectionString);
    await changes.start();
    cleanups.push(() => changes.close());

    const internalProjectKeys = await ensureInternalProject(database);
    const signingKeys = await SigningKeys.load(database);
    const app: AppContext = {
      env,
      database,
      analytics,
      cache: new PersistentCache(database.db, {
        onBackgroundError: (error, namespace, key) =>
          log(`cache refresh of ${namespace}/${key} failed: ${error}`),
      }),
      changes,
      projects: new ProjectStore(database, env.projectCacheTtlSeconds * 1000, changes),
      tokens: new AccessTokens(signingKeys, env.publicUrl, env.accessTokenTtlSeconds),
      signingKeys,
      log,
    };
    // Housekeeping every 10 minutes: expired rate-limit windows, cache entries and verification codes
    // and old outbox e-mails are dropped, the user tallies' deltas merged. A shutdown stops the batched
    // deletions between two batches and waits for the pass, so none of it meets a closed pool.
    const stopHousekeeping = new AbortController();
    const { signal } = stopHousekeeping;
    const attempt = (what: string, work: Promise<unknown>) =>
      work.catch((error) => log(`${what} failed: ${error}`));
    let housekeepingPass: Promise<unknown> = Promise.resolve();
    const housekeeping = setInterval(
      () => {
        housekeepingPass = Promise.all([
          attempt(
            "rate-limit pruning",
            // Every budget's windows are in one table: pruning keeps what the longest one still reads.
            pruneRateLimits(
              database.db,
              Math.max(env.signInRateLimitWindowSeconds, CLIENT_UPLOAD_WINDOW_SECONDS),
              { signal },
            ),
          ),
          attempt("code pruning", pruneExpiredCodes(database.db, { signal })),
          attempt("outbox pruning", pruneEmailOutbox(database.db, { signal })),
          attempt("cache eviction", app.cache.evictExpired()),
          attempt("tally merge", mergeTallies(database.db)),
        ]);
      },
      10 * 60 * 1000,
    );
    housekeeping.unref();
    cleanups.push(async () => {
      clearInterval(housekeeping);
      stopHousekeeping.abort();
      await housekeepingPass;
    });
    // A rotation of the token-signing root (by any process) is picked up within a minute.
    const keyReload = setInterval(() => {
      signingKeys.reload().catch((error) => log(`signing-key reload failed: ${error}`));
    }, 60 * 1000);
    keyReload.unref();
    cleanups.push(async () => clearInterval(keyReload));
    if (env.runSyncWorker) {
      const syncWorker = await startSyncWorker(app, postgres.connectionString);
      cleanups.push(() => syncWorker.stop());
    }
    const http = await buildHttpServer(app, httpRoutes);
    cleanups.push(() => http.close());
    await http.listen({ port: env.port, host: env.host });
    const address = http.server.address();
    const port = typeof address === "object" && address ? address.port : env.port;
    return {
      url: `http://127.0.0.1:${port}`,
      port,
      app,
      http,
      internalProjectKeys,
      databaseLost: postgres.lost,
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
