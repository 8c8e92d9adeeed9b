-- 1:1 chats, messages (with FTS5 search), attachments, reactions, receipts.

-- user_a < user_b, so a pair has exactly one chat.
CREATE TABLE chats (
    id         TEXT    NOT NULL PRIMARY KEY,
    user_a     TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    user_b     TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    last_seq   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (user_a, user_b)
) STRICT;

-- Receipts are per-member watermarks, not per-message rows.
CREATE TABLE chat_members (
    chat_id             TEXT    NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
    user_id             TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    peer_id             TEXT    NOT NULL,
    delivered_up_to_seq INTEGER NOT NULL DEFAULT 0,
    read_up_to_seq      INTEGER NOT NULL DEFAULT 0,
    unread_count        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX chat_members_by_user ON chat_members(user_id);

CREATE TABLE messages (
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
    UNIQUE (sender_id, client_id)
) STRICT;

CREATE VIRTUAL TABLE messages_fts USING fts5(body, content='messages', content_rowid='rowid');
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, body) VALUES (new.rowid, new.body);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
    INSERT INTO messages_fts(rowid, body) VALUES (new.rowid, new.body);
END;

-- Files are stored content-addressed under <data-dir>/attachments/ by sha256.
CREATE TABLE attachments (
    id          TEXT    NOT NULL PRIMARY KEY,
    uploader_id TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sha256      TEXT    NOT NULL,
    mime        TEXT    NOT NULL,
    size        INTEGER NOT NULL,
    name        TEXT,
    width       INTEGER,
    height      INTEGER,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX attachments_by_sha ON attachments(sha256);

CREATE TABLE message_attachments (
    message_id    TEXT    NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    attachment_id TEXT    NOT NULL REFERENCES attachments(id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    PRIMARY KEY (message_id, attachment_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX message_attachments_by_attachment ON message_attachments(attachment_id);

CREATE TABLE reactions (
    message_id TEXT    NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    user_id    TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    emoji      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
) STRICT, WITHOUT ROWID;
