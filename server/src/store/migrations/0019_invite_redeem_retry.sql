-- As with links (0018): the answer carrying a redeemed invite's session
-- can be lost. A redeemer sends a random key of its own with the redeem; the
-- same invite with the same key, within a minute of the redeem and while
-- the session's first refresh token is unused, gets the session again (a
-- new refresh token, the first one withdrawn). These say which device and
-- token that is, and the key's hash.
ALTER TABLE device_invites ADD COLUMN redeem_key_hash BLOB;
ALTER TABLE device_invites ADD COLUMN redeemed_device TEXT;
ALTER TABLE device_invites ADD COLUMN redeemed_refresh BLOB;
