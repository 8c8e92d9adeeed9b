-- A new device's answer that carries its session can be lost (a dropped
-- connection, a timeout). The device that made
-- the link gets a second secret, never shown in the QR; with it a poll
-- within a minute of the collection, while the session's first refresh
-- token is unused, gets the session again (with a new refresh token,
-- the first one withdrawn). These say which device and token that is.
ALTER TABLE device_links ADD COLUMN poll_secret_hash BLOB;
ALTER TABLE device_links ADD COLUMN collected_device TEXT;
ALTER TABLE device_links ADD COLUMN collected_refresh BLOB;
