//! The one stream of typed events a client emits (to the CLI's `listen`, and to
//! the desktop window through Tauri).

use crate::cache::CachedMessage;
use parley_protocol::{Event, Problem, UserId};
use serde::Serialize;

/// Connection state of the realtime link, for banners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    Connecting,
    /// Caught up with the server and receiving live.
    Online,
    /// Not connected; retrying after `retry_in_ms`.
    Offline,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientEvent {
    /// A durable event, already applied to the cache.
    Event { seq: u64, event: Box<Event> },
    Presence {
        user_id: UserId,
        online: bool,
        last_seen_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    Typing {
        chat_id: String,
        user_id: UserId,
        active: bool,
    },
    Link {
        state: LinkState,
        retry_in_ms: Option<u64>,
        /// Offline: why the last try failed, in words (for a log or a
        /// terminal; a window words `code` itself).
        reason: Option<String>,
        /// Offline because the server refused: its problem code
        /// (`account_disabled`, `too_many_connections`, ...).
        code: Option<String>,
    },
    /// A queued message was stored by the server.
    Sent { message: Box<CachedMessage> },
    /// A queued message was refused for good.
    SendFailed { client_id: String, error: Problem },
    /// A queued message was refused for now (the server's storage is full,
    /// `rate_limited`, ...): it stays queued and is sent again by itself.
    SendDeferred { client_id: String, error: Problem },
    /// The server's log was too far ahead; state was reloaded over REST.
    Resynced,
    /// The session ended (revoked elsewhere, or refresh refused): why, and
    /// the server's problem code when it said one (`invalid_token`,
    /// `token_reused`, `account_deleted`; see `error::ends_session`).
    SignedOut {
        reason: String,
        code: Option<String>,
    },
}
