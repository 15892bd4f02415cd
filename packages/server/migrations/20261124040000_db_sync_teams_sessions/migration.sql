-- Change capture for the remaining synced tables: teams, memberships (member profiles), team and
-- project permissions, sessions (refresh tokens) and connected OAuth accounts. Same design as
-- 20261124030000_db_sync: dirty marks and tombstones by trigger, stamped by the sequencer.

-- Tombstones of rows keyed by several columns (a membership, a permission) have no single id; their
-- keys are in `data`.
ALTER TABLE sync_deleted_rows ALTER COLUMN row_id DROP NOT NULL;

CREATE OR REPLACE FUNCTION sync_record_deletion() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  old_row jsonb := to_jsonb(OLD);
BEGIN
  INSERT INTO sync_deleted_rows (tenancy_id, table_name, row_id, data)
  VALUES (OLD.tenancy_id, TG_TABLE_NAME, (old_row->>'id')::uuid, old_row);
  PERFORM pg_notify('latchkey_sync_dirty', '');
  RETURN OLD;
END;
$$;


ALTER TABLE teams
  ADD COLUMN sync_seq bigint,
  ADD COLUMN sync_dirty boolean NOT NULL DEFAULT true;
CREATE INDEX teams_sync_dirty_idx ON teams (tenancy_id) WHERE sync_dirty;
CREATE INDEX teams_sync_seq_idx ON teams (tenancy_id, sync_seq);
CREATE TRIGGER teams_sync_mark_dirty BEFORE INSERT OR UPDATE ON teams
  FOR EACH ROW EXECUTE FUNCTION sync_mark_dirty();
CREATE TRIGGER teams_sync_record_deletion AFTER DELETE ON teams
  FOR EACH ROW EXECUTE FUNCTION sync_record_deletion();

ALTER TABLE team_members
  ADD COLUMN sync_seq bigint,
  ADD COLUMN sync_dirty boolean NOT NULL DEFAULT true;
CREATE INDEX team_members_sync_dirty_idx ON team_members (tenancy_id) WHERE sync_dirty;
CREATE INDEX team_members_sync_seq_idx ON team_members (tenancy_id, sync_seq);
CREATE TRIGGER team_members_sync_mark_dirty BEFORE INSERT OR UPDATE ON team_members
  FOR EACH ROW EXECUTE FUNCTION sync_mark_dirty();
CREATE TRIGGER team_members_sync_record_deletion AFTER DELETE ON team_members
  FOR EACH ROW EXECUTE FUNCTION sync_record_deletion();

ALTER TABLE team_member_permissions
  ADD COLUMN sync_seq bigint,
  ADD COLUMN sync_dirty boolean NOT NULL DEFAULT true;
CREATE INDEX team_member_permissions_sync_dirty_idx ON team_member_permissions (tenancy_id) WHERE sync_dirty;
CREATE INDEX team_member_permissions_sync_seq_idx ON team_member_permissions (tenancy_id, sync_seq);
CREATE TRIGGER team_member_permissions_sync_mark_dirty BEFORE INSERT OR UPDATE ON team_member_permissions
  FOR EACH ROW EXECUTE FUNCTION sync_mark_dirty();
CREATE TRIGGER team_member_permissions_sync_record_deletion AFTER DELETE ON team_member_permissions
  FOR EACH ROW EXECUTE FUNCTION sync_record_deletion();

ALTER TABLE user_permissions
  ADD COLUMN sync_seq bigint,
  ADD COLUMN sync_dirty boolean NOT NULL DEFAULT true;
CREATE INDEX user_permissions_sync_dirty_idx ON user_permissions (tenancy_id) WHERE sync_dirty;
CREATE INDEX user_permissions_sync_seq_idx ON user_permissions (tenancy_id, sync_seq);
CREATE TRIGGER user_permissions_sync_mark_dirty BEFORE INSERT OR UPDATE ON user_permissions
  FOR EACH ROW EXECUTE FUNCTION sync_mark_dirty();
CREATE TRIGGER user_permissions_sync_record_deletion AFTER DELETE ON user_permissions
  FOR EACH ROW EXECUTE FUNCTION sync_record_deletion();

ALTER TABLE sessions
  ADD COLUMN sync_seq bigint,
  ADD COLUMN sync_dirty boolean NOT NULL DEFAULT true;
CREATE INDEX sessions_sync_dirty_idx ON sessions (tenancy_id) WHERE sync_dirty;
CREATE INDEX sessions_sync_seq_idx ON sessions (tenancy_id, sync_seq);
CREATE TRIGGER sessions_sync_mark_dirty BEFORE INSERT OR UPDATE ON sessions
  FOR EACH ROW EXECUTE FUNCTION sync_mark_dirty();
CREATE TRIGGER sessions_sync_record_deletion AFTER DELETE ON sessions
  FOR EACH ROW EXECUTE FUNCTION sync_record_deletion();

ALTER TABLE oauth_accounts
  ADD COLUMN sync_seq bigint,
  ADD COLUMN sync_dirty boolean NOT NULL DEFAULT true;
CREATE INDEX oauth_accounts_sync_dirty_idx ON oauth_accounts (tenancy_id) WHERE sync_dirty;
CREATE INDEX oauth_accounts_sync_seq_idx ON oauth_accounts (tenancy_id, sync_seq);
CREATE TRIGGER oauth_accounts_sync_mark_dirty BEFORE INSERT OR UPDATE ON oauth_accounts
  FOR EACH ROW EXECUTE FUNCTION sync_mark_dirty();
CREATE TRIGGER oauth_accounts_sync_record_deletion AFTER DELETE ON oauth_accounts
  FOR EACH ROW EXECUTE FUNCTION sync_record_deletion();
