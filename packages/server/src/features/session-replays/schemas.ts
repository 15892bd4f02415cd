import { Type } from "typebox";
import { clientUuid, MAX_TIMESTAMP_MS } from "../analytics/schemas.ts";

export const MAX_REPLAY_BODY_BYTES = 1_000_000;
export const MAX_REPLAY_EVENTS = 5000;
/**
 * A recorded DOM snapshot nests two JSON levels per DOM level, and browsers' HTML parsers build trees
 * up to 512 elements deep: room for those and more, still far from where `JSON.stringify` (which the
 * stored blob goes through) runs out of stack.
 */
export const MAX_REPLAY_BODY_DEPTH = 2048;

export const replayBatchBody = Type.Object({
  browser_session_id: clientUuid("browser_session_id"),
  session_replay_segment_id: clientUuid("session_replay_segment_id"),
  batch_id: clientUuid("batch_id"),
  started_at_ms: Type.Integer({ minimum: 0, maximum: MAX_TIMESTAMP_MS }),
  sent_at_ms: Type.Integer({ minimum: 0, maximum: MAX_TIMESTAMP_MS }),
  /** rrweb events, stored exactly as sent. */
  events: Type.Array(Type.Unknown()),
});

/** The listing filters arrive as text and are parsed by hand, with upstream's plain messages. */
export const replayListQuery = Type.Object({
  limit: Type.Optional(Type.String()),
  cursor: Type.Optional(Type.String()),
  user_ids: Type.Optional(Type.String()),
  team_ids: Type.Optional(Type.String()),
  duration_ms_min: Type.Optional(Type.String()),
  duration_ms_max: Type.Optional(Type.String()),
  last_event_at_from_millis: Type.Optional(Type.String()),
  last_event_at_to_millis: Type.Optional(Type.String()),
  click_count_min: Type.Optional(Type.String()),
});

export const replayParams = Type.Object({ session_replay_id: Type.String() });
export const chunkParams = Type.Object({ session_replay_id: Type.String(), chunk_id: Type.String() });
export const pageQuery = Type.Object({
  limit: Type.Optional(Type.String()),
  cursor: Type.Optional(Type.String()),
});
export const sliceQuery = Type.Object({
  offset: Type.Optional(Type.String()),
  limit: Type.Optional(Type.String()),
});
