-- latchkey:no-transaction
-- Indexes behind the user list and the dashboard metrics at a million users per tenancy. Built
-- concurrently: on a large deployment the users table keeps taking writes while they are built.

-- `GET /users?query=` is a case-insensitive substring search of display names and contact-channel
-- values; trigram indexes answer ILIKE '%…%' without reading every row of the tenancy.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX CONCURRENTLY IF NOT EXISTS users_display_name_trgm_idx
  ON users USING gin (display_name gin_trgm_ops);

CREATE INDEX CONCURRENTLY IF NOT EXISTS contact_channels_value_trgm_idx
  ON contact_channels USING gin (value gin_trgm_ops);

-- `only_anonymous=true` pages over the few anonymous users without walking past everyone else.
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_anonymous_signed_up_idx
  ON users (tenancy_id, signed_up_at, id) WHERE is_anonymous;

-- The metrics' "recently active" list: the newest last_active_at of a tenancy.
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_last_active_idx
  ON users (tenancy_id, last_active_at DESC);
