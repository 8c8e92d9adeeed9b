-- A link whose maker asked that its session go only to a poll carrying the
-- poll secret (never in the QR): someone who saw the QR and polls with its
-- secret only ever hears "pending". 0 for links from clients that poll
-- with the QR's secret alone (and for links made before).
ALTER TABLE device_links ADD COLUMN poll_secret_only INTEGER NOT NULL DEFAULT 0;
