//! Profiles, settings and devices.

use crate::{auth::Platform, ids::DeviceId, ids::UserId, limits};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The public face of an account, as others (self and connections) see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct User {
    pub id: UserId,
    pub display_name: String,
    /// Unique, lowercase; `null` until the person picks one.
    pub username: Option<String>,
    pub bio: String,
    pub status_text: String,
    /// Path of the avatar relative to the server's base URL (with a version query
    /// so caches refresh on change), or `null` when none is set.
    pub avatar_url: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Own settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Settings {
    /// Share my read watermark (and see others'); reciprocal.
    pub read_receipts: bool,
    /// Share my online/last-seen state with connections.
    pub last_seen_visible: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            read_receipts: true,
            last_seen_visible: true,
        }
    }
}

/// `GET /v1/me`: the public profile, plus what only its owner sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Me {
    #[serde(flatten)]
    pub user: User,
    /// The normalised email or E.164 phone number used to sign in.
    pub identifier: String,
    pub settings: Settings,
}

/// `DELETE /v1/me`: delete my account, for good. `code` is a sign-in code
/// asked for my own identifier (`POST /v1/auth/otp/request`) just before,
/// so a device left signed in is not enough. PROTOCOL.md is silent on
/// deleting an account. What it does: every device signed out, every
/// contact removed (they keep our chat's history, with me shown as
/// "Deleted account"), pending requests declined, my profile and photo
/// erased, my event log dropped; my identifier is free for a new account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DeleteAccount {
    pub code: String,
}

/// The display name a deleted account shows to those who chatted with it.
pub const DELETED_ACCOUNT_NAME: &str = "Deleted account";

/// `PATCH /v1/me`: every field optional; absent means unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UpdateMe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// 3..=32 of `[a-z0-9_.]`; uppercase input is lowercased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `""` clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
    /// `""` clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<UpdateSettings>,
}

/// Partial settings update.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UpdateSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_receipts: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_visible: Option<bool>,
}

/// One device of the caller's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Device {
    pub id: DeviceId,
    pub name: String,
    pub platform: Platform,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// True for the device making the call.
    pub current: bool,
}

/// A field that failed validation; `message` is meant for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

pub(crate) fn field_err(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// Trims and checks a display name (1..=64 characters, no control characters).
pub fn validate_display_name(raw: &str) -> Result<String, FieldError> {
    let s = raw.trim();
    check_text("display_name", s, limits::DISPLAY_NAME_MAX)?;
    if s.is_empty() {
        return Err(field_err("display_name", "must not be empty"));
    }
    Ok(s.to_owned())
}

/// Lowercases and checks a username (3..=32 of `[a-z0-9_.]`).
pub fn validate_username(raw: &str) -> Result<String, FieldError> {
    let s = raw.trim().to_lowercase();
    let n = s.chars().count();
    if !(limits::USERNAME_MIN..=limits::USERNAME_MAX).contains(&n) {
        return Err(field_err(
            "username",
            format!(
                "must be {} to {} characters",
                limits::USERNAME_MIN,
                limits::USERNAME_MAX
            ),
        ));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
    {
        return Err(field_err(
            "username",
            "may contain only a-z, 0-9, '_' and '.'",
        ));
    }
    Ok(s)
}

/// Trims and checks a bio (<= 280 characters; newlines allowed).
pub fn validate_bio(raw: &str) -> Result<String, FieldError> {
    let s = raw.trim();
    check_text("bio", s, limits::BIO_MAX)?;
    Ok(s.to_owned())
}

/// Trims and checks a status text (<= 140 characters, one line).
pub fn validate_status_text(raw: &str) -> Result<String, FieldError> {
    let s = raw.trim();
    check_text("status_text", s, limits::STATUS_TEXT_MAX)?;
    if s.contains('\n') {
        return Err(field_err("status_text", "must be a single line"));
    }
    Ok(s.to_owned())
}

/// Trims and checks a device name (1..=64 characters).
pub fn validate_device_name(raw: &str) -> Result<String, FieldError> {
    let s = raw.trim();
    check_text("device_name", s, limits::DEVICE_NAME_MAX)?;
    if s.is_empty() {
        return Err(field_err("device_name", "must not be empty"));
    }
    Ok(s.to_owned())
}

fn check_text(field: &'static str, s: &str, max: usize) -> Result<(), FieldError> {
    if s.chars().count() > max {
        return Err(field_err(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(field_err(field, "must not contain control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_name_bounds() {
        assert!(validate_display_name("").is_err());
        assert!(validate_display_name("   ").is_err());
        assert_eq!(validate_display_name(" Ana ").unwrap(), "Ana");
        assert!(validate_display_name(&"é".repeat(64)).is_ok());
        assert!(validate_display_name(&"é".repeat(65)).is_err());
        assert!(validate_display_name("a\u{7}b").is_err());
    }

    #[test]
    fn username_bounds_and_charset() {
        assert!(validate_username("ab").is_err());
        assert_eq!(validate_username("Ana").unwrap(), "ana");
        assert!(validate_username(&"a".repeat(32)).is_ok());
        assert!(validate_username(&"a".repeat(33)).is_err());
        assert!(validate_username("ana_b.c9").is_ok());
        assert!(validate_username("ana-b").is_err());
        assert!(validate_username("anä").is_err());
    }

    #[test]
    fn bio_and_status_bounds() {
        assert!(validate_bio(&"x".repeat(280)).is_ok());
        assert!(validate_bio(&"x".repeat(281)).is_err());
        assert!(validate_bio("line1\nline2").is_ok());
        assert!(validate_status_text(&"x".repeat(140)).is_ok());
        assert!(validate_status_text(&"x".repeat(141)).is_err());
        assert!(validate_status_text("a\nb").is_err());
        assert_eq!(validate_bio("").unwrap(), "");
    }

    #[test]
    fn device_name_bounds() {
        assert!(validate_device_name("").is_err());
        assert!(validate_device_name(&"d".repeat(64)).is_ok());
        assert!(validate_device_name(&"d".repeat(65)).is_err());
    }
}

/// `GET /v1/usernames/{username}`: whether a username is free for the caller.
/// Not in PROTOCOL.md; added for the onboarding screen's live check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UsernameAvailability {
    /// The normalised (lowercased) username.
    pub username: String,
    /// True when nobody else holds it (holding it yourself counts as free).
    pub available: bool,
}
