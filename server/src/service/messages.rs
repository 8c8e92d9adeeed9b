//! Messages: idempotent send, edit, delete (tombstones), reactions, search.

use super::{
    chats::{ensure_connected, membership, ChatCtx},
    events::Emitted,
    Caller,
};
use crate::{
    error::{Error, Result},
    state::AppState,
    store::{self, messages::NewMessage, now_ms},
    tokens,
};
use parley_protocol::{limits, Event, Message, MessageStatus, SendMessage, UserId};
use rusqlite::Connection;

fn invalid(detail: impl Into<String>) -> Error {
    Error::unprocessable("invalid_field", detail)
}

fn message_not_found() -> Error {
    Error::not_found("message_not_found", "no such message")
}

/// A body, a send or an edit refused by parley-protocol's shared checks.
fn invalid_field(e: parley_protocol::FieldError) -> Error {
    invalid(e.to_string())
}

/// `POST /v1/chats/{id}/messages` and the WebSocket `send`. Returns the message
/// and whether it was created now (false: the same `client_id` was sent before).
pub async fn send(
    state: &AppState,
    caller: &Caller,
    chat_id: &str,
    req: SendMessage,
) -> Result<(Message, bool)> {
    req.validate().map_err(invalid_field)?;
    let (uid, cid) = (caller.user_id.clone(), chat_id.to_owned());
    let now = now_ms();
    // Every check comes before the first write (`next_seq`): the job runs
    // without a savepoint of its own.
    let (message, created, _) =
        super::events::write_checks_first(state, move |conn| -> Result<(Message, bool, Emitted)> {
            let me = membership(conn, &cid, &uid)?;
            if let Some(existing) = store::messages::by_client_id(conn, &uid, &req.client_id)? {
                if existing.chat_id != cid {
                    return Err(Error::conflict(
                        "client_id_conflict",
                        "client_id: already used for a message in another chat",
                    ));
                }
                let ctx = ChatCtx::load(conn, &me)?;
                return Ok((ctx.message(conn, &existing)?, false, Emitted::default()));
            }
            ensure_connected(conn, &uid, &me.peer_id)?;
            if let Some(reply) = &req.reply_to {
                // Not to a message I cleared: I no longer see it.
                let ok = store::messages::by_id(conn, reply)?
                    .is_some_and(|m| m.chat_id == cid && m.seq > me.cleared_up_to_seq);
                if !ok {
                    return Err(invalid("reply_to: no such message in this chat"));
                }
            }
            let mut attachments = Vec::with_capacity(req.attachment_ids.len());
            for a in &req.attachment_ids {
                match store::attachments::by_id(conn, a)? {
                    Some((att, up)) if up == uid => attachments.push(att),
                    _ => {
                        return Err(invalid(format!(
                            "attachment_ids: {a} is not an attachment you uploaded"
                        )))
                    }
                }
            }
            let seq = store::chats::next_seq(conn, &cid, now)?;
            let id = tokens::new_id();
            store::messages::insert(
                conn,
                &NewMessage {
                    id: &id,
                    chat_id: &cid,
                    seq,
                    sender_id: &uid,
                    client_id: &req.client_id,
                    body: &req.body,
                    reply_to: req.reply_to.as_deref(),
                    attachment_ids: &req.attachment_ids,
                    forwarded: req.forwarded,
                    now,
                },
            )?;
            store::chats::bump_unread(conn, &cid, &me.peer_id)?;
            // Built from what was just written (and the attachments checked
            // above) rather than read back: this is the hottest write path, and
            // a new message has no reactions and status `sent` by definition.
            let message = Message {
                id,
                chat_id: cid.clone(),
                seq,
                sender_id: UserId(uid.clone()),
                client_id: req.client_id,
                body: req.body,
                reply_to: req.reply_to,
                attachments,
                reactions: Default::default(),
                created_at: store::ms_to_ts(now),
                edited_at: None,
                deleted: false,
                status: MessageStatus::Sent,
                forwarded: req.forwarded,
            };
            let mut emitted = Emitted::default();
            let ev = Event::MessageCreated {
                message: message.clone(),
            };
            emitted.emit_all(conn, &[&me.peer_id, &uid], &ev, now)?;
            Ok((message, true, emitted))
        })
        .await?;
    if created {
        crate::metrics::get().messages_sent.inc();
    }
    Ok((message, created))
}

