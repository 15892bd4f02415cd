import { type ClickHouseClient, ClickHouseError, ClickHouseLogLevel, createClient } from "@clickhouse/client";
import {
  type AnalyticsEngine,
  AnalyticsEngineError,
  type EngineQueryOptions,
  type EngineQueryResult,
} from "./engine.ts";

/** A ClickHouse server (or cluster) reached over HTTP with the official client. */
/** What @clickhouse/client rejects with when `request_timeout` passes. */
const CLIENT_TIMEOUT_MESSAGE = "Timeout error.";

export class ClickHouseEngine implements AnalyticsEngine {
  readonly kind = "clickhouse" as const;
  private readonly client: ClickHouseClient;

  /** `requestTimeoutMs` defaults to longer than the longest query the API allows (120 s). */
  constructor(url: string, { requestTimeoutMs = 180_000 }: { requestTimeoutMs?: number } = {}) {
    this.client = createClient({
      url,
      request_timeout: requestTimeoutMs,
      // Failures are surfaced as errors and logged by the caller; the client's own log would repeat them.
      log: { level: ClickHouseLogLevel.OFF },
    });
  }

  async command(sql: string): Promise<void> {
    await this.run(() => this.client.command({ query: sql }));
  }

  async insertJsonRows(table: string, ndjson: string): Promise<void> {
    // The rows are already JSON text: sent as the INSERT's inline data rather than re-encoded by the client.
    await this.run(() =>
      this.client.command({
        query: `INSERT INTO ${table} FORMAT JSONEachRow\n${ndjson}`,
        // Acknowledged only after ClickHouse wrote the rows: no asynchronous insert buffer.
        clickhouse_settings: { async_insert: 0, date_time_input_format: "best_effort" },
      }),
    );
  }

  async query(sql: string, options: EngineQueryOptions = {}): Promise<EngineQueryResult> {
    const started = performance.now();
    return this.run(async () => {
      const result = await this.client.query({
        query: sql,
        format: options.format ?? "JSONEachRow",
        query_params: options.params,
        clickhouse_settings: options.settings as Record<string, string>,
        query_id: options.queryId,
      });
      const text = await result.text();
      const summary = result.response_headers["x-clickhouse-summary"];
      const elapsedNs = typeof summary === "string" ? Number(JSON.parse(summary).elapsed_ns) : Number.NaN;
      return {
        text,
        elapsedMs: Number.isFinite(elapsedNs) ? elapsedNs / 1e6 : performance.now() - started,
      };
    });
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private async run<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof ClickHouseError) {
        throw new AnalyticsEngineError(error.message, Number(error.code), false, { cause: error });
      }
      // No ClickHouse answer at all (connection refused, reset, timed out): the store is unavailable.
      // Only a network failure's own message is kept. Anything else is the body of whatever answered
      // at that URL, and db-sync shows its errors to project admins, who must not read other services
      // on the server's network through a target pointed at them.
      const ownMessage =
        typeof (error as { code?: unknown }).code === "string" ||
        (error instanceof Error && error.message === CLIENT_TIMEOUT_MESSAGE);
      const message = ownMessage
        ? (error as Error).message
        : "The server at this URL did not answer as ClickHouse does.";
      throw new AnalyticsEngineError(message, null, true, { cause: error });
    }
  }
}
