-- latchkey:no-transaction
-- The trigram index of users.search_text (see the previous migration): it answers ILIKE '%…%' for
-- rare text without reading every row of the tenancy. Built concurrently, as users keep being written.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX CONCURRENTLY IF NOT EXISTS users_search_text_trgm_idx
  ON users USING gin (search_text gin_trgm_ops);
