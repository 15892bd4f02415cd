-- The blobs deleted replays left before 20261201000300 made blobs go with their chunks (and those of
-- uploads whose chunk row failed), in rounds of 10,000 so that no round holds a long transaction. Its
-- own migration, so the lock that creating that trigger takes on the chunks is not held meanwhile. The
-- hour spares an upload of the previous release that has stored its blob and is writing its chunk.
WITH gone AS (
  DELETE FROM session_replay_blobs WHERE key IN (
    SELECT b.key FROM session_replay_blobs b
     WHERE b.created_at < now() - interval '1 hour'
       AND NOT EXISTS (SELECT 1 FROM session_replay_chunks c WHERE c.blob_key = b.key)
     LIMIT 10000)
  RETURNING 1)
SELECT count(*) = 10000 AS should_repeat_migration FROM gone;
