-- An uploaded picture belongs to the profile it was uploaded for: when that profile's picture is
-- replaced or removed, or the profile is deleted, the picture goes too. Before, every picture was kept
-- until its project was deleted, still publicly readable, and re-uploading could fill the database.
-- Only this tenancy's pictures are touched: a URL naming another project's picture deletes nothing.
CREATE FUNCTION drop_replaced_profile_image() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  image_id uuid := substring(
    OLD.profile_image_url
    FROM '/api/v1/profile-images/[a-z-]+/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.[a-z]+$'
  )::uuid;
BEGIN
  IF image_id IS NOT NULL THEN
    DELETE FROM profile_images WHERE tenancy_id = OLD.tenancy_id AND id = image_id;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER users_profile_image_replaced AFTER UPDATE OF profile_image_url ON users
  FOR EACH ROW WHEN (OLD.profile_image_url IS DISTINCT FROM NEW.profile_image_url
                     AND OLD.profile_image_url IS NOT NULL)
  EXECUTE FUNCTION drop_replaced_profile_image();
CREATE TRIGGER users_profile_image_deleted AFTER DELETE ON users
  FOR EACH ROW WHEN (OLD.profile_image_url IS NOT NULL)
  EXECUTE FUNCTION drop_replaced_profile_image();

CREATE TRIGGER teams_profile_image_replaced AFTER UPDATE OF profile_image_url ON teams
  FOR EACH ROW WHEN (OLD.profile_image_url IS DISTINCT FROM NEW.profile_image_url
                     AND OLD.profile_image_url IS NOT NULL)
  EXECUTE FUNCTION drop_replaced_profile_image();
CREATE TRIGGER teams_profile_image_deleted AFTER DELETE ON teams
  FOR EACH ROW WHEN (OLD.profile_image_url IS NOT NULL)
  EXECUTE FUNCTION drop_replaced_profile_image();

CREATE TRIGGER team_members_profile_image_replaced AFTER UPDATE OF profile_image_url ON team_members
  FOR EACH ROW WHEN (OLD.profile_image_url IS DISTINCT FROM NEW.profile_image_url
                     AND OLD.profile_image_url IS NOT NULL)
  EXECUTE FUNCTION drop_replaced_profile_image();
CREATE TRIGGER team_members_profile_image_deleted AFTER DELETE ON team_members
  FOR EACH ROW WHEN (OLD.profile_image_url IS NOT NULL)
  EXECUTE FUNCTION drop_replaced_profile_image();
