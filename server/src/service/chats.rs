//! Chats: get-or-create between connections, the chat list, history, read and
//! delivered watermarks.

use super::{events::Emitted, Caller};
use crate::{
    error::{Error, Result},
    state::AppState,
    store::{self, chats::MemberRow, messages::StatusCtx, ms_to_ts, now_ms},
    tokens,
};
use parley_protocol::{limits, Chat, Event, Message, Mute, UserId};
use rusqlite::Connection;

pub fn chat_not_found() -> Error {
    Error::not_found("chat_not_found", "no such chat")
}

/// The caller's membership, or 404 (a chat you are not in does not exist).
pub fn membership(conn: &Connection, chat_id: &str, user_id: &str) -> Result<MemberRow> {
    store::chats::member(conn, chat_id, user_id)?.ok_or_else(chat_not_found)
}

/// Status context for messages sent by `sender` in a chat.
pub struct ChatCtx {
    members: Vec<MemberRow>,
    receipts_visible: bool,
}

impl ChatCtx {
    pub fn load(conn: &Connection, me: &MemberRow) -> Result<ChatCtx> {
        let peer = store::chats::member(conn, &me.chat_id, &me.peer_id)?
            .ok_or_else(|| Error::internal("chat without peer member"))?;
        let visible = |uid: &str| -> Result<bool> {
            Ok(store::users::by_id(conn, uid)?.is_some_and(|u| u.settings.read_receipts))
        };
        let receipts_visible = visible(&me.user_id)? && visible(&me.peer_id)?;
        Ok(ChatCtx {
            members: vec![me.clone(), peer],
            receipts_visible,
        })
    }

    pub fn for_sender(&self, sender: &str) -> StatusCtx {
        let recipient = self.members.iter().find(|m| m.user_id != sender);
        StatusCtx {
            delivered: recipient.map_or(0, |m| m.delivered_up_to_seq),
            read: recipient.map_or(0, |m| m.read_up_to_seq),
            receipts_visible: self.receipts_visible,
        }
    }

    pub fn message(&self, conn: &Connection, row: &store::messages::MessageRow) -> Result<Message> {
        Ok(store::messages::to_wire(
            conn,
            row,
            self.for_sender(&row.sender_id),
        )?)
    }

    /// The read watermark `user_id` may show to its peer (0 when hidden).
    pub fn visible_read(&self, m: &MemberRow) -> u64 {
        if self.receipts_visible {
            m.read_up_to_seq
        } else {
            0
        }
    }
}

fn chat_view(conn: &Connection, me: &MemberRow, updated_at: i64) -> Result<Chat> {
    let peer =
        store::users::by_id(conn, &me.peer_id)?.ok_or_else(|| Error::internal("peer vanished"))?;
    let ctx = ChatCtx::load(conn, me)?;
    let last = store::messages::last_in_chat(conn, &me.chat_id, me.cleared_up_to_seq)?
        .map(|row| ctx.message(conn, &row))
        .transpose()?;
    // Someone no longer a contact is shown as to a stranger: name and photo.
    let peer = if store::contacts::are_connected(conn, &me.user_id, &me.peer_id)? {
        peer.to_user()
    } else {
        super::connections::limited(&peer)
    };
    Ok(Chat {
        id: me.chat_id.clone(),
        peer,
        last_message: last,
        unread_count: me.unread_count,
        read_up_to_seq: me.read_up_to_seq,
        updated_at: ms_to_ts(updated_at),
        mute: mute_of(me.muted_until, now_ms()),
        pinned_at: me.pinned_at.map(ms_to_ts),
        cleared_up_to_seq: me.cleared_up_to_seq,
    })
}

