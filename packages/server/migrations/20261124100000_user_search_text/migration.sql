-- `GET /users?query=` matches a substring of the display name or of any contact-channel value. With
-- the two in different tables, a common text (a surname held by thousands) could only be answered by
-- probing every walked user's channels, about 4 µs each. Keeping the searchable text on the user row
-- lets PostgreSQL choose per query between walking the list in order (common text) and a trigram
-- index (rare text), on one column.
--
-- The parts are joined by U+001F (unit separator), which a search text cannot contain, so a match
-- never spans two values.
ALTER TABLE users ADD COLUMN search_text text;
-- Mostly unique values are estimated from the histogram: a finer one keeps the walk-or-index choice right.
ALTER TABLE users ALTER COLUMN search_text SET STATISTICS 1000;

CREATE FUNCTION user_search_text(p_tenancy_id uuid, p_user_id uuid, p_display_name text) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT concat_ws(E'\x1f', p_display_name,
           (SELECT string_agg(c.value, E'\x1f' ORDER BY c.value) FROM contact_channels c
             WHERE c.tenancy_id = p_tenancy_id AND c.user_id = p_user_id))
$$;

CREATE FUNCTION users_set_search_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.search_text := user_search_text(NEW.tenancy_id, NEW.id, NEW.display_name);
  RETURN NEW;
END;
$$;

CREATE TRIGGER users_search_text BEFORE INSERT OR UPDATE OF display_name ON users
  FOR EACH ROW EXECUTE FUNCTION users_set_search_text();

-- Recomputes the search text of the users whose channels a statement changed. The rows are locked
-- first, in a statement of their own: a concurrent change of the same user's channels has then
-- committed, and the recomputation (a new statement, a new snapshot) sees it. NO KEY UPDATE, the lock
-- the UPDATE takes anyway: a plain FOR UPDATE would wait on the key-share lock the other writer's
-- channel insert holds on the user (its foreign key), while that writer waits on ours — a deadlock.
CREATE FUNCTION refresh_user_search_text(p_tenancy_ids uuid[], p_user_ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM users u JOIN unnest(p_tenancy_ids, p_user_ids) AS c(tenancy_id, user_id)
                            ON u.tenancy_id = c.tenancy_id AND u.id = c.user_id
   ORDER BY u.tenancy_id, u.id
     FOR NO KEY UPDATE OF u;
  UPDATE users u SET search_text = user_search_text(u.tenancy_id, u.id, u.display_name)
    FROM unnest(p_tenancy_ids, p_user_ids) AS c(tenancy_id, user_id)
   WHERE u.tenancy_id = c.tenancy_id AND u.id = c.user_id;
END;
$$;

CREATE FUNCTION contact_channels_refresh_search_text() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  tenancy_ids uuid[];
  user_ids uuid[];
BEGIN
  IF TG_OP = 'DELETE' THEN
    SELECT array_agg(tenancy_id), array_agg(user_id) INTO tenancy_ids, user_ids
      FROM (SELECT DISTINCT tenancy_id, user_id FROM changed_old) owners;
  ELSIF TG_OP = 'INSERT' THEN
    SELECT array_agg(tenancy_id), array_agg(user_id) INTO tenancy_ids, user_ids
      FROM (SELECT DISTINCT tenancy_id, user_id FROM changed_new) owners;
  ELSIF coalesce(current_setting('latchkey.sequencing', true), '') <> 'on' THEN
    -- Only a changed value or owner counts (the sync sequencer's stamping, say, changes neither).
    SELECT array_agg(tenancy_id), array_agg(user_id) INTO tenancy_ids, user_ids
      FROM (SELECT DISTINCT owner.tenancy_id, owner.user_id
              FROM changed_new n JOIN changed_old o ON o.tenancy_id = n.tenancy_id AND o.id = n.id
             CROSS JOIN LATERAL (VALUES (n.tenancy_id, n.user_id), (o.tenancy_id, o.user_id))
                   AS owner(tenancy_id, user_id)
             WHERE o.value IS DISTINCT FROM n.value OR o.user_id <> n.user_id) owners;
  END IF;
  IF user_ids IS NOT NULL THEN
    PERFORM refresh_user_search_text(tenancy_ids, user_ids);
  END IF;
  RETURN NULL;
END;
$$;

-- Statement-level, so a bulk insert recomputes each owner once. (Transition tables rule out a column
-- list, so updates are filtered inside.)
CREATE TRIGGER contact_channels_search_text_insert AFTER INSERT ON contact_channels
  REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION contact_channels_refresh_search_text();
CREATE TRIGGER contact_channels_search_text_delete AFTER DELETE ON contact_channels
  REFERENCING OLD TABLE AS changed_old FOR EACH STATEMENT EXECUTE FUNCTION contact_channels_refresh_search_text();
CREATE TRIGGER contact_channels_search_text_update AFTER UPDATE ON contact_channels
  REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new
  FOR EACH STATEMENT EXECUTE FUNCTION contact_channels_refresh_search_text();

-- Existing users. The sync capture is told to look away (as it does for the sequencer's own writes):
-- search_text is not synced, so nothing a customer's database holds changes.
SET LOCAL latchkey.sequencing = 'on';
UPDATE users SET search_text = user_search_text(tenancy_id, id, display_name);
RESET latchkey.sequencing;
