import type { ServerEnv } from "../config/env.ts";
import { ChdbEngine } from "./chdb-engine.ts";
import { ClickHouseEngine } from "./clickhouse-engine.ts";
import type { AnalyticsEngine } from "./engine.ts";
import { GroupCommitInserter } from "./group-commit.ts";
import { applyAnalyticsMigrations, discoverAnalyticsMigrations } from "./migrations.ts";

export { type AnalyticsEngine, AnalyticsEngineError } from "./engine.ts";

/** The analytics store every feature uses: the engine plus the group-committed writer of `events`. */
export interface AnalyticsStore {
  engine: AnalyticsEngine;
  events: GroupCommitInserter;
  close(): Promise<void>;
}

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
  return {
    engine,
    events: new GroupCommitInserter(engine, EVENTS_TABLE),
    close: () => engine.close(),
  };
}
