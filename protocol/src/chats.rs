//! Chats, messages, attachments, reactions, receipts and search.

use crate::{
    error::Problem,
    ids::UserId,
    limits,
    profile::{field_err, FieldError, User},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A 1:1 chat as its member sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Chat {
    pub id: String,
    pub peer: User,
    pub last_message: Option<Message>,
    pub unread_count: u64,
    /// My read watermark in this chat.
    pub read_up_to_seq: u64,
    pub updated_at: DateTime<Utc>,
    /// My notifications for this chat are silenced; null when they are on
    /// (also once a mute's end has passed). Only my own devices see it.
    #[serde(default)]
    pub mute: Option<Mute>,
    /// When I pinned this chat to the top of my list (`PUT
    /// /v1/chats/{id}/pin`), or null. The list stays ordered by activity;
    /// clients show pinned chats first, the latest pinned on top. Only my
    /// own devices see it.
    #[serde(default)]
    pub pinned_at: Option<DateTime<Utc>>,
    /// I cleared this chat's history up to this seq (`POST
    /// /v1/chats/{id}/clear`): messages at or below it are gone from my
    /// history, my list, my search and my unread count, on all my devices;
    /// my peer keeps theirs. 0 when never cleared. Only my own devices see it.
    #[serde(default)]
    pub cleared_up_to_seq: u64,
}

/// Notifications of a chat silenced, for its member alone (`PUT
/// /v1/chats/{id}/mute`, `Chat.mute`, the `chat.muted` event). Messages
/// still arrive and count as unread; clients show no notification and
/// leave the chat out of badge counts. PROTOCOL.md is silent on muting;
/// this follows what WhatsApp offers: for a while, or until unmuted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Mute {
    /// When notifications come back on; null: when the member unmutes.
    /// In the future, and at most [`limits::MUTE_MAX_DAYS`] ahead.
    pub until: Option<DateTime<Utc>>,
}

impl Mute {
    /// Whether it silences the chat at `now` (an end time that has passed
    /// does not).
    pub fn silences_at(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|until| until > now)
    }

    /// What the server checks of a new mute at `now`.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), FieldError> {
        let Some(until) = self.until else {
            return Ok(());
        };
        if until <= now {
            return Err(field_err("until", "must be in the future"));
        }
        if until > now + chrono::Duration::days(limits::MUTE_MAX_DAYS) {
            return Err(field_err(
                "until",
                format!(
                    "must be at most {} days ahead; null mutes until unmuted",
                    limits::MUTE_MAX_DAYS
                ),
            ));
        }
        Ok(())
    }
}

/// `POST /v1/chats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct OpenChat {
    pub peer_id: UserId,
}

/// Delivery state of a message as its sender sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    Sent,
    Delivered,
    Read,
}

/// A stored file referenced by messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Attachment {
    pub id: String,
    pub mime: String,
    pub size: u64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// For an image the server can read: its size as shown, in pixels
    /// (after its EXIF orientation, so a client can size a preview before
    /// the bytes arrive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// A message. Deleted messages stay as tombstones (`deleted: true`, empty body,
/// no attachments or reactions) so history keeps its shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Message {
    pub id: String,
    pub chat_id: String,
    /// Position in the chat, from 1, without gaps.
    pub seq: u64,
    pub sender_id: UserId,
    pub client_id: String,
    pub body: String,
    pub reply_to: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Emoji -> users who reacted with it.
    pub reactions: BTreeMap<String, Vec<UserId>>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    pub status: MessageStatus,
    /// The sender forwarded it from another chat (clients say "Forwarded").
    /// Not in PROTOCOL.md; absent means false.
    #[serde(default)]
    pub forwarded: bool,
}

/// `POST /v1/chats/{id}/messages` (and the WebSocket `send` frame's fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SendMessage {
    /// Chosen by the client (1..=64 chars); the same id from the same user
    /// returns the original message instead of a duplicate.
    pub client_id: String,
    /// At most 16 KiB of UTF-8; blank only with an attachment; no control
    /// characters but newlines and tabs (see [`validate_body`]).
    #[serde(default)]
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachment_ids: Vec<String>,
    /// A copy of a message from another chat (see [`Message::forwarded`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forwarded: bool,
}

impl SendMessage {
    /// What the server checks before anything else, so that a client can
    /// refuse a message at once instead of queueing one that will never go.
    pub fn validate(&self) -> Result<(), FieldError> {
        let n = self.client_id.chars().count();
        if n == 0 || n > limits::CLIENT_ID_MAX || self.client_id.chars().any(char::is_control) {
            return Err(field_err(
                "client_id",
                format!("must be 1 to {} characters", limits::CLIENT_ID_MAX),
            ));
        }
        validate_body(&self.body, !self.attachment_ids.is_empty())?;
        if self.attachment_ids.len() > limits::ATTACHMENTS_PER_MESSAGE_MAX {
            return Err(field_err(
                "attachment_ids",
                format!(
                    "at most {} per message",
                    limits::ATTACHMENTS_PER_MESSAGE_MAX
                ),
            ));
        }
        let mut ids: Vec<&str> = self.attachment_ids.iter().map(String::as_str).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != self.attachment_ids.len() {
            return Err(field_err("attachment_ids", "duplicates"));
        }
        Ok(())
    }
}

