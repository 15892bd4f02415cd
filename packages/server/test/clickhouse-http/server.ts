/**
 * ClickHouse's HTTP interface, served over chDB — the stand-in for a ClickHouse server in tests (no
 * ClickHouse server package installs here; Debian's is years too old). It speaks enough of the protocol
 * for @clickhouse/client: `/ping`, queries in the body or `query` parameter, `param_*` query
 * parameters, settings as URL parameters, inserts with their data in the body, ClickHouse's error text
 * and `X-ClickHouse-Exception-Code`.
 *
 * Run as its own process (`tsx server.ts <data dir> <port>`) so a test can stop or kill it like a
 * real server. Prints `listening <port>` once ready.
 */
import http from "node:http";
import { gunzipSync } from "node:zlib";
import { settingsClause } from "../../src/analytics-store/engine.ts";

const [dataDir, portArg] = process.argv.slice(2);
if (!dataDir) throw new Error("usage: server.ts <data dir> [port]");
const { Session } = (await import("chdb")).default as typeof import("chdb");
const session = new Session(dataDir);

/** URL parameters that are protocol, not settings. */
const PROTOCOL_PARAMS = new Set([
  "query",
  "query_id",
  "database",
  "default_format",
  "user",
  "password",
  "session_id",
]);

/** Query parameters arrive in ClickHouse's escaped text form (`x\'y`); chDB's binding wants the value. */
const unescapeParam = (value: string) =>
  value.replace(
    /\\(.)/g,
    (_, char: string) => ({ n: "\n", t: "\t", r: "\r", "0": "\0", b: "\b", f: "\f" })[char] ?? char,
  );

const server = http.createServer(async (request, response) => {
  const url = new URL(request.url ?? "/", "http://localhost");
  if (url.pathname === "/ping") {
    response.end("Ok.\n");
    return;
  }
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    let body = Buffer.concat(chunks);
    if (request.headers["content-encoding"] === "gzip") body = gunzipSync(body);
    const params: Record<string, string> = {};
    const settings: Record<string, string | number> = {};
    for (const [name, value] of url.searchParams) {
      if (name.startsWith("param_")) params[name.slice(6)] = unescapeParam(value);
      else if (!PROTOCOL_PARAMS.has(name))
        settings[name] = /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
    }
    const queryParam = url.searchParams.get("query");
    let text = queryParam ?? body.toString("utf8");
    // An INSERT's data follows its `FORMAT x` line, in the body after a query parameter or inline.
    const insert = /^\s*INSERT\s+INTO\s+(\S+)\s+FORMAT\s+(\w+)[ \t]*(?:\n|$)/i.exec(text);
    if (insert && queryParam === null) {
      body = Buffer.from(text.slice(insert[0].length));
      text = insert[0];
    }
    let output = "";
    let rowsRead = 0;
    const started = process.hrtime.bigint();
    if (insert) {
      await session.insert({
        table: insert[1]!,
        values: body,
        format: insert[2] as "JSONEachRow",
        settings: settings as Record<string, string | number>,
      });
    } else {
      const formatMatch = /\s+FORMAT\s+(\w+)\s*;?\s*$/i.exec(text);
      const format = formatMatch?.[1] ?? url.searchParams.get("default_format") ?? "TabSeparated";
      const statement = (formatMatch ? text.slice(0, formatMatch.index) : text) + settingsClause(settings);
      const result =
        Object.keys(params).length > 0
          ? await session.queryBindAsync(statement, params, { format })
          : await session.queryAsync(statement, { format });
      output = result.text();
      rowsRead = result.rowsRead;
    }
    const elapsedNs = Number(process.hrtime.bigint() - started);
    response.setHeader("X-ClickHouse-Query-Id", url.searchParams.get("query_id") ?? "");
    response.setHeader(
      "X-ClickHouse-Summary",
      JSON.stringify({ read_rows: String(rowsRead), elapsed_ns: String(elapsedNs) }),
    );
    response.end(output);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const code = /Code: (\d+)/.exec(message)?.[1] ?? "1002";
    response.statusCode = 500;
    response.setHeader("X-ClickHouse-Exception-Code", code);
    response.end(message.replace(/^Query failed: /, ""));
  }
});

server.listen(Number(portArg ?? 0), "127.0.0.1", () => {
  const address = server.address();
  console.log(`listening ${typeof address === "object" && address ? address.port : portArg}`);
});

const shutdown = () =>
  server.close(() => {
    session.close();
    process.exit(0);
  });
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
