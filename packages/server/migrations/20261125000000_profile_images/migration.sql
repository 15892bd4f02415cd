-- Pictures sent inline as base64 data URLs (user, team and team-member profile images). Each is stored
-- once and the profile keeps the URL it is served from, as upstream does with its S3 bucket, so user
-- rows, API answers and synced copies carry a short URL instead of up to a megabyte of base64.
CREATE TABLE profile_images (
  id           uuid PRIMARY KEY,
  tenancy_id   uuid NOT NULL REFERENCES tenancies (id) ON DELETE CASCADE,
  folder       text NOT NULL CHECK (folder IN ('user-profile-images', 'team-profile-images', 'team-member-profile-images')),
  content_type text NOT NULL,
  body         bytea NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX profile_images_tenancy_idx ON profile_images (tenancy_id);
