import { type RawBuilder, sql } from "kysely";
import type { AppContext } from "../../app-context.ts";
import { KnownError, StatusError } from "../../errors/index.ts";
import { isUuid } from "../../http/requirements.ts";

/** The admin listing's filters, parsed from their query-string text with upstream's messages. */
export interface ReplayFilters {
  limit: number;
  cursor: string | null;
  userIds: string[] | null;
  teamIds: string[] | null;
  durationMin: number | null;
  durationMax: number | null;
  lastEventFrom: number | null;
  lastEventTo: number | null;
  clickCountMin: number;
}

type RawFilters = Partial<Record<string, string>>;

export function parseReplayFilters(query: RawFilters): ReplayFilters {
  const filters: ReplayFilters = {
    limit: clampedLimit(query.limit, 50, 200),
    cursor: query.cursor || null,
    userIds: uuidList(query.user_ids, "user_ids"),
    teamIds: uuidList(query.team_ids, "team_ids"),
    durationMin: nonNegativeInteger(query.duration_ms_min, "duration_ms_min"),
    durationMax: nonNegativeInteger(query.duration_ms_max, "duration_ms_max"),
    lastEventFrom: timestamp(query.last_event_at_from_millis, "last_event_at_from_millis"),
    lastEventTo: timestamp(query.last_event_at_to_millis, "last_event_at_to_millis"),
    clickCountMin: nonNegativeInteger(query.click_count_min, "click_count_min") ?? 0,
  };
  if (
    filters.durationMin !== null &&
    filters.durationMax !== null &&
    filters.durationMin > filters.durationMax
  ) {
    throw new StatusError(400, "duration_ms_min must be less than or equal to duration_ms_max");
  }
  if (
    filters.lastEventFrom !== null &&
    filters.lastEventTo !== null &&
    filters.lastEventFrom > filters.lastEventTo
  ) {
    throw new StatusError(
      400,
      "last_event_at_from_millis must be less than or equal to last_event_at_to_millis",
    );
  }
  return filters;
}

/** A page size: default when absent or unparsable, clamped to 1…max otherwise. */
export function clampedLimit(raw: string | undefined, fallback: number, max: number): number {
  const value = raw === undefined ? Number.NaN : Number.parseInt(raw, 10);
  if (!Number.isFinite(value)) return fallback;
  return Math.min(max, Math.max(1, value));
}

function uuidList(raw: string | undefined, name: string): string[] | null {
  if (raw === undefined || raw.trim() === "") return null;
  const ids = raw
    .split(",")
    .map((id) => id.trim())
    .filter(Boolean);
  if (!ids.every(isUuid)) throw new StatusError(400, `${name} must contain valid UUID values`);
  return ids.map((id) => id.toLowerCase());
}

function nonNegativeInteger(raw: string | undefined, name: string): number | null {
  if (raw === undefined || raw === "") return null;
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw new StatusError(400, `${name} must be a non-negative integer`);
  }
  return Number(raw);
}

function timestamp(raw: string | undefined, name: string): number | null {
  if (raw === undefined || raw === "") return null;
  const value = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !Number.isFinite(value) || value > 8.64e15) {
    throw new StatusError(400, `${name} must be a non-negative timestamp in milliseconds`);
  }
  return value;
}

/** Replay ids with at least `minimum` clicks, from the analytics store (at most 1,000). */
async function replaysWithClicks(
  app: AppContext,
  scope: { projectId: string; branchId: string },
  minimum: number,
): Promise<string[]> {
  const { text } = await app.analytics.engine.query(
    `SELECT session_replay_id AS id FROM default.events
     WHERE event_type = '$click' AND session_replay_id IS NOT NULL
     GROUP BY session_replay_id HAVING count() >= {minimum:UInt64} LIMIT 1000`,
    { params: { minimum }, settings: { log_comment: `${scope.projectId}:${scope.branchId}` } },
  );
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { id: string }).id)
    .filter(isUuid);
}

