-- latchkey:no-transaction
-- Indexes behind the user list and the dashboard metrics at a million users per tenancy. Built
-- concurrently: on a large deployment the users table keeps taking writes while they are built.

-- `only_anonymous=true` pages over the few anonymous users without walking past everyone else.
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_anonymous_signed_up_idx
  ON users (tenancy_id, signed_up_at, id) WHERE is_anonymous;

-- The metrics' "recently active" list: the newest last_active_at of a tenancy.
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_last_active_idx
  ON users (tenancy_id, last_active_at DESC);
