-- A cache of computed values (dashboard metrics first) shared by every process of a deployment.
-- One row per (namespace, key). A row is served as is until fresh_until, then served stale until
-- stale_until while one process recomputes it. That process holds a lease (lease_token,
-- computing_until): other processes missing the same key wait for its result instead of computing
-- too, and a lease left by a killed process simply expires. tenancy_id lets a feature drop all of a
-- tenancy's entries, and deleting a tenancy drops them with it.
CREATE TABLE cache_entries (
  namespace       text NOT NULL CHECK (namespace <> ''),
  cache_key       text NOT NULL CHECK (cache_key <> ''),
  tenancy_id      uuid REFERENCES tenancies (id) ON DELETE CASCADE,
  -- Null while the first computation of the key is under way.
  payload         jsonb,
  fresh_until     timestamptz,
  stale_until     timestamptz,
  lease_token     uuid,
  computing_until timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (namespace, cache_key)
);

-- Eviction deletes rows past stale_until; invalidation by tenancy deletes a tenancy's rows.
CREATE INDEX cache_entries_stale_until_idx ON cache_entries (stale_until);
CREATE INDEX cache_entries_tenancy_idx ON cache_entries (tenancy_id, namespace) WHERE tenancy_id IS NOT NULL;
