//! The realtime model: durable events (per-user log with `seq`) and the
//! WebSocket frames that carry them. The event set is fixed and documented; a
//! client that meets an unknown `kind` (a newer server) skips it.

use crate::{
    chats::{Message, Mute, SendResult},
    contacts::{Connection, ConnectionRequest},
    error::Problem,
    ids::UserId,
    profile::{Device, User},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A durable event of one user's log. Serialised with `kind` as the tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind")]
pub enum Event {
    /// A message was sent in one of my chats (by me or my peer).
    #[serde(rename = "message.created")]
    MessageCreated { message: Message },
    /// A message was edited.
    #[serde(rename = "message.updated")]
    MessageUpdated { message: Message },
    /// A message was deleted; `message` is its tombstone.
    #[serde(rename = "message.deleted")]
    MessageDeleted { message: Message },
    /// The reactions on a message changed.
    #[serde(rename = "reaction.changed")]
    ReactionChanged {
        chat_id: String,
        message_id: String,
        reactions: BTreeMap<String, Vec<UserId>>,
    },
    /// A member's delivered/read watermarks moved (read is 0 when hidden).
    #[serde(rename = "receipt.updated")]
    ReceiptUpdated {
        chat_id: String,
        user_id: UserId,
        delivered_up_to_seq: u64,
        read_up_to_seq: u64,
    },
    /// A connection request involving me was made (incoming or outgoing).
    #[serde(rename = "connection.requested")]
    ConnectionRequested { request: ConnectionRequest },
    /// I have a new contact.
    #[serde(rename = "connection.created")]
    ConnectionCreated { connection: Connection },
    /// A contact was removed (by either side).
    #[serde(rename = "connection.removed")]
    ConnectionRemoved { user_id: UserId },
    /// A contact's (or my own) public profile changed.
    #[serde(rename = "profile.updated")]
    ProfileUpdated { user: User },
    /// A device joined my account.
    #[serde(rename = "device.added")]
    DeviceAdded { device: Device },
    /// A device of my account was signed out.
    #[serde(rename = "device.revoked")]
    DeviceRevoked { device_id: String },
    /// Another device of mine read a chat up to `up_to_seq`.
    #[serde(rename = "chat.read")]
    ChatRead { chat_id: String, up_to_seq: u64 },
    /// My contact code was used by someone; show a fresh one.
    #[serde(rename = "contact_code.consumed")]
    ContactCodeConsumed { request_id: String },
    /// I (on any of my devices) muted or unmuted a chat; `mute` is null when
    /// its notifications are back on. Not in PROTOCOL.md's list: added with
    /// muting, and skipped by clients that do not know it.
    #[serde(rename = "chat.muted")]
    ChatMuted { chat_id: String, mute: Option<Mute> },
    /// I (on any of my devices) pinned a chat to the top of my list, or
    /// unpinned it (`pinned_at` null). Not in PROTOCOL.md's list, like
    /// `chat.muted`.
    #[serde(rename = "chat.pinned")]
    ChatPinned {
        chat_id: String,
        pinned_at: Option<DateTime<Utc>>,
    },
    /// I (on any of my devices) cleared my history of a chat up to
    /// `up_to_seq`: drop those messages. Not in PROTOCOL.md's list, like
    /// `chat.muted`. After it, no event about a cleared message reaches me.
    #[serde(rename = "chat.cleared")]
    ChatCleared {
        chat_id: String,
        up_to_seq: u64,
        /// My unread count in the chat right after the clear (a device
        /// cannot count it from what it has cached).
        #[serde(default)]
        unread_count: u64,
    },
}

impl Event {
    /// Every `kind` this version knows (what [`Event::kind`] returns).
    pub const KINDS: &'static [&'static str] = &[
        "message.created",
        "message.updated",
        "message.deleted",
        "reaction.changed",
        "receipt.updated",
        "connection.requested",
        "connection.created",
        "connection.removed",
        "profile.updated",
        "device.added",
        "device.revoked",
        "chat.read",
        "contact_code.consumed",
        "chat.muted",
        "chat.pinned",
        "chat.cleared",
    ];

    /// The `kind` string of this event.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::MessageCreated { .. } => "message.created",
            Event::MessageUpdated { .. } => "message.updated",
            Event::MessageDeleted { .. } => "message.deleted",
            Event::ReactionChanged { .. } => "reaction.changed",
            Event::ReceiptUpdated { .. } => "receipt.updated",
            Event::ConnectionRequested { .. } => "connection.requested",
            Event::ConnectionCreated { .. } => "connection.created",
            Event::ConnectionRemoved { .. } => "connection.removed",
            Event::ProfileUpdated { .. } => "profile.updated",
            Event::DeviceAdded { .. } => "device.added",
            Event::DeviceRevoked { .. } => "device.revoked",
            Event::ChatRead { .. } => "chat.read",
            Event::ContactCodeConsumed { .. } => "contact_code.consumed",
            Event::ChatMuted { .. } => "chat.muted",
            Event::ChatPinned { .. } => "chat.pinned",
            Event::ChatCleared { .. } => "chat.cleared",
        }
    }
}

