import { randomUUID } from "node:crypto";
import { AnalyticsEngineError } from "../../analytics-store/index.ts";
import type { AppContext } from "../../app-context.ts";
import { KnownError, StatusError } from "../../errors/index.ts";
import { checkQuery } from "./query-guard.ts";

export interface QueryScope {
  tenancyId: string;
  projectId: string;
  branchId: string;
}

export const MAX_RESULT_ROWS = 10_000;
export const MAX_RESULT_BYTES = 10 * 1024 * 1024;
export const MAX_QUERY_MEMORY_BYTES = 1024 * 1024 * 1024;
/**
 * The result's text, checked here too: the engine counts a constant column once against
 * `max_result_bytes` however many rows repeat it, so `SELECT repeat('x', 1e6) FROM numbers(200)` came
 * back as 200 MB, parsed and serialised on the event loop. JSON spells rows out at a few times their
 * size in the engine; this leaves room for that.
 */
const MAX_RESULT_TEXT_LENGTH = 4 * MAX_RESULT_BYTES;

/**
 * Runs a project owner's SQL against their own project's views only: checked by the guard, then run
 * read-only with the project scope, a time limit, result limits and a memory cap set by the server.
 */
export async function runProjectQuery(
  app: AppContext,
  scope: QueryScope,
  sql: string,
  params: Record<string, unknown>,
  timeoutMs: number,
): Promise<{ result: unknown[]; query_id: string }> {
  const engine = app.analytics.engine;
  const queryId = `${scope.projectId}:${scope.branchId}:${randomUUID()}`;
  try {
    const checked = await checkQuery(engine, sql, params);
    const cpuBefore = process.cpuUsage();
    const { text, elapsedMs } = await engine.query(`SELECT * FROM (${checked})`, {
      params,
      queryId,
      format: "JSONEachRow",
      // readonly goes last: once set, no later setting of the same query could be changed.
      settings: {
        log_comment: `${scope.projectId}:${scope.branchId}`,
        max_execution_time: timeoutMs / 1000,
        max_result_rows: MAX_RESULT_ROWS,
        max_result_bytes: MAX_RESULT_BYTES,
        result_overflow_mode: "throw",
        max_memory_usage: MAX_QUERY_MEMORY_BYTES,
        // 64-bit integers as JSON strings on both engines (chDB's default differs from a server's).
        output_format_json_quote_64bit_integers: 1,
        readonly: 1,
      },
    });
    const cpu = process.cpuUsage(cpuBefore);
    if (text.length > MAX_RESULT_TEXT_LENGTH) {
      throw new KnownError(
        "ANALYTICS_QUERY_ERROR",
        `Limit for result exceeded: the result is over ${MAX_RESULT_TEXT_LENGTH / 1024 / 1024} MiB as JSON.`,
      );
    }
    await app.database.db
      .insertInto("analytics_query_stats")
      .values({
        query_id: queryId,
        tenancy_id: scope.tenancyId,
        // The embedded engine runs on this process's threads, so its CPU time is this process's.
        cpu_time_ms: engine.kind === "chdb" ? (cpu.user + cpu.system) / 1000 : null,
        wall_clock_ms: elapsedMs,
      })
      .execute();
    const result = text
      .split("\n")
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as unknown);
    return { result, query_id: queryId };
  } catch (error) {
    throw queryError(app, error);
  }
}

/**
 * Error codes whose messages say nothing about data or tables the caller cannot read: syntax, timeout,
 * readonly, result limits, missing parameters. Other messages (unknown identifiers, type mismatches,
 * access refusals) can quote values or names, so they are replaced by a generic text.
 */
const SAFE_CODES = new Set([62, 159, 164, 158, 396, 636, 456, 457]);

function queryError(app: AppContext, error: unknown): Error {
  if (!(error instanceof AnalyticsEngineError)) return error as Error;
  if (error.unavailable) {
    return new StatusError(503, "The analytics store is unavailable. Try again shortly.", {
      "retry-after": "5",
    });
  }
  if (error.clickhouseCode !== null && SAFE_CODES.has(error.clickhouseCode)) {
    return new KnownError("ANALYTICS_QUERY_ERROR", error.message);
  }
  let message = "Error during execution of this query.";
  if (app.env.nodeEnv !== "production") {
    message += `\n\nAs you are in development mode, you can see the full error: ${error.clickhouseCode ?? "?"} ${error.message}`;
  }
  return new KnownError("ANALYTICS_QUERY_ERROR", message);
}
