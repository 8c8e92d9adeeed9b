//! Contacts by QR: contact codes, connection requests, connections.

use crate::{ids::UserId, profile::User};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `POST /v1/contact-codes` -> 201. A new code revokes the caller's previous one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ContactCode {
    /// The full code (Crockford base32, 130 bits).
    pub code: String,
    /// `parley://contact?server=...&code=...`, the text of the QR code.
    pub uri: String,
    /// 10 base32 characters grouped `XXXXX-XXXXX`, for typing by hand.
    pub short_code: String,
    pub expires_at: DateTime<Utc>,
}

/// `POST /v1/connection-requests`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct NewConnectionRequest {
    /// A contact code: the full code, the `parley://contact` URI, or the short
    /// typed form (`XXXXX-XXXXX`, dash optional, case-insensitive).
    pub code: String,
}

/// State of a connection request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    Pending,
    Accepted,
    Declined,
    Expired,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Accepted => "accepted",
            RequestStatus::Declined => "declined",
            RequestStatus::Expired => "expired",
        }
    }

    pub fn from_str_lossy(s: &str) -> RequestStatus {
        match s {
            "accepted" => RequestStatus::Accepted,
            "declined" => RequestStatus::Declined,
            "expired" => RequestStatus::Expired,
            _ => RequestStatus::Pending,
        }
    }
}

/// A request to connect. Until it is accepted, `from` and `to` carry only the
/// display name and avatar of each side (other profile fields are empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ConnectionRequest {
    pub id: String,
    pub from: User,
    pub to: User,
    pub status: RequestStatus,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// `GET /v1/connection-requests?direction=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    #[default]
    Incoming,
    Outgoing,
}

/// A contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Connection {
    pub user: User,
    pub created_at: DateTime<Utc>,
    /// True while any device of the contact has a live WebSocket (false when the
    /// contact hides their last-seen state).
    pub online: bool,
    /// When the contact was last online; `null` if hidden or never.
    pub last_seen_at: Option<DateTime<Utc>>,
}

/// Formats the short code for display: `ABCDE-FGHJK`.
pub fn group_short_code(short: &str) -> String {
    if short.len() == 10 && short.is_ascii() {
        format!("{}-{}", &short[..5], &short[5..])
    } else {
        short.to_owned()
    }
}

/// Alias used by request bodies that refer to a user.
pub type PeerId = UserId;