/// Client -> server WebSocket frames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// First frame: replay everything after `since`, then go live.
    Hello { since: u64 },
    /// Events up to `up_to` are durably stored by this device. Acks less
    /// than 50 ms apart may be coalesced into the newest before they are
    /// stored, so delivered receipts can lag by that much; the last one always
    /// counts.
    Ack { up_to: u64 },
    /// Send a message; answered by a `result` frame after commit.
    Send {
        req: String,
        chat_id: String,
        client_id: String,
        #[serde(default)]
        body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachment_ids: Vec<String>,
        /// A copy of a message from another chat.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        forwarded: bool,
    },
    /// Move my read watermark.
    Read { chat_id: String, up_to_seq: u64 },
    /// I am (or stopped) typing in a chat.
    Typing { chat_id: String, active: bool },
}

/// Server -> client WebSocket frames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// A durable event of my log.
    Event { seq: u64, event: Box<Event> },
    /// Replay is done; what follows is live.
    Live,
    /// `since` is older than the retained log: reload over REST, then hello
    /// again with `since` = `current_seq`.
    ResyncRequired { current_seq: u64 },
    /// The answer to a `send`, sent once the message is committed. The
    /// sender's own `message.created` event is published at that commit, so
    /// it may arrive before or after this frame: match them by `client_id`.
    Result(Box<SendResult>),
    /// A contact came online or went offline (ephemeral).
    Presence {
        user_id: UserId,
        online: bool,
        last_seen_at: Option<DateTime<Utc>>,
    },
    /// A contact is typing (ephemeral; expires after 6 s without refresh).
    Typing {
        chat_id: String,
        user_id: UserId,
        active: bool,
    },
    /// A frame-level error that does not end the connection.
    Error { error: Problem },
}

/// WebSocket close codes.
pub mod close {
    /// The access token is invalid, or the device/account was revoked.
    pub const TOKEN_INVALID: u16 = 4001;
    /// The device fell behind: reconnect and resume from the cursor.
    pub const LAGGING: u16 = 4008;
    /// The client broke the protocol (bad frame, hello missing, too large).
    pub const PROTOCOL_VIOLATION: u16 = 4009;
    /// The standard "try again later": the device has as many sockets open
    /// as the server allows (sockets opened all at once, past the upgrade's
    /// own check). Reconnect after a back-off.
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_match_the_documented_shapes() {
        let f: ClientFrame = serde_json::from_str(r#"{"type":"hello","since":0}"#).unwrap();
        assert_eq!(f, ClientFrame::Hello { since: 0 });
        let f: ClientFrame = serde_json::from_str(
            r#"{"type":"send","req":"r1","chat_id":"c","client_id":"k","body":"hi"}"#,
        )
        .unwrap();
        assert!(matches!(f, ClientFrame::Send { .. }));
        let live = serde_json::to_string(&ServerFrame::Live).unwrap();
        assert_eq!(live, r#"{"type":"live"}"#);
        let ev = ServerFrame::Event {
            seq: 3,
            event: Box::new(Event::ConnectionRemoved {
                user_id: UserId("u".into()),
            }),
        };
        assert_eq!(
            serde_json::to_string(&ev).unwrap(),
            r#"{"type":"event","seq":3,"event":{"kind":"connection.removed","user_id":"u"}}"#
        );
        let r = ServerFrame::Result(Box::new(SendResult {
            req: "r1".into(),
            ok: false,
            message: None,
            error: Some(Problem::new(
                429,
                "rate_limited",
                "Too many requests",
                "slow",
            )),
        }));
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(v["type"], "result");
        assert_eq!(v["req"], "r1");
        assert_eq!(v["ok"], false);
        assert_eq!(v["error"]["code"], "rate_limited");
    }
}
