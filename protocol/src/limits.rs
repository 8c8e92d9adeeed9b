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
/// JSON request bodies (all endpoints that take JSON), bytes. PROTOCOL.md is
/// silent; 64 KiB matches the WebSocket frame limit and fits a 16 KiB message body
/// escaped several times over.
pub const JSON_BODY_MAX_BYTES: usize = 64 * 1024;
