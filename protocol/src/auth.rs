//! Sign-in: OTP request/verify, tokens, refresh, and identifier normalisation.

use crate::{ids::DeviceId, limits, profile::Me};
use serde::{Deserialize, Serialize};
use std::fmt;

/// `POST /v1/auth/otp/request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OtpRequest {
    /// An email address or a phone number (any common notation; normalised to
    /// E.164 by the server).
    #[cfg_attr(feature = "openapi", schema(example = "ana@example.org"))]
    pub identifier: String,
}

/// 202 answer to an OTP request; identical whether or not the account exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OtpRequested {
    /// Seconds until the code expires.
    pub expires_in: u64,
    /// Seconds before another code may be requested for this identifier.
    pub retry_after: u64,
}

/// `POST /v1/auth/otp/verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OtpVerify {
    pub identifier: String,
    /// The 6-digit code.
    #[cfg_attr(feature = "openapi", schema(example = "123456"))]
    pub code: String,
    /// Human name of this device, 1..=64 characters, e.g. "Ana's laptop".
    pub device_name: String,
    pub platform: Platform,
}

/// The kind of installation a device is. PROTOCOL.md leaves `platform` open;
/// Parley fixes the set so every client can show a matching icon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Linux,
    Macos,
    Windows,
    Android,
    Ios,
    Web,
    Cli,
    Other,
}

impl Platform {
    pub const ALL: [Platform; 8] = [
        Platform::Linux,
        Platform::Macos,
        Platform::Windows,
        Platform::Android,
        Platform::Ios,
        Platform::Web,
        Platform::Cli,
        Platform::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Linux => "linux",
            Platform::Macos => "macos",
            Platform::Windows => "windows",
            Platform::Android => "android",
            Platform::Ios => "ios",
            Platform::Web => "web",
            Platform::Cli => "cli",
            Platform::Other => "other",
        }
    }

    /// Inverse of [`Platform::as_str`]; unknown strings map to `Other` so that a
    /// row written by a newer server still reads.
    pub fn from_str_lossy(s: &str) -> Platform {
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .unwrap_or(Platform::Other)
    }

    /// The platform this binary was compiled for.
    pub fn current() -> Platform {
        if cfg!(target_os = "linux") {
            Platform::Linux
        } else if cfg!(target_os = "macos") {
            Platform::Macos
        } else if cfg!(target_os = "windows") {
            Platform::Windows
        } else if cfg!(target_os = "android") {
            Platform::Android
        } else if cfg!(target_os = "ios") {
            Platform::Ios
        } else {
            Platform::Other
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token pair. Access tokens are JWTs valid for 15 minutes; refresh tokens are
/// opaque, single-use (rotated on every refresh), and stored hashed by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until `access_token` expires.
    pub expires_in: u64,
    pub device_id: DeviceId,
}

/// 200 answer to a successful OTP verify: the tokens, the account, and whether the
/// account was created by this verify (the UI then shows onboarding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Session {
    #[serde(flatten)]
    pub tokens: Tokens,
    pub user: Me,
    pub new_user: bool,
}

/// `POST /v1/auth/refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RefreshRequest {
    pub refresh_token: String,
    /// A random key the client makes for this token's exchange (16 to 128
    /// characters) and sends again with each retry of it. A retry after a
    /// lost answer is taken only with the key the first exchange came with,
    /// so someone who stole the token cannot pass for a retry. Without one,
    /// any retry within the window is taken (clients that send none).
    #[serde(default)]
    pub retry_key: Option<String>,
}

/// A normalised sign-in identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identifier {
    /// Lowercased, trimmed email address.
    Email(String),
    /// E.164: `+` then 8..=15 digits, the first not 0.
    Phone(String),
}

/// Why a string is not an identifier; the text is shown to people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("identifier is empty")]
    Empty,
    #[error("identifier is longer than {} bytes", limits::IDENTIFIER_MAX)]
    TooLong,
    #[error("not a valid email address")]
    BadEmail,
    #[error("not a valid phone number: use international format, e.g. +15551234567")]
    BadPhone,
}

