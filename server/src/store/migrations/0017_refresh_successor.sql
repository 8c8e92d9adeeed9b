-- The token a refresh token was exchanged for. Presenting a rotated token
-- again is theft, unless it comes within a minute of the exchange and that
-- successor was never used: then the answer carrying the successor was lost
-- (a dropped connection, a client killed before it saved it), and the retry
-- gets a new pair instead of the device being signed out. NULL for tokens
-- rotated before this migration, and for a successor withdrawn that way.
ALTER TABLE refresh_tokens ADD COLUMN replaced_by BLOB;
