import { Type } from "typebox";

/** UUID versions 1–8 with the RFC variant, any case — what upstream's `uuid()` check accepts. */
export const UUID_PATTERN =
  "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$";

/** A client-generated UUID, refused with upstream's message ("Invalid batch_id"). */
export const clientUuid = (field: string) =>
  Type.String({ pattern: UUID_PATTERN, errorMessage: `Invalid ${field}` } as { pattern: string });

/** The last millisecond ClickHouse's `DateTime64(3)` can hold (2299-12-31T23:59:59.999Z). */
export const MAX_TIMESTAMP_MS = 10_413_791_999_999;

export const MAX_EVENTS_PER_BATCH = 500;

export const eventBatchBody = Type.Object({
  session_replay_segment_id: clientUuid("session_replay_segment_id"),
  batch_id: clientUuid("batch_id"),
  sent_at_ms: Type.Integer({ minimum: 0, maximum: MAX_TIMESTAMP_MS }),
  events: Type.Array(
    Type.Object({
      /** `$page-view`, `$click`, or a custom event's own name (which may not start with `$`). */
      event_type: Type.String({ minLength: 1, maxLength: 200 }),
      event_at_ms: Type.Integer({ minimum: 0, maximum: MAX_TIMESTAMP_MS }),
      data: Type.Unknown(),
    }),
    { minItems: 1, maxItems: MAX_EVENTS_PER_BATCH },
  ),
});

export const analyticsQueryBody = Type.Object({
  query: Type.String({ minLength: 1 }),
  params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  timeout_ms: Type.Optional(Type.Integer({ minimum: 1000, maximum: 120_000 })),
  include_all_branches: Type.Optional(Type.Boolean()),
});

export const queryTimingBody = Type.Object({ query_id: Type.String({ minLength: 1 }) });
