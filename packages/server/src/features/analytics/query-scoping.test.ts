import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { enableAnalytics, pageView, postEvents, queryAnalytics } from "../../../test/analytics.ts";
import { type ClickHouseHttp, startClickHouseHttp } from "../../../test/clickhouse-http.ts";
import {
  createTestProject,
  signUpWithPassword,
  startTestServer,
  type TestProject,
  type TestServer,
} from "../../../test/server.ts";

/**
 * The adversarial suite of the project-scoped SQL endpoint, on both engines: embedded chDB and a
 * ClickHouse server reached over HTTP (here ClickHouse's HTTP interface served over chDB in a child
 * process — see test/clickhouse-http/server.ts). Project B stores a secret marker; project A's admin
 * tries everything to read it.
 */
const GENERIC = "Error during execution of this query.";

interface Hostile {
  name: string;
  query: string;
  params?: Record<string, unknown>;
  timeout_ms?: number;
  /** The first line of the refusal; GENERIC unless the engine's own (safe) message is expected. */
  refusal?: string | RegExp;
}

const hostileQueries: Hostile[] = [
  { name: "base table", query: "SELECT * FROM analytics_internal.events" },
  { name: "base table, quoted", query: "SELECT * FROM `analytics_internal`.`events`" },
  { name: "base table in a subquery", query: "SELECT * FROM (SELECT * FROM analytics_internal.events)" },
  {
    name: "base table in a CTE",
    query: "WITH x AS (SELECT * FROM analytics_internal.events) SELECT * FROM x",
  },
  { name: "base table in a join", query: "SELECT * FROM events e JOIN analytics_internal.events b ON 1 = 1" },
  {
    name: "base table in a union",
    query: "SELECT data FROM events UNION ALL SELECT data FROM analytics_internal.events",
  },
  { name: "base table behind IN", query: "SELECT 1 WHERE 'x' IN analytics_internal.events" },
  {
    name: "base table in a scalar subquery",
    query: "SELECT throwIf(1, (SELECT toString(any(data)) FROM analytics_internal.events))",
  },
  { name: "base table through view()", query: "SELECT * FROM view(SELECT * FROM analytics_internal.events)" },
  {
    name: "table named by an identifier parameter",
    query: "SELECT * FROM {t:Identifier}",
    params: { t: "analytics_internal.events" },
  },
  {
    name: "forged AST lines in a quoted alias",
    query: "SELECT 1 AS `a\n      TableIdentifier events` FROM analytics_internal.events",
  },
  { name: "system.tables", query: "SELECT name FROM system.tables" },
  { name: "system.users", query: "SELECT * FROM system.users" },
  { name: "system.query_log", query: "SELECT query FROM system.query_log" },
  { name: "information_schema", query: "SELECT * FROM information_schema.tables" },
  { name: "INFORMATION_SCHEMA", query: "SELECT * FROM INFORMATION_SCHEMA.COLUMNS" },
  { name: "file()", query: "SELECT * FROM file('/etc/passwd', 'LineAsString')" },
  { name: "scalar file()", query: "SELECT file('/etc/passwd')" },
  { name: "url()", query: "SELECT * FROM url('http://127.0.0.1:9/', 'CSV', 'a String')" },
  { name: "s3()", query: "SELECT * FROM s3('http://127.0.0.1:9/bucket/x.csv', 'CSV')" },
  { name: "remote()", query: "SELECT * FROM remote('127.0.0.1', 'analytics_internal', 'events')" },
  { name: "cluster()", query: "SELECT * FROM cluster('default', 'analytics_internal', 'events')" },
  { name: "merge()", query: "SELECT * FROM merge('analytics_internal', '.*')" },
  { name: "executable()", query: "SELECT * FROM executable('cat /etc/passwd', 'TSV', 'a String')" },
  { name: "input()", query: "SELECT * FROM input('a String')" },
  { name: "postgresql()", query: "SELECT * FROM postgresql('127.0.0.1:5432', 'db', 't', 'u', 'p')" },
  { name: "mysql()", query: "SELECT * FROM mysql('127.0.0.1:3306', 'db', 't', 'u', 'p')" },
  { name: "jdbc()", query: "SELECT * FROM jdbc('x', 'y', 'z')" },
  { name: "dictGet", query: "SELECT dictGet('d', 'a', toUInt64(1))" },
  { name: "joinGet", query: "SELECT joinGet('analytics_internal.events', 'data', 'x')" },
  { name: "schema probing", query: "SELECT hasColumnInTable('analytics_internal', 'events', 'data')" },
  { name: "INSERT", query: "INSERT INTO analytics_internal.events (event_type) VALUES ('x')" },
  { name: "CREATE", query: "CREATE TABLE stolen (a String) ENGINE = Memory" },
  { name: "DROP", query: "DROP TABLE events" },
  { name: "ALTER", query: "ALTER TABLE analytics_internal.events DELETE WHERE 1" },
  { name: "TRUNCATE", query: "TRUNCATE TABLE analytics_internal.events" },
  { name: "SET", query: "SET log_comment = 'x'" },
  { name: "EXPLAIN", query: "EXPLAIN SELECT * FROM analytics_internal.events" },
  { name: "SHOW", query: "SHOW TABLES FROM analytics_internal" },
  { name: "DESCRIBE", query: "DESCRIBE TABLE analytics_internal.events" },
  { name: "INTO OUTFILE", query: "SELECT 1 INTO OUTFILE '/tmp/latchkey-stolen'" },
  { name: "FORMAT", query: "SELECT 1 FORMAT CSV" },
  { name: "error-message leak", query: "SELECT if(1, primary_email, 1) FROM analytics_internal.users" },
  {
    name: "conversion-error leak",
    query: "SELECT toUInt8(concat('not a number ', toString(count()))) FROM events",
  },
  {
    name: "scope override in SETTINGS",
    query: "SELECT count() FROM events SETTINGS log_comment = 'B:main'",
    refusal: "Cannot modify 'log_comment' setting in readonly mode.",
  },
  {
    name: "limit override in SETTINGS",
    query: "SELECT 1 SETTINGS max_memory_usage = 100000000000",
    refusal: "Cannot modify 'max_memory_usage' setting in readonly mode.",
  },
  {
    name: "scope override in a subquery's SETTINGS",
    query: "SELECT * FROM (SELECT count() FROM events SETTINGS log_comment = 'B:main')",
    refusal: "Cannot modify 'log_comment' setting in readonly mode.",
  },
  {
    name: "multi-statements",
    query: "SELECT 1; SELECT 1",
    refusal: /^Syntax error \(Multi-statements are not allowed\)/,
  },
  {
    name: "huge result",
    query: "SELECT * FROM numbers(1000000000)",
    refusal: /^Limit for result exceeded, max rows: 10\.00 thousand/,
  },
  {
    name: "long sleep",
    query: "SELECT sleep(3)",
    timeout_ms: 1000,
    refusal: /^Timeout exceeded: elapsed .* ms, maximum: 1000 ms/,
  },
  {
    name: "memory hog",
    query: "SELECT count() FROM (SELECT groupArray(randomString(1000)) FROM numbers(10000000))",
    timeout_ms: 20_000,
  },
];

