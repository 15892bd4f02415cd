-- latchkey:no-transaction
-- A sign-up looks up the tenancy's sign-ups of the last day from its address and with its e-mail
-- base. Built concurrently: the users table keeps taking writes meanwhile.
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_sign_up_ip_idx
  ON users (tenancy_id, sign_up_ip, signed_up_at) WHERE sign_up_ip IS NOT NULL;

CREATE INDEX CONCURRENTLY IF NOT EXISTS users_sign_up_email_base_idx
  ON users (tenancy_id, sign_up_email_base, signed_up_at) WHERE sign_up_email_base IS NOT NULL;