/// `POST /v1/chats/{id}/clear`: clears the caller's history of a chat up to
/// `up_to` (at most the chat's newest seq) on all their devices, which hear
/// it as `chat.cleared`. The peer's history, and the read and delivered
/// watermarks they see, do not change. A clear at or below an earlier one
/// changes nothing.
pub async fn clear(state: &AppState, caller: &Caller, chat_id: &str, up_to: u64) -> Result<()> {
    let (uid, cid) = (caller.user_id.clone(), chat_id.to_owned());
    let now = now_ms();
    super::events::write(state, move |conn| -> Result<Emitted> {
        let me = membership(conn, &cid, &uid)?;
        let chat = store::chats::chat(conn, &cid)?.ok_or_else(chat_not_found)?;
        let up_to = up_to.min(chat.last_seq);
        let mut emitted = Emitted::default();
        if up_to <= me.cleared_up_to_seq {
            return Ok(emitted);
        }
        store::chats::set_cleared(conn, &cid, &uid, up_to)?;
        let after = membership(conn, &cid, &uid)?;
        emitted.emit(
            conn,
            &uid,
            &Event::ChatCleared {
                chat_id: cid.clone(),
                up_to_seq: up_to,
                unread_count: after.unread_count,
            },
            now,
        )?;
        Ok(emitted)
    })
    .await?;
    Ok(())
}

/// `PUT` and `DELETE /v1/chats/{id}/pin`: pins the chat to the top of the
/// caller's list (at most [`limits::PINNED_CHATS_MAX`]), or unpins it. Their
/// devices hear it as `chat.pinned`; the peer never learns of it.
pub async fn pin(state: &AppState, caller: &Caller, chat_id: &str, pinned: bool) -> Result<()> {
    let (uid, cid) = (caller.user_id.clone(), chat_id.to_owned());
    let now = now_ms();
    super::events::write(state, move |conn| -> Result<Emitted> {
        let me = membership(conn, &cid, &uid)?;
        let mut emitted = Emitted::default();
        if pinned == me.pinned_at.is_some() {
            return Ok(emitted);
        }
        if pinned && store::chats::pinned_count(conn, &uid)? >= limits::PINNED_CHATS_MAX {
            return Err(Error::conflict(
                "too_many_pinned",
                format!(
                    "at most {} chats can be pinned: unpin one first",
                    limits::PINNED_CHATS_MAX
                ),
            ));
        }
        let pinned_at = pinned.then_some(now);
        store::chats::set_pinned(conn, &cid, &uid, pinned_at)?;
        emitted.emit(
            conn,
            &uid,
            &Event::ChatPinned {
                chat_id: cid.clone(),
                pinned_at: pinned_at.map(ms_to_ts),
            },
            now,
        )?;
        Ok(emitted)
    })
    .await?;
    Ok(())
}

/// A member's `muted_until` as the wire shows it at `now` (none once it
/// ended).
fn mute_of(muted_until: Option<i64>, now: i64) -> Option<Mute> {
    match muted_until {
        Some(store::chats::MUTED_UNTIL_UNMUTED) => Some(Mute { until: None }),
        Some(until) if until > now => Some(Mute {
            until: Some(ms_to_ts(until)),
        }),
        _ => None,
    }
}

/// `PUT` and `DELETE /v1/chats/{id}/mute`: silences the caller's
/// notifications of a chat (`Some`), or turns them back on (`None`). Their
/// devices hear it as `chat.muted`; the peer never learns of it.
pub async fn mute(
    state: &AppState,
    caller: &Caller,
    chat_id: &str,
    mute: Option<Mute>,
) -> Result<()> {
    let now = chrono::Utc::now();
    if let Some(m) = &mute {
        m.validate(now)?;
    }
    let muted_until = mute.map(|m| {
        m.until
            .map_or(store::chats::MUTED_UNTIL_UNMUTED, |t| t.timestamp_millis())
    });
    let (uid, cid) = (caller.user_id.clone(), chat_id.to_owned());
    let now = now.timestamp_millis();
    super::events::write(state, move |conn| -> Result<Emitted> {
        let me = membership(conn, &cid, &uid)?;
        let mut emitted = Emitted::default();
        // A mute that already ended is the same as none.
        let (was, is) = (mute_of(me.muted_until, now), mute_of(muted_until, now));
        store::chats::set_mute(conn, &cid, &uid, muted_until)?;
        if was != is {
            emitted.emit(
                conn,
                &uid,
                &Event::ChatMuted {
                    chat_id: cid.clone(),
                    mute: is,
                },
                now,
            )?;
        }
        Ok(emitted)
    })
    .await?;
    Ok(())
}

