-- Session replays: the index of recorded browser sessions lives here; the recorded rrweb events are
-- gzip blobs in a blob store (PostgreSQL by default, see session_replay_blobs).

CREATE TABLE session_replays (
  tenancy_id        uuid NOT NULL,
  id                uuid NOT NULL DEFAULT gen_random_uuid(),
  user_id           uuid NOT NULL,
  -- The session (refresh token) that recorded it; replays are grouped by it. Not a foreign key: a
  -- replay outlives the sign-out that ends its session.
  refresh_token_id  uuid NOT NULL,
  -- From the recorded events' own (client) timestamps.
  started_at        timestamptz NOT NULL,
  last_event_at     timestamptz NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  -- Server time of the last upload: the idle timeout uses it, since client timestamps can be spoofed.
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenancy_id, id),
  FOREIGN KEY (tenancy_id, user_id) REFERENCES users (tenancy_id, id) ON DELETE CASCADE
);

CREATE INDEX session_replays_recent_idx ON session_replays (tenancy_id, refresh_token_id, updated_at DESC);
CREATE INDEX session_replays_listing_idx ON session_replays (tenancy_id, last_event_at DESC, id DESC);
CREATE INDEX session_replays_user_idx ON session_replays (tenancy_id, user_id, started_at);

CREATE TABLE session_replay_chunks (
  tenancy_id                 uuid NOT NULL,
  id                         uuid NOT NULL DEFAULT gen_random_uuid(),
  session_replay_id          uuid NOT NULL,
  -- The client's id for the upload: a retried upload with the same batch id is stored once.
  batch_id                   uuid NOT NULL,
  session_replay_segment_id  text,
  browser_session_id         text,
  blob_key                   text NOT NULL,
  event_count                integer NOT NULL,
  byte_length                integer NOT NULL,
  first_event_at             timestamptz NOT NULL,
  last_event_at              timestamptz NOT NULL,
  created_at                 timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenancy_id, id),
  FOREIGN KEY (tenancy_id, session_replay_id) REFERENCES session_replays (tenancy_id, id) ON DELETE CASCADE,
  CONSTRAINT session_replay_chunks_batch_unique UNIQUE (tenancy_id, session_replay_id, batch_id)
);

CREATE INDEX session_replay_chunks_order_idx
  ON session_replay_chunks (tenancy_id, session_replay_id, first_event_at, id);

-- The default blob store. Keys are the object keys an S3 bucket would use.
CREATE TABLE session_replay_blobs (
  key         text PRIMARY KEY,
  body        bytea NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Timing of project-scoped analytics queries, looked up by query id (any API process may be asked).
CREATE TABLE analytics_query_stats (
  query_id          text PRIMARY KEY,
  tenancy_id        uuid NOT NULL,
  -- Null when the engine runs elsewhere (a ClickHouse server) and its CPU time is not known here.
  cpu_time_ms       double precision,
  wall_clock_ms     double precision NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX analytics_query_stats_created_idx ON analytics_query_stats (created_at);
