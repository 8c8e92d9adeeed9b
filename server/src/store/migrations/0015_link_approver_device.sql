-- The device that approved a link: revoking it (a stolen laptop signed out)
-- also cancels an approval nobody collected yet, which would otherwise
-- bring in a device for up to a day after. NULL for older links.
ALTER TABLE device_links ADD COLUMN approved_device TEXT;