/// `POST /v1/chats`: the 1:1 chat with a connection; `true` when created now.
pub async fn open(state: &AppState, caller: &Caller, peer: &UserId) -> Result<(Chat, bool)> {
    let (uid, pid) = (caller.user_id.clone(), peer.0.clone());
    let now = now_ms();
    state
        .store
        .write(move |conn| {
            // Also for a chat that exists: PROTOCOL.md answers 403 to anyone
            // not connected (the chat stays readable through its id).
            ensure_connected(conn, &uid, &pid)?;
            let (chat_id, created) = match store::chats::chat_between(conn, &uid, &pid)? {
                Some(id) => (id, false),
                None => {
                    let id = tokens::new_id();
                    store::chats::insert_chat(conn, &id, &uid, &pid, now)?;
                    (id, true)
                }
            };
            let me = membership(conn, &chat_id, &uid)?;
            let chat = store::chats::chat(conn, &chat_id)?.ok_or_else(chat_not_found)?;
            Ok((chat_view(conn, &me, chat.updated_at)?, created))
        })
        .await
}

/// `GET /v1/chats/{id}`: one of the caller's chats.
pub async fn get(state: &AppState, caller: &Caller, chat_id: &str) -> Result<Chat> {
    let (uid, cid) = (caller.user_id.clone(), chat_id.to_owned());
    state
        .store
        .read(move |conn| {
            let me = membership(conn, &cid, &uid)?;
            let chat = store::chats::chat(conn, &cid)?.ok_or_else(chat_not_found)?;
            chat_view(conn, &me, chat.updated_at)
        })
        .await
}

/// Sending to or opening a chat with someone needs a live connection.
pub fn ensure_connected(conn: &Connection, a: &str, b: &str) -> Result<()> {
    if a != b && store::contacts::are_connected(conn, a, b)? {
        Ok(())
    } else {
        Err(Error::Forbidden {
            code: "not_connected",
            detail: "you are not connected to this user".into(),
        })
    }
}

/// `GET /v1/chats`.
/// `GET /v1/chats`: by last activity; `before` is the previous page's last
/// chat (its time, and its id or "").
pub async fn list(
    state: &AppState,
    caller: &Caller,
    before: Option<(i64, String)>,
    limit: u32,
) -> Result<Vec<Chat>> {
    let uid = caller.user_id.clone();
    let limit = limit.clamp(1, limits::CHATS_LIMIT_MAX);
    state
        .store
        .read(move |conn| {
            store::chats::chats_of(conn, &uid, before.as_ref(), limit)?
                .iter()
                .map(|(m, c)| chat_view(conn, m, c.updated_at))
                .collect()
        })
        .await
}

/// `GET /v1/chats/{id}/messages`.
pub async fn history(
    state: &AppState,
    caller: &Caller,
    chat_id: &str,
    before: Option<u64>,
    after: Option<u64>,
    limit: Option<u32>,
) -> Result<Vec<Message>> {
    let limit = limit.unwrap_or(limits::HISTORY_LIMIT_DEFAULT);
    if limit == 0 || limit > limits::HISTORY_LIMIT_MAX {
        return Err(Error::unprocessable(
            "invalid_query",
            format!("limit: must be 1 to {}", limits::HISTORY_LIMIT_MAX),
        ));
    }
    let (uid, cid) = (caller.user_id.clone(), chat_id.to_owned());
    state
        .store
        .read(move |conn| {
            let me = membership(conn, &cid, &uid)?;
            let ctx = ChatCtx::load(conn, &me)?;
            store::messages::page(conn, &cid, me.cleared_up_to_seq, before, after, limit)?
                .iter()
                .map(|row| ctx.message(conn, row))
                .collect()
        })
        .await
}

/// Appends `receipt.updated` for `m` to both members' logs.
fn emit_receipt(
    conn: &Connection,
    emitted: &mut Emitted,
    ctx: &ChatCtx,
    m: &MemberRow,
    now: i64,
) -> Result<()> {
    let ev = Event::ReceiptUpdated {
        chat_id: m.chat_id.clone(),
        user_id: UserId(m.user_id.clone()),
        delivered_up_to_seq: m.delivered_up_to_seq,
        read_up_to_seq: ctx.visible_read(m),
    };
    emitted.emit(conn, &m.peer_id, &ev, now)?;
    Ok(())
}

