-- The dashboard's figures at tens of millions of events: geo as plain columns, and the browsing
-- figures kept pre-aggregated per day as events arrive.

-- A token refresh's country and region, read by the "users by country" and "top region" figures. Out
-- of the JSON data they cost those figures a third of their time.
ALTER TABLE analytics_internal.events
  ADD COLUMN IF NOT EXISTS country_code LowCardinality(Nullable(String))
    MATERIALIZED data.ip_info.country_code::Nullable(String) AFTER referrer,
  ADD COLUMN IF NOT EXISTS region_code LowCardinality(Nullable(String))
    MATERIALIZED data.ip_info.region_code::Nullable(String) AFTER country_code;
ALTER TABLE analytics_internal.events MATERIALIZE COLUMN country_code SETTINGS mutations_sync = 2;
ALTER TABLE analytics_internal.events MATERIALIZE COLUMN region_code SETTINGS mutations_sync = 2;

-- The by-type copy must carry the new columns, or a query reading them falls back to every row. The
-- new copy is built before the old one is dropped, so queries stay fast during the migration.
ALTER TABLE analytics_internal.events ADD PROJECTION IF NOT EXISTS by_type_with_geo (
  SELECT event_type, event_at, data, referrer, country_code, region_code, project_id, branch_id, user_id,
         user_hash, team_id, is_anonymous, refresh_token_id, session_replay_id, session_replay_segment_id,
         created_at
   ORDER BY project_id, branch_id, event_type, event_at);
ALTER TABLE analytics_internal.events MATERIALIZE PROJECTION by_type_with_geo SETTINGS mutations_sync = 2;
ALTER TABLE analytics_internal.events DROP PROJECTION IF EXISTS by_event_type SETTINGS mutations_sync = 2;

-- Page views, clicks and visitors per project, day, anonymity and referrer. A few thousand rows stand
-- for millions of events, so the browsing figures read no event at all. Visitors are HyperLogLog
-- sketches (uniqCombined64 at precision 14: exact up to about a thousand visitors, within about 1 %
-- beyond), because distinct counts cannot be summed across days or referrers and exact sets of
-- millions of ids cost as much to merge as the events did to read.
CREATE TABLE IF NOT EXISTS analytics_internal.daily_browsing (
  project_id    String,
  branch_id     String,
  day           Date,
  is_anonymous  Bool,
  referrer      String,
  page_views    SimpleAggregateFunction(sum, UInt64),
  clicks        SimpleAggregateFunction(sum, UInt64),
  visitors      AggregateFunction(uniqCombined64(14), UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (project_id, branch_id, day, is_anonymous, referrer);

-- Kept current by every insert into the events table (in the inserting statement: nothing to run).
CREATE MATERIALIZED VIEW IF NOT EXISTS analytics_internal.daily_browsing_feed
TO analytics_internal.daily_browsing AS
SELECT project_id, branch_id, toDate(event_at) AS day, is_anonymous,
       if(event_type = '$page-view', referrer, '') AS referrer,
       countIf(event_type = '$page-view') AS page_views,
       countIf(event_type = '$click') AS clicks,
       uniqCombined64StateIf(14)(user_hash, event_type = '$page-view') AS visitors
  FROM analytics_internal.events
 WHERE event_type IN ('$page-view', '$click') AND user_id IS NOT NULL
 GROUP BY project_id, branch_id, day, is_anonymous, referrer;

-- Filled from the events stored so far (emptied first, so a rerun after a crash does not count twice).
-- Latchkey applies migrations before it serves, so nothing is written meanwhile; only an older release
-- still writing to a shared ClickHouse server during a rolling deploy could have an event of that
-- instant counted twice in page views or clicks (visitor counts are unaffected: a sketch ignores repeats).
TRUNCATE TABLE analytics_internal.daily_browsing;
INSERT INTO analytics_internal.daily_browsing
SELECT project_id, branch_id, toDate(event_at) AS day, is_anonymous,
       if(event_type = '$page-view', referrer, '') AS referrer,
       countIf(event_type = '$page-view'), countIf(event_type = '$click'),
       uniqCombined64StateIf(14)(user_hash, event_type = '$page-view')
  FROM analytics_internal.events
 WHERE event_type IN ('$page-view', '$click') AND user_id IS NOT NULL
 GROUP BY project_id, branch_id, day, is_anonymous, referrer;