/// Loads a message the caller may act on as a chat member, with its context
/// (not one they cleared from their history: they no longer see it).
fn load(
    conn: &Connection,
    uid: &str,
    message_id: &str,
) -> Result<(
    store::messages::MessageRow,
    store::chats::MemberRow,
    ChatCtx,
)> {
    let row = store::messages::by_id(conn, message_id)?.ok_or_else(message_not_found)?;
    let me = store::chats::member(conn, &row.chat_id, uid)?
        .filter(|me| row.seq > me.cleared_up_to_seq)
        .ok_or_else(message_not_found)?;
    let ctx = ChatCtx::load(conn, &me)?;
    Ok((row, me, ctx))
}

/// Appends `event` about the message `row` to both members' logs: the
/// caller's (who sees it, [`load`] made sure), and the peer's unless they
/// cleared it from their history or deleted their account (its log is gone
/// for good; a tombstone must not start it again).
fn to_both(
    conn: &Connection,
    emitted: &mut Emitted,
    uid: &str,
    row: &store::messages::MessageRow,
    ev: &Event,
    now: i64,
) -> Result<()> {
    let me = membership(conn, &row.chat_id, uid)?;
    emitted.emit(conn, uid, ev, now)?;
    let peer = membership(conn, &row.chat_id, &me.peer_id)?;
    let deleted = store::users::by_id(conn, &me.peer_id)?.is_none_or(|u| u.deleted);
    if row.seq > peer.cleared_up_to_seq && !deleted {
        emitted.emit(conn, &me.peer_id, ev, now)?;
    }
    Ok(())
}

/// `PATCH /v1/messages/{id}`: the sender, within 24 hours.
pub async fn edit(
    state: &AppState,
    caller: &Caller,
    message_id: &str,
    body: String,
) -> Result<Message> {
    let (uid, mid) = (caller.user_id.clone(), message_id.to_owned());
    let now = now_ms();
    let (message, _) = super::events::write(state, move |conn| -> Result<(Message, Emitted)> {
        let (row, me, ctx) = load(conn, &uid, &mid)?;
        // Not with someone who is no longer a contact: the edit would still
        // reach their log (deleting one's own message stays allowed).
        ensure_connected(conn, &uid, &me.peer_id)?;
        if row.sender_id != uid {
            return Err(Error::Forbidden {
                code: "not_sender",
                detail: "only the sender may edit a message".into(),
            });
        }
        if row.deleted {
            return Err(Error::Gone {
                code: "message_deleted",
                detail: "this message was deleted".into(),
            });
        }
        if now - row.created_at > limits::EDIT_WINDOW_SECS * 1000 {
            return Err(Error::Forbidden {
                code: "edit_window_passed",
                detail: "messages can be edited for 24 hours".into(),
            });
        }
        let has_attachments = !store::messages::attachments_of(conn, &mid)?.is_empty();
        parley_protocol::validate_body(&body, has_attachments).map_err(invalid_field)?;
        store::messages::edit(conn, &mid, &body, now)?;
        let row = store::messages::by_id(conn, &mid)?.ok_or_else(message_not_found)?;
        let message = ctx.message(conn, &row)?;
        let mut emitted = Emitted::default();
        let ev = Event::MessageUpdated {
            message: message.clone(),
        };
        to_both(conn, &mut emitted, &uid, &row, &ev, now)?;
        Ok((message, emitted))
    })
    .await?;
    Ok(message)
}