impl Identifier {
    /// Normalises what a person typed: emails are trimmed and lowercased; phone
    /// numbers lose spaces, dots, dashes and parentheses, and a leading `00`
    /// becomes `+`. The result must be a plausible email or an E.164 number.
    pub fn parse(raw: &str) -> Result<Identifier, IdentifierError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(IdentifierError::Empty);
        }
        if s.len() > limits::IDENTIFIER_MAX {
            return Err(IdentifierError::TooLong);
        }
        if s.contains('@') {
            return parse_email(s).map(Identifier::Email);
        }
        parse_phone(s).map(Identifier::Phone)
    }

    pub fn as_str(&self) -> &str {
        match self {
            Identifier::Email(s) | Identifier::Phone(s) => s,
        }
    }

    pub fn is_email(&self) -> bool {
        matches!(self, Identifier::Email(_))
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn parse_email(s: &str) -> Result<String, IdentifierError> {
    let lower = s.to_lowercase();
    let (local, domain) = lower.rsplit_once('@').ok_or(IdentifierError::BadEmail)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if local_ok && domain_ok {
        Ok(lower)
    } else {
        Err(IdentifierError::BadEmail)
    }
}

fn parse_phone(s: &str) -> Result<String, IdentifierError> {
    let compact: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}'))
        .collect();
    let digits = if let Some(rest) = compact.strip_prefix('+') {
        rest
    } else if let Some(rest) = compact.strip_prefix("00") {
        rest
    } else {
        return Err(IdentifierError::BadPhone);
    };
    let ok = (8..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0');
    if ok {
        Ok(format!("+{digits}"))
    } else {
        Err(IdentifierError::BadPhone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, expected: Result<&str, IdentifierError>) {
        let got = Identifier::parse(raw).map(|i| i.as_str().to_owned());
        assert_eq!(got, expected.map(str::to_owned), "input {raw:?}");
    }

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        check("  Ana@Example.ORG ", Ok("ana@example.org"));
        check("a.b+tag@sub.example.co", Ok("a.b+tag@sub.example.co"));
        check("ana@localhost", Err(IdentifierError::BadEmail));
        check("@example.org", Err(IdentifierError::BadEmail));
        check("ana@@example.org", Err(IdentifierError::BadEmail));
        check("ana..b@example.org", Err(IdentifierError::BadEmail));
        check("ana@-x.org", Err(IdentifierError::BadEmail));
        check("a na@example.org", Err(IdentifierError::BadEmail));
    }

    #[test]
    fn phones_become_e164() {
        check("+1 (555) 123-4567", Ok("+15551234567"));
        check("0044 20 7946 0958", Ok("+442079460958"));
        check("+1234567", Err(IdentifierError::BadPhone)); // 7 digits
        check("+12345678", Ok("+12345678")); // 8 digits
        check("+123456789012345", Ok("+123456789012345")); // 15 digits
        check("+1234567890123456", Err(IdentifierError::BadPhone)); // 16 digits
        check("5551234567", Err(IdentifierError::BadPhone)); // no country code
        check("+0551234567", Err(IdentifierError::BadPhone));
        check("+1555abc4567", Err(IdentifierError::BadPhone));
    }

    #[test]
    fn empty_and_overlong_are_refused() {
        check("   ", Err(IdentifierError::Empty));
        let long = format!("{}@example.org", "a".repeat(250));
        check(&long, Err(IdentifierError::TooLong));
        // Exactly at the limit (a valid address of 254 bytes), and one past.
        let email = |d: usize| {
            format!(
                "{}@{}.{}.{}.org",
                "a".repeat(64),
                "b".repeat(63),
                "c".repeat(63),
                "d".repeat(d)
            )
        };
        assert_eq!(email(57).len(), limits::IDENTIFIER_MAX);
        check(&email(57), Ok(&email(57)));
        check(&email(58), Err(IdentifierError::TooLong));
    }

    #[test]
    fn platform_round_trips() {
        for p in Platform::ALL {
            assert_eq!(Platform::from_str_lossy(p.as_str()), p);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
        }
        assert_eq!(Platform::from_str_lossy("plan9"), Platform::Other);
    }
}
