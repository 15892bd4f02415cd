import type { FastifyRequest } from "fastify";
import { sql } from "kysely";
import { AnalyticsEngineError } from "../../analytics-store/index.ts";
import { KnownError, StatusError } from "../../errors/index.ts";
import { schemaError } from "../../http/requirements.ts";
import { defineRoute, json } from "../../http/route.ts";
import { assertEventTypes, eventRowJson } from "./events.ts";
import { assertIngestionAllowed, recentReplayId } from "./ingestion.ts";
import { runProjectQuery } from "./query.ts";
import { analyticsQueryBody, eventBatchBody, queryTimingBody } from "./schemas.ts";

export const analyticsRoutes = [
  defineRoute({
    method: "POST",
    path: "/analytics/events/batch",
    summary: "Record a batch of page views, clicks and custom events",
    hidden: true,
    tags: ["Analytics Events"],
    bodyMayHoldAnyText: true,
    access: ["client", "server", "admin"],
    schemas: { body: eventBatchBody },
    handler: async ({ app, auth, body, raw }) => {
      const { user, refreshTokenId } = assertIngestionAllowed(auth, "analytics events");
      assertEventTypes(raw, body.events);
      const sessionReplayId = await recentReplayId(app.database.db, auth.tenancy.id, refreshTokenId);
      const rows = body.events.map((event) =>
        eventRowJson({
          event_type: event.event_type,
          event_at_ms: event.event_at_ms,
          data: event.data,
          project_id: auth.project.id,
          branch_id: auth.tenancy.branchId,
          user_id: user.id,
          is_anonymous: user.is_anonymous,
          refresh_token_id: refreshTokenId,
          session_replay_id: sessionReplayId,
          session_replay_segment_id: body.session_replay_segment_id,
        }),
      );
      try {
        await app.analytics.events.write(rows);
      } catch (error) {
        throw ingestionFailure(raw, app.log, error);
      }
      return json({ inserted: rows.length });
    },
  }),
  defineRoute({
    method: "POST",
    path: "/internal/analytics/query",
    summary: "Run a read-only SQL query over this project's analytics",
    hidden: true,
    tags: ["Analytics"],
    access: ["admin"],
    schemas: { body: analyticsQueryBody },
    handler: async ({ app, auth, body }) => {
      if (body.include_all_branches) throw new StatusError(400, "include_all_branches is not supported yet.");
      const answer = await runProjectQuery(
        app,
        { tenancyId: auth.tenancy.id, projectId: auth.project.id, branchId: auth.tenancy.branchId },
        body.query,
        body.params ?? {},
        body.timeout_ms ?? 10_000,
      );
      return json(answer);
    },
  }),
  defineRoute({
    method: "POST",
    path: "/internal/analytics/query/timing",
    summary: "CPU and wall-clock time of an earlier analytics query",
    hidden: true,
    tags: ["Analytics"],
    access: ["server", "admin"],
    schemas: { body: queryTimingBody },
    handler: async ({ app, auth, body }) => {
      const prefix = `${auth.project.id}:${auth.tenancy.branchId}:`;
      if (!body.query_id.startsWith(prefix)) throw new KnownError("ITEM_NOT_FOUND", body.query_id);
      const stats = await app.database.db
        .selectFrom("analytics_query_stats")
        .select(["cpu_time_ms", "wall_clock_ms"])
        .where("query_id", "=", body.query_id)
        .where("tenancy_id", "=", auth.tenancy.id)
        .where("created_at", ">", sql<Date>`now() - interval '1 day'`)
        .executeTakeFirst();
      if (!stats) throw new KnownError("ITEM_NOT_FOUND", body.query_id);
      return json({ stats: { cpu_time: stats.cpu_time_ms, wall_clock_time: stats.wall_clock_ms } });
    },
  }),
];

/**
 * ClickHouse's codes for rows it cannot read into the table (unparsable text, numbers out of every
 * integer type's range, a JSON path written twice, bad escapes): the client's data, not the store.
 */
const REFUSED_DATA_CODES = new Set([6, 25, 26, 27, 32, 38, 41, 53, 69, 70, 72, 117, 131, 321]);

/**
 * A batch that could not be written is never acknowledged. Rows the engine refuses as data are a
 * schema error (retrying cannot help; the batch's other rows were not written either); anything else —
 * the store down, busy or failing — is a 503 with `Retry-After`, which clients retry.
 */
export function ingestionFailure(
  raw: Pick<FastifyRequest, "method" | "url">,
  log: (message: string) => void,
  error: unknown,
): Error {
  if (!(error instanceof AnalyticsEngineError)) return error as Error;
  log(`analytics: batch not written: ${error.message}`);
  if (!error.unavailable && error.clickhouseCode !== null && REFUSED_DATA_CODES.has(error.clickhouseCode)) {
    const reason = error.message.split("\n")[0]!.slice(0, 300);
    return schemaError(raw, [`body.events could not be stored, none of them was: ${reason}`]);
  }
  return new StatusError(503, "The analytics store could not write this batch. Try again shortly.", {
    "retry-after": "5",
  });
}