/// `DELETE /v1/messages/{id}`: the sender; leaves a tombstone.
pub async fn delete(state: &AppState, caller: &Caller, message_id: &str) -> Result<()> {
    let (uid, mid) = (caller.user_id.clone(), message_id.to_owned());
    let now = now_ms();
    super::events::write(state, move |conn| -> Result<Emitted> {
        let (row, _, ctx) = load(conn, &uid, &mid)?;
        if row.sender_id != uid {
            return Err(Error::Forbidden {
                code: "not_sender",
                detail: "only the sender may delete a message".into(),
            });
        }
        let mut emitted = Emitted::default();
        if row.deleted {
            return Ok(emitted);
        }
        store::messages::tombstone(conn, &mid, now)?;
        let row = store::messages::by_id(conn, &mid)?.ok_or_else(message_not_found)?;
        // A deleted unread message no longer counts as unread.
        store::chats::uncount_unread(
            conn,
            &row.chat_id,
            &membership(conn, &row.chat_id, &uid)?.peer_id,
            row.seq,
        )?;
        let ev = Event::MessageDeleted {
            message: ctx.message(conn, &row)?,
        };
        to_both(conn, &mut emitted, &uid, &row, &ev, now)?;
        Ok(emitted)
    })
    .await?;
    Ok(())
}

/// Checks a reaction: 1..=64 bytes, no whitespace or control characters,
/// not plain ASCII (every emoji is outside it; `hello` or `+1` is text, not
/// a reaction), and one emoji: one grapheme cluster, which a sequence with
/// skin tones, joiners or a flag is, and "👍👍" is not.
fn check_emoji(emoji: &str, add: bool) -> Result<()> {
    use unicode_segmentation::UnicodeSegmentation;
    // Only a new one: a reaction stored before these rules can still be
    // taken back.
    if add && !emoji.is_empty() && emoji.len() <= limits::REACTION_MAX_BYTES {
        if emoji.is_ascii() {
            return Err(invalid("emoji: must be an emoji, not text"));
        }
        if emoji.graphemes(true).nth(1).is_some() {
            return Err(invalid("emoji: one emoji per reaction"));
        }
    }
    if emoji.is_empty()
        || emoji.len() > limits::REACTION_MAX_BYTES
        || emoji.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid(format!(
            "emoji: must be 1 to {} bytes without spaces",
            limits::REACTION_MAX_BYTES
        )));
    }
    Ok(())
}

/// `PUT` (`add`) / `DELETE` a reaction: one per user per emoji.
pub async fn react(
    state: &AppState,
    caller: &Caller,
    message_id: &str,
    emoji: &str,
    add: bool,
) -> Result<()> {
    check_emoji(emoji, add)?;
    let (uid, mid, emoji) = (
        caller.user_id.clone(),
        message_id.to_owned(),
        emoji.to_owned(),
    );
    let now = now_ms();
    super::events::write(state, move |conn| -> Result<Emitted> {
        let (row, me, _) = load(conn, &uid, &mid)?;
        ensure_connected(conn, &uid, &me.peer_id)?;
        if row.deleted {
            return Err(Error::Gone {
                code: "message_deleted",
                detail: "this message was deleted".into(),
            });
        }
        let changed = if add {
            if store::messages::other_reactions_of(conn, &mid, &uid, &emoji)?
                >= limits::REACTIONS_PER_USER_MAX
            {
                return Err(Error::conflict(
                    "too_many_reactions",
                    format!(
                        "at most {} different reactions per message: remove one first",
                        limits::REACTIONS_PER_USER_MAX
                    ),
                ));
            }
            store::messages::add_reaction(conn, &mid, &uid, &emoji, now)?
        } else {
            store::messages::remove_reaction(conn, &mid, &uid, &emoji)?
        };
        let mut emitted = Emitted::default();
        if changed {
            store::chats::touch_chat(conn, &row.chat_id, now)?;
            let ev = Event::ReactionChanged {
                chat_id: row.chat_id.clone(),
                message_id: mid.clone(),
                reactions: store::messages::reactions(conn, &mid)?,
            };
            to_both(conn, &mut emitted, &uid, &row, &ev, now)?;
        }
        Ok(emitted)
    })
    .await?;
    Ok(())
}