/// `user_id` turned read receipts on: in each chat with a contact who has
/// them on too, each side may now see the other's read watermark, which no
/// read announces (it may have moved while hidden). The peer hears
/// `user_id`'s, and `user_id`'s devices the peer's. (Turned off, nothing is
/// sent: what was shown stays shown, and clients only move ticks forward.)
pub(super) fn receipts_shown(
    conn: &Connection,
    emitted: &mut Emitted,
    user_id: &str,
    now: i64,
) -> Result<()> {
    for (me, peer) in store::chats::read_receipt_pairs(conn, user_id)? {
        // Both show read receipts now: each watermark as it is.
        for side in [&me, &peer] {
            if side.read_up_to_seq > 0 {
                let ev = Event::ReceiptUpdated {
                    chat_id: side.chat_id.clone(),
                    user_id: UserId(side.user_id.clone()),
                    delivered_up_to_seq: side.delivered_up_to_seq,
                    read_up_to_seq: side.read_up_to_seq,
                };
                emitted.emit(conn, &side.peer_id, &ev, now)?;
            }
        }
    }
    Ok(())
}

/// `POST /v1/chats/{id}/read` and the WebSocket `read` frame.
pub async fn read(state: &AppState, caller: &Caller, chat_id: &str, up_to: u64) -> Result<()> {
    let (uid, cid) = (caller.user_id.clone(), chat_id.to_owned());
    let now = now_ms();
    super::events::write(state, move |conn| -> Result<Emitted> {
        let me = membership(conn, &cid, &uid)?;
        let chat = store::chats::chat(conn, &cid)?.ok_or_else(chat_not_found)?;
        let up_to = up_to.min(chat.last_seq);
        let mut emitted = Emitted::default();
        if up_to <= me.read_up_to_seq {
            return Ok(emitted);
        }
        let after =
            store::chats::advance_read(conn, &cid, &uid, up_to)?.ok_or_else(chat_not_found)?;
        let ctx = ChatCtx::load(conn, &after)?;
        emitted.emit(
            conn,
            &uid,
            &Event::ChatRead {
                chat_id: cid.clone(),
                up_to_seq: after.read_up_to_seq,
            },
            now,
        )?;
        // The peer hears of it only if something they may see moved (with
        // read receipts off, a read alone shows nothing), and someone no
        // longer a contact hears nothing more of this side.
        let seen = after.delivered_up_to_seq != me.delivered_up_to_seq
            || ctx.visible_read(&after) != ctx.visible_read(&me);
        if seen && store::contacts::are_connected(conn, &uid, &me.peer_id)? {
            emit_receipt(conn, &mut emitted, &ctx, &after, now)?;
        }
        Ok(emitted)
    })
    .await?;
    Ok(())
}

/// A device acknowledged its log up to `up_to`: store the cursor, and advance
/// `delivered` in every chat whose new messages that range carried.
pub async fn ack(state: &AppState, caller: &Caller, up_to: u64) -> Result<()> {
    let (uid, did) = (caller.user_id.clone(), caller.device_id.clone());
    let now = now_ms();
    // Reads and checks first, then the writes: the job runs without a
    // savepoint of its own (it is the most frequent one).
    super::events::write_checks_first(state, move |conn| -> Result<Emitted> {
        let current = store::events::current_seq(conn, &uid)?;
        let up_to = up_to.min(current);
        let prev = store::chats::device_acked(conn, &did)?;
        let mut emitted = Emitted::default();
        if up_to <= prev {
            return Ok(emitted);
        }
        let mut receipts = Vec::new();
        for (chat_id, seq) in store::chats::delivered_by_events(conn, &uid, prev, up_to)? {
            let Some(before) = store::chats::member(conn, &chat_id, &uid)? else {
                continue;
            };
            if seq <= before.delivered_up_to_seq {
                continue;
            }
            // Receipt visibility does not depend on the watermark moving.
            // Someone no longer a contact hears nothing more of this side
            // (as with reads): the watermark moves, no receipt goes out.
            let tell = store::contacts::are_connected(conn, &uid, &before.peer_id)?;
            receipts.push((chat_id, seq, ChatCtx::load(conn, &before)?, tell));
        }
        store::events::ack(conn, &did, up_to)?;
        for (chat_id, seq, ctx, tell) in receipts {
            if let Some(after) = store::chats::advance_delivered(conn, &chat_id, &uid, seq)? {
                if tell {
                    emit_receipt(conn, &mut emitted, &ctx, &after, now)?;
                }
            }
        }
        Ok(emitted)
    })
    .await?;
    Ok(())
}
