-- latchkey:no-transaction
-- A sign-up looks up the tenancy's sign-ups of the last day from its address, with its e-mail base
-- and with its inbox. Built concurrently: the users table keeps taking writes meanwhile. A build that
-- failed or was cancelled leaves an invalid index that IF NOT EXISTS would keep: it is dropped first.
DO $$
DECLARE
  invalid text;
BEGIN
  FOR invalid IN
    SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE NOT i.indisvalid
       AND c.relname IN ('users_sign_up_ip_idx', 'users_sign_up_email_base_idx', 'users_sign_up_email_normalized_idx')
  LOOP
    EXECUTE format('DROP INDEX %I', invalid);
  END LOOP;
END $$;

CREATE INDEX CONCURRENTLY IF NOT EXISTS users_sign_up_ip_idx
  ON users (tenancy_id, sign_up_ip, sign_up_recorded_at) WHERE sign_up_ip IS NOT NULL;

CREATE INDEX CONCURRENTLY IF NOT EXISTS users_sign_up_email_base_idx
  ON users (tenancy_id, sign_up_email_base, sign_up_recorded_at) WHERE sign_up_email_base IS NOT NULL;

CREATE INDEX CONCURRENTLY IF NOT EXISTS users_sign_up_email_normalized_idx
  ON users (tenancy_id, sign_up_email_normalized, sign_up_recorded_at)
  WHERE sign_up_email_normalized IS NOT NULL;