/// Words a search may have: each is a term every match must have, and
/// each prefix term costs a walk of the whole index's terms that start so.
pub const SEARCH_WORDS_MAX: usize = 8;

/// Turns what a person typed into a safe FTS5 query: every word becomes a
/// quoted term, so operators and quotes in the input are just text. Words
/// of two characters or more match as prefixes; a single character only as
/// itself (as a prefix it would match a large part of every index).
pub fn fts_query(q: &str) -> Option<String> {
    let terms: Vec<String> = q
        .split_whitespace()
        // Control characters are nothing a message is searched by, and a
        // NUL ends an FTS5 query early (an "unterminated string" error).
        .map(|w| w.chars().filter(|c| !c.is_control()).collect::<String>())
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_owned())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let star = if w.chars().count() > 1 { "*" } else { "" };
            format!("\"{}\"{star}", w.replace('"', "\"\""))
        })
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// `GET /v1/search?q=`: the caller's messages matching every word.
/// `GET /v1/search`: in one of the caller's chats (`chat_id`) or all, and
/// before the message `before` (the last of the previous page), newest
/// first, [`limits::SEARCH_PAGE`] at most.
pub async fn search(
    state: &AppState,
    caller: &Caller,
    q: &str,
    chat_id: Option<String>,
    before: Option<String>,
) -> Result<Vec<Message>> {
    if q.chars().count() > limits::SEARCH_QUERY_MAX {
        return Err(Error::unprocessable(
            "invalid_query",
            format!("q: at most {} characters", limits::SEARCH_QUERY_MAX),
        ));
    }
    if q.split_whitespace().count() > SEARCH_WORDS_MAX {
        return Err(Error::unprocessable(
            "invalid_query",
            format!("q: at most {SEARCH_WORDS_MAX} words"),
        ));
    }
    let Some(query) = fts_query(q) else {
        return Err(Error::unprocessable(
            "invalid_query",
            "q: give at least one word",
        ));
    };
    let uid = caller.user_id.clone();
    state
        .store
        .read(move |conn| {
            if let Some(chat) = &chat_id {
                membership(conn, chat, &uid)?;
            }
            let before_rowid = match &before {
                None => None,
                Some(id) => {
                    let found = store::messages::rowid_of(conn, id)?
                        .filter(|(_, chat)| membership(conn, chat, &uid).is_ok());
                    let Some((rowid, _)) = found else {
                        return Err(Error::unprocessable(
                            "invalid_query",
                            "before: not a message of your chats",
                        ));
                    };
                    Some(rowid)
                }
            };
            let scope = store::messages::SearchScope {
                chat_id,
                before_rowid,
            };
            let rows = store::messages::search(conn, &uid, &query, &scope, limits::SEARCH_PAGE)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let me = membership(conn, &row.chat_id, &uid)?;
                out.push(ChatCtx::load(conn, &me)?.message(conn, &row)?);
            }
            Ok(out)
        })
        .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn fts_queries_are_quoted() {
        assert_eq!(
            super::fts_query("hello world").unwrap(),
            r#""hello"* "world"*"#
        );
        assert_eq!(
            super::fts_query(r#"a"b OR NEAR("#).unwrap(),
            r#""a""b"* "OR"* "NEAR"*"#
        );
        assert_eq!(super::fts_query("a b9 ü").unwrap(), r#""a" "b9"* "ü""#);
        assert!(super::fts_query("  ?! ").is_none());
        assert_eq!(super::fts_query("a\0b \u{7}").unwrap(), r#""ab"*"#);
        assert!(super::fts_query("\0\0").is_none());
    }
}
