-- Rotated refresh tokens are kept to catch a stolen one presented again,
-- for 30 days; the janitor deletes older ones by this index (a device's
-- current token, never rotated, is not in it and is never deleted so).
CREATE INDEX refresh_tokens_by_rotation ON refresh_tokens(rotated_at)
    WHERE rotated_at IS NOT NULL;
