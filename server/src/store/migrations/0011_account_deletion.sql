-- When the account was deleted by its owner (DELETE /v1/me), or NULL. A
-- deleted account keeps its row (its messages stay in its peers' history)
-- with the profile erased and `identifier` set to 'deleted:<id>'.
ALTER TABLE users ADD COLUMN deleted_at INTEGER;
