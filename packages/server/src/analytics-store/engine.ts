/**
 * The analytics store: a ClickHouse engine behind one small interface, so that the embedded default
 * (chDB, in-process) and a ClickHouse server (`CLICKHOUSE_URL`) run the same SQL and the same schema
 * files. Everything above this interface — ingestion, the project-scoped query endpoint, metrics —
 * is written once.
 */
export interface AnalyticsEngine {
  readonly kind: "chdb" | "clickhouse";
  /** Runs a statement that returns nothing (DDL). */
  command(sql: string): Promise<void>;
  /**
   * Inserts newline-delimited JSON rows in one INSERT. Resolves only once the rows are written (no
   * asynchronous insert buffer), so an acknowledgement built on it is durable.
   */
  insertJsonRows(table: string, ndjson: string): Promise<void>;
  /**
   * Runs a query and returns its text in `format`. `params` fill `{name:Type}` placeholders on the
   * engine's side (never spliced into the text); `settings` apply to this query only.
   */
  query(sql: string, options?: EngineQueryOptions): Promise<EngineQueryResult>;
  close(): Promise<void>;
}

export interface EngineQueryOptions {
  params?: Record<string, unknown>;
  settings?: Record<string, string | number>;
  format?: "JSONEachRow" | "TabSeparatedRaw";
  queryId?: string;
}

export interface EngineQueryResult {
  text: string;
  /** Wall-clock time the engine reports for the query. */
  elapsedMs: number;
}

/** A failure reported by the engine, with ClickHouse's error code when there is one. */
export class AnalyticsEngineError extends Error {
  constructor(
    message: string,
    /** ClickHouse's numeric error code (62 = syntax error, 159 = timeout, …), null if none. */
    readonly clickhouseCode: number | null,
    /** True when the engine could not be reached at all (the store is down, not the query wrong). */
    readonly unavailable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "AnalyticsEngineError";
  }
}

/**
 * ClickHouse's error text is `Code: 159. DB::Exception: <message> (TIMEOUT_EXCEEDED) (version …)`; this
 * keeps the code and the message in the middle, as @clickhouse/client does.
 */
export function parseClickHouseError(text: string): { code: number | null; message: string } {
  const code = /Code: (\d+)\./.exec(text);
  const lastException = text.lastIndexOf("DB::Exception: ");
  let message = lastException >= 0 ? text.slice(lastException + "DB::Exception: ".length) : text;
  message = message.replace(/\s*\(version [^)]*\)\.?\s*$/, "").replace(/\s*\([A-Z0-9_]{3,}\)\.?\s*$/, "");
  return { code: code ? Number(code[1]) : null, message: message.trim() };
}

/** `SETTINGS a = 1, b = 'x'` for the settings a query runs with (values quoted as ClickHouse literals). */
export function settingsClause(settings: Record<string, string | number> | undefined): string {
  const entries = Object.entries(settings ?? {});
  if (entries.length === 0) return "";
  for (const [name] of entries) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`Invalid setting name: ${name}`);
  }
  return ` SETTINGS ${entries.map(([name, value]) => `${name} = ${literal(value)}`).join(", ")}`;
}

function literal(value: string | number): string {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`Invalid setting value: ${value}`);
    return String(value);
  }
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}
