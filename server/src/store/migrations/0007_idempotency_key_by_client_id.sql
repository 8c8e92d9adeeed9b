-- The idempotency key's index leads with client_id instead of sender_id.
-- Keyed (sender_id, client_id), every send landed in its sender's part of the
-- index, so each write batch dirtied one leaf page per active sender (a
-- quarter of the WAL frames in the messaging benchmark). parley-client's
-- client ids are UUIDv7, time-ordered, so keyed (client_id, sender_id) new
-- entries go to the end of the index, a page or two per batch; uniqueness per
-- sender is unchanged, and ids of any other shape still work. The constraint
-- is part of the table, so the table is rebuilt: same rows, same rowids (the
-- search index refers to them), foreign keys off meanwhile (store::migrations
-- checks them afterwards), the search triggers of 0005 recreated.
CREATE TABLE messages_rebuilt (
    id         TEXT    NOT NULL PRIMARY KEY,
    chat_id    TEXT    NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    sender_id  TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL,
    body       TEXT    NOT NULL DEFAULT '',
    reply_to   TEXT,
    created_at INTEGER NOT NULL,
    edited_at  INTEGER,
    deleted_at INTEGER,
    UNIQUE (chat_id, seq),
    UNIQUE (client_id, sender_id)
) STRICT;
INSERT INTO messages_rebuilt
    (rowid, id, chat_id, seq, sender_id, client_id, body, reply_to, created_at, edited_at, deleted_at)
    SELECT rowid, id, chat_id, seq, sender_id, client_id, body, reply_to, created_at, edited_at, deleted_at
    FROM messages ORDER BY rowid;
DROP TABLE messages;
ALTER TABLE messages_rebuilt RENAME TO messages;

CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages
WHEN old.rowid <= (SELECT last_rowid FROM fts_cursor WHERE id = 1)
BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
    INSERT INTO messages_fts(rowid, body) VALUES (new.rowid, new.body);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.rowid <= (SELECT last_rowid FROM fts_cursor WHERE id = 1)
BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
END;