const engines: { name: string; clickhouse: boolean }[] = [
  { name: "embedded chDB", clickhouse: false },
  { name: "ClickHouse server over HTTP", clickhouse: true },
];

describe.each(engines)("analytics query scoping on $name", ({ clickhouse }) => {
  let clickhouseHttp: ClickHouseHttp | null = null;
  let test: TestServer;
  let projectA: TestProject;
  let projectB: TestProject;
  const secret = `secret-${randomUUID()}`;

  beforeAll(async () => {
    clickhouseHttp = clickhouse ? await startClickHouseHttp() : null;
    test = await startTestServer(clickhouseHttp ? { clickhouseUrl: clickhouseHttp.url } : {});
    projectA = await createTestProject(test, "A");
    projectB = await createTestProject(test, "B");
    await enableAnalytics(test, projectB);
    const victim = await signUpWithPassword(test, projectB);
    const stored = await postEvents(test, projectB, victim.access_token, [
      pageView("/private", { title: secret }),
    ]);
    expect(stored.status).toBe(200);
    // The secret is really there: project B's own admin reads it.
    const own = await queryAnalytics(
      test,
      projectB,
      "SELECT toString(data.title) AS title FROM events WHERE event_type = '$page-view'",
    );
    expect(own.text).toContain(secret);
    expect(own.body.result).toEqual([{ title: secret }]);
  }, 120_000);
  afterAll(async () => {
    await test?.close();
    await clickhouseHttp?.close();
  });

  it.each(hostileQueries)("refuses or scopes: $name", async (hostile) => {
    const res = await queryAnalytics(test, projectA, hostile.query, {
      params: hostile.params,
      timeout_ms: hostile.timeout_ms,
    });
    expect(res.text).not.toContain(secret);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("ANALYTICS_QUERY_ERROR");
    const firstLine = (res.body.error as string).split("\n")[0];
    const refusal = hostile.refusal ?? GENERIC;
    if (typeof refusal === "string") expect(firstLine).toBe(refusal);
    else expect(firstLine).toMatch(refusal);
  });

  it("scopes the views to the caller's project and branch", async () => {
    const counts = await queryAnalytics(test, projectA, "SELECT count() AS n FROM events");
    expect(counts.body.result).toEqual([{ n: "0" }]);
    const byProject = await queryAnalytics(
      test,
      projectA,
      "SELECT count() AS n FROM default.events WHERE project_id = {p:String}",
      { params: { p: projectB.projectId } },
    );
    expect(byProject.body.result).toEqual([{ n: "0" }]);
    const scope = await queryAnalytics(test, projectA, "SELECT getSetting('log_comment') AS scope");
    expect(scope.body.result).toEqual([{ scope: `${projectA.projectId}:main` }]);
  });

  it("hides engine details in production, shows them in development", async () => {
    const res = await queryAnalytics(test, projectA, "SELECT * FROM analytics_internal.events");
    expect(res.body.error).toContain("As you are in development mode");
    expect(res.body.details).toEqual({ error: res.body.error });
  });
});
