-- Full-text indexing moves from a per-row trigger to once per write batch
-- (store::messages::index_pending, called by the writer before COMMIT). FTS5
-- flushes its in-memory index at every savepoint, and every write job runs in
-- one, so the per-row trigger cost a flush per message.

-- The highest messages.rowid already in messages_fts.
CREATE TABLE fts_cursor (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    last_rowid INTEGER NOT NULL
) STRICT;
INSERT INTO fts_cursor (id, last_rowid) VALUES (1, (SELECT COALESCE(MAX(rowid), 0) FROM messages));

DROP TRIGGER messages_fts_insert;

-- Edits and deletes touch the index only for rows it already holds; a row not
-- indexed yet is indexed with its current body by the batch hook.
DROP TRIGGER messages_fts_update;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages
WHEN old.rowid <= (SELECT last_rowid FROM fts_cursor WHERE id = 1)
BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
    INSERT INTO messages_fts(rowid, body) VALUES (new.rowid, new.body);
END;

DROP TRIGGER messages_fts_delete;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.rowid <= (SELECT last_rowid FROM fts_cursor WHERE id = 1)
BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
END;
