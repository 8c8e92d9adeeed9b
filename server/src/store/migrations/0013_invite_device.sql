-- The device that made an invite: revoking it cancels what it made and was
-- not redeemed yet (a stolen laptop signed out must not bring in another
-- device through an invite it showed just before). NULL for older invites.
ALTER TABLE device_invites ADD COLUMN device_id TEXT;
