-- What the dashboard metrics read at millions of events.

-- Whether the user behind an event was anonymous when it was written. The metrics leave anonymous
-- activity out unless asked, and a column read per row costs a fraction of a JSON path or a lookup
-- of every user's latest state. Rows written by older code read false.
ALTER TABLE analytics_internal.events ADD COLUMN IF NOT EXISTS is_anonymous Bool DEFAULT false AFTER team_id;

-- Token refreshes always said so in their data: carry that over (idempotent, and a no-op on a new store).
ALTER TABLE analytics_internal.events UPDATE is_anonymous = true
 WHERE event_type = '$token-refresh' AND NOT is_anonymous AND ifNull(data.is_anonymous::Nullable(Bool), false)
SETTINGS mutations_sync = 2;

-- Users are counted by a 64-bit hash of their id: 8 bytes to read and compare instead of a
-- 36-character string. Computed on insert, so writers need not know it.
ALTER TABLE analytics_internal.events
  ADD COLUMN IF NOT EXISTS user_hash UInt64 MATERIALIZED cityHash64(ifNull(user_id, '')) AFTER user_id;
ALTER TABLE analytics_internal.events MATERIALIZE COLUMN user_hash SETTINGS mutations_sync = 2;

-- A page view's referrer as a plain column: reading it from the JSON data cost the top-referrers
-- figure about as much as everything else it reads.
ALTER TABLE analytics_internal.events
  ADD COLUMN IF NOT EXISTS referrer String MATERIALIZED ifNull(toString(data.referrer), '') AFTER data;
ALTER TABLE analytics_internal.events MATERIALIZE COLUMN referrer SETTINGS mutations_sync = 2;

-- Every metric reads a few event types of a project; in the table's order (by time) the types are
-- interleaved, so each query read every row. This copy, kept up to date on insert and chosen by the
-- query planner, keeps each type's rows together. The columns are listed: `*` leaves out the
-- materialized ones.
ALTER TABLE analytics_internal.events ADD PROJECTION IF NOT EXISTS by_event_type (
  SELECT event_type, event_at, data, referrer, project_id, branch_id, user_id, user_hash, team_id, is_anonymous,
         refresh_token_id, session_replay_id, session_replay_segment_id, created_at
   ORDER BY project_id, branch_id, event_type, event_at);
ALTER TABLE analytics_internal.events MATERIALIZE PROJECTION by_event_type SETTINGS mutations_sync = 2;
