//! The limits of PROTOCOL.md, in one place so server validation and client-side
//! pre-checks can never disagree.

/// `display_name`: 1..=64 characters (Unicode scalar values, after trimming).
pub const DISPLAY_NAME_MAX: usize = 64;
/// `username`: 3..=32 of `[a-z0-9_.]`.
pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
/// `bio` <= 280 characters.
pub const BIO_MAX: usize = 280;
/// `status_text` <= 140 characters.
pub const STATUS_TEXT_MAX: usize = 140;
/// `device_name`: 1..=64 characters. PROTOCOL.md is silent; chosen to match
/// `display_name`.
pub const DEVICE_NAME_MAX: usize = 64;
/// Identifier (email or phone) as typed, before normalisation. Emails are capped at
/// 254 octets by RFC 5321; anything longer is not an identifier.
pub const IDENTIFIER_MAX: usize = 254;
/// Avatar upload body, bytes.
pub const AVATAR_MAX_BYTES: usize = 5 * 1024 * 1024;
/// Avatars are re-encoded to fit in this many pixels per side.
pub const AVATAR_MAX_SIDE: u32 = 512;
/// OTP codes are this many decimal digits.
pub const OTP_DIGITS: usize = 6;
/// Wrong attempts allowed on one OTP code; the next one burns it.
pub const OTP_MAX_ATTEMPTS: u32 = 5;
/// Access token lifetime, seconds.
pub const ACCESS_TOKEN_TTL_SECS: u64 = 15 * 60;
/// A refresh token exchanged less than this long ago may be presented again
/// while the token it was exchanged for is unused (a retry after the answer
/// was lost): the retry gets a new pair instead of signing the device out.
pub const REFRESH_RETRY_SECS: i64 = 60;
/// A retry key (a refresh's or an invite redeem's), characters: random,
/// made by the client, it tells its retry from someone else's request.
pub const RETRY_KEY_MIN_CHARS: usize = 16;
pub const RETRY_KEY_MAX_CHARS: usize = 128;
/// JSON request bodies (all endpoints that take JSON), bytes. PROTOCOL.md is
/// silent; 64 KiB matches the WebSocket frame limit and fits a 16 KiB message body
/// escaped several times over.
pub const JSON_BODY_MAX_BYTES: usize = 64 * 1024;
/// Message body, bytes of UTF-8.
pub const MESSAGE_BODY_MAX_BYTES: usize = 16 * 1024;
/// `client_id` of a message: 1..=64 characters.
pub const CLIENT_ID_MAX: usize = 64;
/// Attachments on one message.
pub const ATTACHMENTS_PER_MESSAGE_MAX: usize = 10;
/// Default attachment upload limit, bytes (configurable on the server).
pub const ATTACHMENT_MAX_BYTES: usize = 25 * 1024 * 1024;
/// History page size: default and maximum.
pub const HISTORY_LIMIT_DEFAULT: u32 = 50;
pub const HISTORY_LIMIT_MAX: u32 = 200;
/// Chat list page size: default and maximum.
pub const CHATS_LIMIT_DEFAULT: u32 = 50;
pub const CHATS_LIMIT_MAX: u32 = 500;
/// A message may be edited this long after it was sent, seconds.
pub const EDIT_WINDOW_SECS: i64 = 24 * 3600;
/// A reaction: one emoji (one grapheme cluster), at most this many bytes,
/// no whitespace or controls. The longest standard emoji sequence (a kiss
/// with two skin tones) takes 35.
pub const REACTION_MAX_BYTES: usize = 64;
/// Different reactions one user may leave on one message (PROTOCOL.md
/// allows one per user per emoji and is silent on how many emoji): keeps a
/// message's reactions, and every event that carries them, small.
pub const REACTIONS_PER_USER_MAX: u64 = 10;
/// Search results per page (`GET /v1/search`; the next page with `before`).
pub const SEARCH_PAGE: u32 = 100;
/// Search query: 1..=256 characters.
pub const SEARCH_QUERY_MAX: usize = 256;
/// WebSocket frame, bytes.
pub const WS_FRAME_MAX_BYTES: usize = 64 * 1024;
/// Typing indicators expire this long after the last refresh, seconds.
pub const TYPING_TTL_SECS: u64 = 6;
/// Contact code lifetime (default; configurable on the server), seconds.
pub const CONTACT_CODE_TTL_SECS: u64 = 300;
/// Device link and invite lifetime, seconds.
pub const DEVICE_LINK_TTL_SECS: u64 = 120;
/// Connection requests expire after 7 days.
pub const CONNECTION_REQUEST_TTL_SECS: u64 = 7 * 24 * 3600;
/// Longest wait of one device-link long poll, seconds.
pub const LINK_POLL_MAX_SECS: u64 = 30;
/// A chat may be muted for at most this long with an end time, days;
/// longer is "until I unmute" (`until: null`). PROTOCOL.md is silent.
pub const MUTE_MAX_DAYS: i64 = 366;
/// Chats one user may pin to the top of their list at once (WhatsApp's
/// three). PROTOCOL.md is silent.
pub const PINNED_CHATS_MAX: u64 = 3;
/// Short contact code: 10 Crockford base32 characters.
pub const SHORT_CODE_LEN: usize = 10;
