-- latchkey:no-transaction
-- Housekeeping deletes verification codes a week past their expiry; it finds them by expiry. Built
-- concurrently, as codes keep being written; a failed build's invalid index is dropped first.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
              WHERE NOT i.indisvalid AND c.relname = 'verification_codes_expires_idx') THEN
    DROP INDEX verification_codes_expires_idx;
  END IF;
END $$;

CREATE INDEX CONCURRENTLY IF NOT EXISTS verification_codes_expires_idx ON verification_codes (expires_at);