/** One page of replays, newest activity first, with keyset pagination on (last_event_at, id). */
export async function listReplays(
  app: AppContext,
  scope: { tenancyId: string; projectId: string; branchId: string },
  filters: ReplayFilters,
) {
  const db = app.database.db;
  const conditions: RawBuilder<unknown>[] = [sql`r.tenancy_id = ${scope.tenancyId}`];
  if (filters.cursor) {
    const cursor = isUuid(filters.cursor)
      ? await db
          .selectFrom("session_replays")
          .select(["id", "last_event_at"])
          .where("tenancy_id", "=", scope.tenancyId)
          .where("id", "=", filters.cursor)
          .executeTakeFirst()
      : undefined;
    if (!cursor) throw new KnownError("ITEM_NOT_FOUND", filters.cursor);
    conditions.push(sql`(r.last_event_at, r.id) < (${cursor.last_event_at}, ${cursor.id})`);
  }
  if (filters.userIds) conditions.push(sql`r.user_id = ANY(${filters.userIds}::uuid[])`);
  if (filters.teamIds) {
    conditions.push(sql`EXISTS (SELECT 1 FROM team_members m WHERE m.tenancy_id = r.tenancy_id
      AND m.user_id = r.user_id AND m.team_id = ANY(${filters.teamIds}::uuid[]))`);
  }
  const duration = sql`extract(epoch FROM r.last_event_at - r.started_at) * 1000`;
  if (filters.durationMin !== null) conditions.push(sql`${duration} >= ${filters.durationMin}`);
  if (filters.durationMax !== null) conditions.push(sql`${duration} <= ${filters.durationMax}`);
  if (filters.lastEventFrom !== null)
    conditions.push(sql`r.last_event_at >= ${new Date(filters.lastEventFrom)}`);
  if (filters.lastEventTo !== null) conditions.push(sql`r.last_event_at <= ${new Date(filters.lastEventTo)}`);
  if (filters.clickCountMin > 0) {
    const ids = await replaysWithClicks(app, scope, filters.clickCountMin);
    if (ids.length === 0) return { items: [], pagination: { next_cursor: null } };
    conditions.push(sql`r.id = ANY(${ids}::uuid[])`);
  }

  const { rows } = await sql<ReplayRow>`
    SELECT r.id, r.user_id, u.display_name, email.value AS primary_email, r.started_at, r.last_event_at,
           chunks.chunk_count, chunks.event_count
    FROM session_replays r
    JOIN users u ON u.tenancy_id = r.tenancy_id AND u.id = r.user_id
    LEFT JOIN contact_channels email ON email.tenancy_id = r.tenancy_id AND email.user_id = r.user_id
      AND email.type = 'email' AND email.is_primary
    CROSS JOIN LATERAL (
      SELECT count(*)::int AS chunk_count, coalesce(sum(k.event_count), 0)::int AS event_count
      FROM session_replay_chunks k WHERE k.tenancy_id = r.tenancy_id AND k.session_replay_id = r.id
    ) chunks
    WHERE ${sql.join(conditions, sql` AND `)}
    ORDER BY r.last_event_at DESC, r.id DESC
    LIMIT ${filters.limit + 1}`.execute(db);

  const page = rows.slice(0, filters.limit);
  return {
    items: page.map((row) => ({
      id: row.id,
      project_user: { id: row.user_id, display_name: row.display_name, primary_email: row.primary_email },
      started_at_millis: row.started_at.getTime(),
      last_event_at_millis: row.last_event_at.getTime(),
      chunk_count: row.chunk_count,
      event_count: row.event_count,
    })),
    pagination: { next_cursor: rows.length > filters.limit ? page[page.length - 1]!.id : null },
  };
}

interface ReplayRow {
  id: string;
  user_id: string;
  display_name: string | null;
  primary_email: string | null;
  started_at: Date;
  last_event_at: Date;
  chunk_count: number;
  event_count: number;
}
