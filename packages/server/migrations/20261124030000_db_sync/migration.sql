-- Change capture for live sync into customers' databases (db-sync).
--
-- Every change to a synced row is captured by triggers, inside the writer's transaction, whatever
-- wrote it (the API, raw SQL, a foreign-key cascade): inserts and updates mark the row dirty, deletes
-- leave a tombstone. A single sequencer (serialised by an advisory lock) later stamps dirty rows with
-- ids from one global sequence in its own transactions. Because those transactions commit one after
-- the other, ids become visible in increasing order: a reader that has seen id N will never later
-- find a committed id below N, so a cursor can never skip a row.

CREATE SEQUENCE sync_sequence AS bigint;

ALTER TABLE users
  ADD COLUMN sync_seq bigint,
  -- true for every existing row: the sequencer back-fills them.
  ADD COLUMN sync_dirty boolean NOT NULL DEFAULT true;
ALTER TABLE contact_channels
  ADD COLUMN sync_seq bigint,
  ADD COLUMN sync_dirty boolean NOT NULL DEFAULT true;

CREATE INDEX users_sync_dirty_idx ON users (tenancy_id) WHERE sync_dirty;
CREATE INDEX users_sync_seq_idx ON users (tenancy_id, sync_seq);
CREATE INDEX contact_channels_sync_dirty_idx ON contact_channels (tenancy_id) WHERE sync_dirty;
CREATE INDEX contact_channels_sync_seq_idx ON contact_channels (tenancy_id, sync_seq);

-- Tombstones of deleted synced rows, sequenced like live rows.
CREATE TABLE sync_deleted_rows (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenancy_id   uuid NOT NULL,
  table_name   text NOT NULL,
  row_id       uuid NOT NULL,
  -- The row as it was, for mappings that need more than its id.
  data         jsonb NOT NULL,
  deleted_at   timestamptz NOT NULL DEFAULT now(),
  sync_seq     bigint,
  sync_dirty   boolean NOT NULL DEFAULT true
);

CREATE INDEX sync_deleted_rows_dirty_idx ON sync_deleted_rows (tenancy_id) WHERE sync_dirty;
CREATE INDEX sync_deleted_rows_seq_idx ON sync_deleted_rows (tenancy_id, table_name, sync_seq);

-- The switches of the pipeline (one row): pause capture sequencing or delivery, globally.
CREATE TABLE sync_fusebox (
  singleton          boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  sequencer_enabled  boolean NOT NULL DEFAULT true,
  delivery_enabled   boolean NOT NULL DEFAULT true,
  updated_at         timestamptz NOT NULL DEFAULT now()
);
INSERT INTO sync_fusebox DEFAULT VALUES;

-- Per-project pauses (a row = paused for that tenancy).
CREATE TABLE sync_tenancy_pauses (
  tenancy_id          uuid PRIMARY KEY REFERENCES tenancies (id) ON DELETE CASCADE,
  sequencer_paused    boolean NOT NULL DEFAULT false,
  delivery_paused     boolean NOT NULL DEFAULT false,
  updated_at          timestamptz NOT NULL DEFAULT now()
);

-- The last error and timing of each (tenancy, external database, mapping), for the status endpoint.
CREATE TABLE sync_target_states (
  tenancy_id           uuid NOT NULL REFERENCES tenancies (id) ON DELETE CASCADE,
  database_id          text NOT NULL,
  last_success_at      timestamptz,
  last_error           text,
  last_error_at        timestamptz,
  consecutive_failures integer NOT NULL DEFAULT 0,
  PRIMARY KEY (tenancy_id, database_id)
);

-- Marks a row dirty on every insert and update, except the sequencer's own stamping (it sets
-- latchkey.sequencing for its transaction), and wakes the sequencer at commit.
CREATE FUNCTION sync_mark_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF coalesce(current_setting('latchkey.sequencing', true), '') = 'on' THEN
    RETURN NEW;
  END IF;
  NEW.sync_dirty := true;
  PERFORM pg_notify('latchkey_sync_dirty', '');
  RETURN NEW;
END;
$$;

CREATE FUNCTION sync_record_deletion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO sync_deleted_rows (tenancy_id, table_name, row_id, data)
  VALUES (OLD.tenancy_id, TG_TABLE_NAME, OLD.id, to_jsonb(OLD));
  PERFORM pg_notify('latchkey_sync_dirty', '');
  RETURN OLD;
END;
$$;

-- A user's synced row shows its primary e-mail, so a change to its channels changes the user too.
CREATE FUNCTION sync_mark_channel_owner() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changed record;
BEGIN
  IF coalesce(current_setting('latchkey.sequencing', true), '') = 'on' THEN
    RETURN NULL;
  END IF;
  changed := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  UPDATE users SET sync_dirty = true
  WHERE tenancy_id = changed.tenancy_id AND id = changed.user_id AND NOT sync_dirty;
  RETURN NULL;
END;
$$;

CREATE TRIGGER users_sync_mark_dirty BEFORE INSERT OR UPDATE ON users
  FOR EACH ROW EXECUTE FUNCTION sync_mark_dirty();
CREATE TRIGGER users_sync_record_deletion AFTER DELETE ON users
  FOR EACH ROW EXECUTE FUNCTION sync_record_deletion();
CREATE TRIGGER contact_channels_sync_mark_dirty BEFORE INSERT OR UPDATE ON contact_channels
  FOR EACH ROW EXECUTE FUNCTION sync_mark_dirty();
CREATE TRIGGER contact_channels_sync_record_deletion AFTER DELETE ON contact_channels
  FOR EACH ROW EXECUTE FUNCTION sync_record_deletion();
CREATE TRIGGER contact_channels_sync_mark_owner AFTER INSERT OR UPDATE OR DELETE ON contact_channels
  FOR EACH ROW EXECUTE FUNCTION sync_mark_channel_owner();
