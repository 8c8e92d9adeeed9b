-- The event log becomes an append-only rowid table. Keyed by (user_id, seq)
-- WITHOUT ROWID, every append landed in the middle of the table (one insertion
-- point per user) with its ~0.5 KiB payload inline, so leaf pages split all
-- the time and each write batch dirtied a page per active user. Now rows go
-- to the end of the table in commit order; (user_id, seq) is a small unique
-- index for replay. The time index goes too: rows are in time order, so
-- retention deletes a prefix of the table (store::events::prune).
-- From here on `users.event_seq` is only a floor, written when retention
-- deletes a user's events; a user's current seq is their newest event's
-- (store::events::current_seq), so an append no longer updates the user row.
-- A `message.created` in its recipient's log also names the chat and the
-- message's seq in it, so an ack finds the delivered receipts it implies
-- without parsing payloads (store::chats::delivered_by_events).
CREATE TABLE events_log (
    id         INTEGER NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    payload    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    chat_id    TEXT,
    chat_seq   INTEGER,
    UNIQUE (user_id, seq)
) STRICT;
INSERT INTO events_log (user_id, seq, payload, created_at, chat_id, chat_seq)
    SELECT user_id, seq, payload, created_at,
           CASE WHEN delivers THEN json_extract(payload, '$.message.chat_id') END,
           CASE WHEN delivers THEN json_extract(payload, '$.message.seq') END
    FROM (SELECT *, json_extract(payload, '$.kind') = 'message.created'
                    AND json_extract(payload, '$.message.sender_id') != user_id AS delivers
          FROM events)
    ORDER BY created_at, user_id, seq;
DROP TABLE events;
ALTER TABLE events_log RENAME TO events;
