-- A member's pin of a chat to the top of their list: when (unix ms), or NULL.
ALTER TABLE chat_members ADD COLUMN pinned_at INTEGER;
