-- The hash of the retry key a refresh token's first exchange came with: a
-- retry after a lost answer must bring the same key, so a thief replaying a
-- stolen token cannot pass for one. NULL for exchanges without a key.
ALTER TABLE refresh_tokens ADD COLUMN retry_key_hash BLOB;
