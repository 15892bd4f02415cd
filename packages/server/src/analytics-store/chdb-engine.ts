import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import type { Session as ChdbSession } from "chdb";
import {
  type AnalyticsEngine,
  AnalyticsEngineError,
  type EngineQueryOptions,
  type EngineQueryResult,
  parseClickHouseError,
  settingsClause,
} from "./engine.ts";

// chDB ships a ~500 MB native library; it is loaded only when the embedded engine is actually used.
const require = createRequire(import.meta.url);

/**
 * The embedded engine: chDB (ClickHouse in-process) over a data directory. libchdb binds one data
 * directory per process, so a process runs at most one embedded analytics store.
 */
export class ChdbEngine implements AnalyticsEngine {
  readonly kind = "chdb" as const;

  private constructor(private readonly session: ChdbSession) {}

  static open(dataDir: string): ChdbEngine {
    mkdirSync(dataDir, { recursive: true });
    const { Session } = require("chdb") as typeof import("chdb");
    return new ChdbEngine(new Session(dataDir));
  }

  async command(sql: string): Promise<void> {
    await this.run(() => this.session.queryAsync(sql, { format: "TSV" }));
  }

  async insertJsonRows(table: string, ndjson: string): Promise<void> {
    await this.run(() =>
      this.session.insert({
        table,
        values: Buffer.from(ndjson),
        format: "JSONEachRow",
        settings: { date_time_input_format: "best_effort" },
      }),
    );
  }

  async query(sql: string, options: EngineQueryOptions = {}): Promise<EngineQueryResult> {
    // chDB takes per-query settings only in the text; callers hand over SQL without its own clause.
    const text = sql + settingsClause(options.settings);
    const format = options.format ?? "JSONEachRow";
    const result = await this.run(() =>
      options.params && Object.keys(options.params).length > 0
        ? this.session.queryBindAsync(text, options.params, { format })
        : this.session.queryAsync(text, { format }),
    );
    return { text: result.text(), elapsedMs: result.elapsed * 1000 };
  }

  async close(): Promise<void> {
    this.session.close();
  }

  private async run<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      const raw = error instanceof Error ? error.message : String(error);
      const { code, message } = parseClickHouseError(raw);
      throw new AnalyticsEngineError(message, code, !this.session.open, { cause: error });
    }
  }
}
