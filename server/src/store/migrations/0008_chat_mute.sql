-- A member's mute of a chat: NULL when notifications are on, the end in unix
-- milliseconds, or i64::MAX for "until unmuted" (see store::chats::set_mute).
ALTER TABLE chat_members ADD COLUMN muted_until INTEGER;
