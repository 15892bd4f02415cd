-- latchkey:no-transaction
-- The trigram index of users.search_text (see the previous migration). Those of the two columns it
-- combines are no longer read.
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_search_text_trgm_idx
  ON users USING gin (search_text gin_trgm_ops);

DROP INDEX CONCURRENTLY IF EXISTS users_display_name_trgm_idx;
DROP INDEX CONCURRENTLY IF EXISTS contact_channels_value_trgm_idx;
