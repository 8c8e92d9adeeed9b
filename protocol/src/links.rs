//! Linking a new device to an account by QR, in both directions.

use crate::{
    auth::{Platform, Tokens},
    profile::Me,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `POST /v1/device-links` (unauthenticated, from the new device).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct NewDeviceLink {
    pub device_name: String,
    pub platform: Platform,
    /// The session goes only to a poll that carries `poll_secret` (from the
    /// create answer, never in the QR): someone who saw the QR can poll,
    /// but only ever hears `pending`. Off by default, for clients that poll
    /// with `secret` alone.
    #[serde(default)]
    pub poll_secret_only: bool,
}

/// 201 answer: what the new device shows (the QR of `uri` and `check_code`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DeviceLink {
    pub link_id: String,
    /// Proof of possession for polling; also inside the QR.
    pub secret: String,
    /// A second secret for polling, never in the QR: only the device that
    /// made the link has it, and with it a poll retried after a lost answer
    /// gets the session again (within 60 s, while its refresh token is
    /// unused) instead of `link_used`. Empty from a server older than it.
    #[serde(default)]
    pub poll_secret: String,
    pub uri: String,
    /// Two digits derived from the secret; the approver must see the same two.
    pub check_code: String,
    pub expires_at: DateTime<Utc>,
}

/// `GET /v1/device-links/{id}?secret=` (long poll).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum LinkStatus {
    /// Not approved yet: poll again.
    Pending,
    /// Approved: the new device's session. Delivered exactly once, except
    /// to a retry that carries `poll_secret` (see `DeviceLink`).
    Approved { tokens: Tokens, user: Box<Me> },
}

/// `GET /v1/device-links/{id}/info?secret=` (for the approving device).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DeviceLinkInfo {
    pub link_id: String,
    pub device_name: String,
    pub platform: Platform,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub check_code: String,
}

/// `POST /v1/device-links/{id}/approve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ApproveDeviceLink {
    pub secret: String,
}

/// `POST /v1/device-invites` -> 201: a code a new device scans to join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DeviceInvite {
    pub code: String,
    /// `parley://join?server=...&code=...`.
    pub uri: String,
    pub expires_at: DateTime<Utc>,
}

/// `POST /v1/device-invites/redeem` (unauthenticated, from the new device).
/// Give either `uri` or `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RedeemDeviceInvite {
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    pub device_name: String,
    pub platform: Platform,
    /// A random key the redeeming device makes once per invite (16 to 128
    /// characters; secret, 128 random bits or more: it alone tells its
    /// retry from someone else who saw the code). Redeeming the same invite again with the same key
    /// within 60 s, while the session's refresh token is unused, is a retry
    /// after a lost answer: it gets the same device's session again (with
    /// a new refresh token) instead of `invite_used`.
    #[serde(default)]
    pub retry_key: Option<String>,
}

/// Answer to a redeemed invite: the new device's session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LinkedSession {
    #[serde(flatten)]
    pub tokens: Tokens,
    pub user: Me,
}
