-- What a sign-up is compared by when its risk is scored: the address it came from and its e-mail,
-- normalized (the inbox it reaches) and reduced to a base (the pattern of a series of made-up
-- addresses), and when that was — not signed_up_at, which an upgraded anonymous user keeps from its
-- creation. Null for users created before, by the server API, or anonymously.
ALTER TABLE users
  ADD COLUMN sign_up_ip               text,
  ADD COLUMN sign_up_email_normalized text,
  ADD COLUMN sign_up_email_base       text,
  ADD COLUMN sign_up_recorded_at      timestamptz;
