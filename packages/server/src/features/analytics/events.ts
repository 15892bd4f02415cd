import type { FastifyRequest } from "fastify";
import type { AppContext } from "../../app-context.ts";
import { schemaError } from "../../http/requirements.ts";

/** The event types the browser tracker records; `$`-names are reserved for these and server events. */
export const BROWSER_EVENT_TYPES = ["$page-view", "$click"] as const;

/**
 * Custom events (`track(name, data)`) are stored under their own name as the event type. Names starting
 * with `$` belong to Latchkey, so an unknown one is refused in upstream's words.
 */
export function assertEventTypes(raw: FastifyRequest, events: readonly { event_type: string }[]): void {
  const violations = events.flatMap((event, index) =>
    event.event_type.startsWith("$") && !(BROWSER_EVENT_TYPES as readonly string[]).includes(event.event_type)
      ? [
          `body.events[${index}].event_type must be one of the following values: ${BROWSER_EVENT_TYPES.join(", ")}`,
        ]
      : [],
  );
  if (violations.length > 0) throw schemaError(raw, violations);
}

/**
 * Replaces lone UTF-16 surrogates in every string, keys included, with U+FFFD. ClickHouse refuses them
 * in JSON, and truncating text to 200 code units (as trackers do) can split an emoji in two.
 */
export function sanitizeStrings(value: unknown): unknown {
  if (typeof value === "string") return wellFormed(value);
  if (Array.isArray(value)) return value.map(sanitizeStrings);
  if (value !== null && typeof value === "object") {
    const result: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) result[wellFormed(key)] = sanitizeStrings(inner);
    return result;
  }
  return value;
}

const wellFormed = (text: string) => (text as WellFormable).toWellFormed();

// Node 20 has String.prototype.toWellFormed; the ES2022 typings do not.
type WellFormable = string & { toWellFormed(): string };

/** One row of `analytics_internal.events`. */
export interface EventRow {
  event_type: string;
  event_at_ms: number;
  data: unknown;
  project_id: string;
  branch_id: string;
  user_id: string | null;
  team_id?: string | null;
  /** Whether the user was anonymous: anonymous activity is left out of the metrics unless asked. */
  is_anonymous: boolean;
  refresh_token_id: string | null;
  session_replay_id?: string | null;
  session_replay_segment_id?: string | null;
}

/** Serialises a row for a `JSONEachRow` insert. */
export function eventRowJson(row: EventRow): string {
  return JSON.stringify({
    event_type: wellFormed(row.event_type),
    event_at: new Date(row.event_at_ms).toISOString(),
    // The JSON column wants an object; scalars and arrays are wrapped so nothing a client sent is lost.
    data: isPlainObject(row.data) ? sanitizeStrings(row.data) : { value: sanitizeStrings(row.data) },
    project_id: row.project_id,
    branch_id: row.branch_id,
    user_id: row.user_id,
    team_id: row.team_id ?? null,
    is_anonymous: row.is_anonymous,
    refresh_token_id: row.refresh_token_id,
    session_replay_id: row.session_replay_id ?? null,
    session_replay_segment_id: row.session_replay_segment_id ?? null,
  });
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/**
 * Writes an event the server itself observed (`$token-refresh`, sign-ups). The request that caused it
 * does not wait for the analytics store: its answer must not depend on analytics being up. A failed
 * write is logged, never silently dropped. The promise settles once the event is stored (or its
 * failure logged); a caller that orders something after the event passes `immediately`, so it is not
 * held back by the gathering of server events.
 */
export function recordServerEvent(
  app: AppContext,
  row: EventRow,
  options: { immediately?: boolean } = {},
): Promise<void> {
  const inserter = options.immediately ? app.analytics.events : app.analytics.serverEvents;
  return inserter
    .write([eventRowJson(row)])
    .catch((error) => app.log(`analytics: could not record ${row.event_type} event: ${error}`));
}

/** How a user came to exist, as recorded on `$sign-up`. */
export type SignUpMethod = "password" | "otp" | "anonymous" | "server";

/** Records a `$sign-up` server event for a user just created. */
export function recordSignUp(
  app: AppContext,
  scope: { project: { id: string }; tenancy: { branchId: string } },
  userId: string,
  method: SignUpMethod,
): void {
  recordServerEvent(app, {
    event_type: "$sign-up",
    event_at_ms: Date.now(),
    data: { auth_method: method, is_anonymous: method === "anonymous" },
    project_id: scope.project.id,
    branch_id: scope.tenancy.branchId,
    user_id: userId,
    is_anonymous: method === "anonymous",
    refresh_token_id: null,
  });
}
