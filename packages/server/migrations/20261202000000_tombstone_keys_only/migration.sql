-- A tombstone has to say which row went, nothing more: its `id` and `…_id` columns are all that a sync
-- target's delete reads. It kept the whole row instead — a deleted user's display name, metadata and
-- search text, a deleted channel's address — for as long as the database lives, which deleting a user
-- must not leave behind. From now on only the keys are written, and the tombstones already there are
-- stripped, 10,000 a round in key order.
CREATE OR REPLACE FUNCTION sync_row_keys(row_data jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(jsonb_object_agg(key, value), '{}'::jsonb)
    FROM jsonb_each(row_data)
   WHERE key = 'id' OR key LIKE '%\_id'
$$;

CREATE OR REPLACE FUNCTION sync_record_deletion() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  old_row jsonb := to_jsonb(OLD);
BEGIN
  INSERT INTO sync_deleted_rows (tenancy_id, table_name, row_id, data)
  VALUES (OLD.tenancy_id, TG_TABLE_NAME, (old_row->>'id')::uuid, sync_row_keys(old_row));
  PERFORM pg_notify('latchkey_sync_dirty', '');
  RETURN OLD;
END;
$$;

-- Where the rounds have got to (kept between rounds, dropped after the last).
CREATE TABLE IF NOT EXISTS sync_tombstone_strip_progress (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  last_id  uuid NOT NULL
);
INSERT INTO sync_tombstone_strip_progress (last_id) VALUES ('00000000-0000-0000-0000-000000000000')
ON CONFLICT DO NOTHING;

WITH batch AS (
  SELECT id FROM sync_deleted_rows
   WHERE id > (SELECT last_id FROM sync_tombstone_strip_progress)
   ORDER BY id
   LIMIT 10000
), stripped AS (
  UPDATE sync_deleted_rows d SET data = sync_row_keys(d.data)
    FROM batch
   WHERE d.id = batch.id
  RETURNING d.id
), progress AS (
  UPDATE sync_tombstone_strip_progress
     SET last_id = (SELECT id FROM stripped ORDER BY id DESC LIMIT 1)
   WHERE EXISTS (SELECT 1 FROM stripped)
  RETURNING 1
)
SELECT (SELECT count(*) FROM stripped) = 10000 AS should_repeat_migration;

-- Last round only: tombstones that transactions begun before the new function was committed still
-- wrote whole, with ids anywhere in the key order. One pass over the table, rewriting only those.
UPDATE sync_deleted_rows SET data = sync_row_keys(data) WHERE data <> sync_row_keys(data);
DROP TABLE sync_tombstone_strip_progress;
