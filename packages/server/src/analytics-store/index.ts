import type { ServerEnv } from "../config/env.ts";
import { ChdbEngine } from "./chdb-engine.ts";
import { ClickHouseEngine } from "./clickhouse-engine.ts";
import type { AnalyticsEngine } from "./engine.ts";
import { GroupCommitInserter } from "./group-commit.ts";
import { applyAnalyticsMigrations, discoverAnalyticsMigrations } from "./migrations.ts";

export { type AnalyticsEngine, AnalyticsEngineError } from "./engine.ts";

/** The analytics store every feature uses: the engine plus the group-committed writers of `events`. */
export interface AnalyticsStore {
  engine: AnalyticsEngine;
  /** For rows a request waits on (ingestion): written at once. */
  events: GroupCommitInserter;
  /**
   * For the server's own events, which no request waits on: gathered for a moment, so a burst of
   * sign-ins makes one insert a second instead of one each (a crash loses at most that second's events;
   * a shutdown writes them).
   */
  serverEvents: GroupCommitInserter;
  close(): Promise<void>;
}

/**
 * How long server events gather before each insert. Each insert into embedded chDB costs ~30 ms of
 * CPU whatever its size (a new part, its projection, the rollup's view); at one a second, a burst of
 * sign-ins pays ~0.3 ms each for its events instead of ~2.7 ms when they went out as they came.
 */
const SERVER_EVENTS_LINGER_MS = 1000;

export const EVENTS_TABLE = "analytics_internal.events";

/**
 * Opens the analytics store — a ClickHouse server when `CLICKHOUSE_URL` is set, else embedded chDB under
 * the data directory — and applies its pending migrations.
 */
export async function openAnalyticsStore(
  env: ServerEnv,
  postgresUrl: string,
  log: (message: string) => void,
): Promise<AnalyticsStore> {
  const engine: AnalyticsEngine = env.clickhouseUrl
    ? new ClickHouseEngine(env.clickhouseUrl)
    : ChdbEngine.open(env.analyticsDir);
  try {
    const applied = await applyAnalyticsMigrations(engine, postgresUrl, discoverAnalyticsMigrations(), log);
    if (applied.length > 0) log(`Applied ${applied.length} analytics migration(s) (${engine.kind}).`);
  } catch (error) {
    await engine.close();
    throw error;
  }
  const events = new GroupCommitInserter(engine, EVENTS_TABLE);
  const serverEvents = new GroupCommitInserter(engine, EVENTS_TABLE, { lingerMs: SERVER_EVENTS_LINGER_MS });
  return {
    engine,
    events,
    serverEvents,
    close: async () => {
      await Promise.all([events.flush(), serverEvents.flush()]);
      await engine.close();
    },
  };
}
