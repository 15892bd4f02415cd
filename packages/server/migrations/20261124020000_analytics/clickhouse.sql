-- Analytics events: browser page views and clicks, custom events, and server events ($token-refresh).
CREATE DATABASE IF NOT EXISTS analytics_internal;

CREATE TABLE IF NOT EXISTS analytics_internal.events (
  event_type                 LowCardinality(String),
  event_at                   DateTime64(3, 'UTC'),
  data                       JSON,
  project_id                 String,
  branch_id                  String,
  user_id                    Nullable(String),
  team_id                    Nullable(String),
  refresh_token_id           Nullable(String),
  session_replay_id          Nullable(String),
  session_replay_segment_id  Nullable(String),
  created_at                 DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(event_at)
ORDER BY (project_id, branch_id, event_at);

-- What project-scoped queries see. The scope arrives as the query's `log_comment` setting,
-- "<project id>:<branch id>", set by the server outside the user's SQL (which may not carry settings).
-- Without a scope the view is empty. The constant condition still uses the table's primary key.
CREATE OR REPLACE VIEW default.events AS
SELECT event_type, event_at, data, project_id, branch_id, user_id, team_id, refresh_token_id,
       session_replay_id, session_replay_segment_id, created_at
FROM analytics_internal.events
WHERE project_id = splitByChar(':', getSetting('log_comment'))[1]
  AND branch_id = splitByChar(':', getSetting('log_comment'))[2];