/// Checks a message body (a send or an edit): at most
/// [`limits::MESSAGE_BODY_MAX_BYTES`] of UTF-8, not blank unless the message
/// has an attachment, and no control characters but newlines and tabs. The
/// last keeps terminals safe from escape sequences in someone else's message,
/// and keeps a body that fits its limit inside a WebSocket frame once
/// JSON-escaped (a control character escapes to six bytes).
pub fn validate_body(body: &str, has_attachments: bool) -> Result<(), FieldError> {
    if body.len() > limits::MESSAGE_BODY_MAX_BYTES {
        return Err(field_err(
            "body",
            format!("must be at most {} bytes", limits::MESSAGE_BODY_MAX_BYTES),
        ));
    }
    if body.trim().is_empty() && !has_attachments {
        return Err(field_err("body", "must not be empty without an attachment"));
    }
    if body
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(field_err(
            "body",
            "must not contain control characters other than newlines and tabs",
        ));
    }
    Ok(())
}

/// `PATCH /v1/messages/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EditMessage {
    /// The same rules as a send's body.
    pub body: String,
}

/// `POST /v1/chats/{id}/read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReadUpTo {
    pub up_to_seq: u64,
}

/// `POST /v1/chats/{id}/clear`: clear my history of a chat up to and
/// including `up_to_seq` (the newest message this device shows, so a
/// message that arrives meanwhile is not cleared unseen; a seq past the
/// chat's newest counts as its newest). PROTOCOL.md is silent on clearing;
/// this is WhatsApp's "Clear chat": for me only, on all my devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ClearUpTo {
    pub up_to_seq: u64,
}

/// Result of a WebSocket `send`, also used by clients to report outbox results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendResult {
    pub req: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mute's end: after now, and at most a year ahead, both edges.
    #[test]
    fn a_mute_ends_in_the_future_within_the_limit() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |d: chrono::Duration| Mute {
            until: Some(now + d),
        };
        let max = chrono::Duration::days(limits::MUTE_MAX_DAYS);
        assert!(Mute { until: None }.validate(now).is_ok());
        assert!(at(chrono::Duration::milliseconds(1)).validate(now).is_ok());
        assert!(at(max).validate(now).is_ok());
        for bad in [
            chrono::Duration::zero(),
            chrono::Duration::seconds(-1),
            max + chrono::Duration::milliseconds(1),
        ] {
            assert_eq!(at(bad).validate(now).unwrap_err().field, "until");
        }
        assert!(Mute { until: None }.silences_at(now));
        assert!(at(chrono::Duration::seconds(1)).silences_at(now));
        assert!(!at(chrono::Duration::zero()).silences_at(now));
    }

    fn send(body: &str, atts: usize) -> SendMessage {
        SendMessage {
            client_id: "c1".into(),
            body: body.into(),
            reply_to: None,
            attachment_ids: (0..atts).map(|i| format!("a{i}")).collect(),
            forwarded: false,
        }
    }

    #[test]
    fn a_body_is_checked_on_both_sides_of_each_limit() {
        let max = limits::MESSAGE_BODY_MAX_BYTES;
        assert!(validate_body(&"x".repeat(max), false).is_ok());
        let e = validate_body(&"x".repeat(max + 1), false).unwrap_err();
        assert_eq!(e.to_string(), "body: must be at most 16384 bytes");
        // Bytes, not characters: 4 096 four-byte emoji fill it exactly.
        assert!(validate_body(&"😀".repeat(max / 4), false).is_ok());
        assert!(validate_body(&format!("{}x", "😀".repeat(max / 4)), false).is_err());
        assert!(validate_body(" \n", false).is_err());
        assert!(validate_body("", true).is_ok(), "an attachment alone");
        assert!(validate_body("line\r\nnext\ttab", false).is_ok());
        for c in ['\u{1b}', '\u{0}', '\u{7}', '\u{7f}', '\u{9b}'] {
            let e = validate_body(&format!("a{c}[31mb"), false).unwrap_err();
            assert_eq!(e.field, "body", "{c:?}");
        }
    }

    #[test]
    fn a_send_is_checked_like_the_server_checks_it() {
        let max = limits::ATTACHMENTS_PER_MESSAGE_MAX;
        assert!(send("", max).validate().is_ok());
        let e = send("", max + 1).validate().unwrap_err();
        assert_eq!(e.to_string(), "attachment_ids: at most 10 per message");
        let mut dup = send("hi", 2);
        dup.attachment_ids[1] = dup.attachment_ids[0].clone();
        assert_eq!(dup.validate().unwrap_err().message, "duplicates");
        let mut id = send("hi", 0);
        id.client_id = "k".repeat(limits::CLIENT_ID_MAX);
        assert!(id.validate().is_ok());
        id.client_id.push('k');
        assert_eq!(id.validate().unwrap_err().field, "client_id");
        id.client_id = String::new();
        assert_eq!(id.validate().unwrap_err().field, "client_id");
    }
}
