-- A member's "Clear chat": messages with seq <= this are gone from their
-- history, list, search and unread count (0: never cleared).
ALTER TABLE chat_members ADD COLUMN cleared_up_to_seq INTEGER NOT NULL DEFAULT 0;
