-- A recording goes with its replay. Chunks are deleted with their replay, its user or its project (all
-- cascades), but the embedded store's blobs had no link to them: they stayed, served to nobody and
-- deleted by nothing, so a deleted user's recordings were kept for good.
CREATE FUNCTION drop_deleted_chunks_blobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM session_replay_blobs b USING deleted_chunks d WHERE b.key = d.blob_key;
  RETURN NULL;
END $$;

-- Per statement, with the deleted rows as a table: a project's delete takes its blobs in one go per
-- cascaded statement, not one trigger call per chunk.
CREATE TRIGGER session_replay_chunks_blobs_deleted AFTER DELETE ON session_replay_chunks
  REFERENCING OLD TABLE AS deleted_chunks
  FOR EACH STATEMENT EXECUTE FUNCTION drop_deleted_chunks_blobs();
