//! Chats, members and their watermarks.

use super::StoreError;
use rusqlite::{params, Connection, OptionalExtension};

#[derive(Debug, Clone)]
pub struct ChatRow {
    pub id: String,
    pub last_seq: u64,
    pub updated_at: i64,
}

/// One member's view of a chat.
#[derive(Debug, Clone)]
pub struct MemberRow {
    pub chat_id: String,
    pub user_id: String,
    pub peer_id: String,
    pub delivered_up_to_seq: u64,
    pub read_up_to_seq: u64,
    pub unread_count: u64,
    /// The member's mute: its end (ms), [`MUTED_UNTIL_UNMUTED`], or none.
    pub muted_until: Option<i64>,
    /// When the member pinned the chat (ms), or none.
    pub pinned_at: Option<i64>,
    /// The member cleared their history up to this seq (0: never).
    pub cleared_up_to_seq: u64,
}

/// `muted_until` of a mute without an end.
pub const MUTED_UNTIL_UNMUTED: i64 = i64::MAX;

fn ordered<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    if a < b {
        (a, b)
    } else {
        (b, a)
    }
}

pub fn chat_between(conn: &Connection, a: &str, b: &str) -> Result<Option<String>, StoreError> {
    let (x, y) = ordered(a, b);
    Ok(conn
        .prepare_cached("SELECT id FROM chats WHERE user_a = ?1 AND user_b = ?2")?
        .query_row(params![x, y], |r| r.get(0))
        .optional()?)
}

pub fn insert_chat(
    conn: &Connection,
    id: &str,
    a: &str,
    b: &str,
    now: i64,
) -> Result<(), StoreError> {
    let (x, y) = ordered(a, b);
    conn.prepare_cached(
        "INSERT INTO chats (id, user_a, user_b, last_seq, created_at, updated_at) VALUES (?1, ?2, ?3, 0, ?4, ?4)",
    )?
    .execute(params![id, x, y, now])?;
    let mut m = conn.prepare_cached(
        "INSERT INTO chat_members (chat_id, user_id, peer_id) VALUES (?1, ?2, ?3)",
    )?;
    m.execute(params![id, a, b])?;
    m.execute(params![id, b, a])?;
    Ok(())
}

pub fn chat(conn: &Connection, id: &str) -> Result<Option<ChatRow>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id, last_seq, updated_at FROM chats WHERE id = ?1")?
        .query_row([id], |r| {
            Ok(ChatRow {
                id: r.get(0)?,
                last_seq: r.get::<_, i64>(1)? as u64,
                updated_at: r.get(2)?,
            })
        })
        .optional()?)
}

fn member_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MemberRow> {
    member_at(r, 0)
}

/// A [`MemberRow`] from [`MEMBER_COLUMNS`] starting at column `at`.
fn member_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<MemberRow> {
    Ok(MemberRow {
        chat_id: r.get(at)?,
        user_id: r.get(at + 1)?,
        peer_id: r.get(at + 2)?,
        delivered_up_to_seq: r.get::<_, i64>(at + 3)? as u64,
        read_up_to_seq: r.get::<_, i64>(at + 4)? as u64,
        unread_count: r.get::<_, i64>(at + 5)? as u64,
        muted_until: r.get(at + 6)?,
        pinned_at: r.get(at + 7)?,
        cleared_up_to_seq: r.get::<_, i64>(at + 8)? as u64,
    })
}

/// `user_id`'s memberships and their peers', in each chat with a contact
/// who shows read receipts where either side has read something: what
/// turning one's own read receipts on makes visible. One query, however
/// many chats.
pub fn read_receipt_pairs(
    conn: &Connection,
    user_id: &str,
) -> Result<Vec<(MemberRow, MemberRow)>, StoreError> {
    let cols = |t: &str| {
        MEMBER_COLUMNS
            .split(", ")
            .map(|c| format!("{t}.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {}, {} FROM chat_members me \
         JOIN chat_members p ON p.chat_id = me.chat_id AND p.user_id = me.peer_id \
         JOIN connections c ON c.user_id = me.user_id AND c.peer_id = me.peer_id \
         JOIN users u ON u.id = me.peer_id AND u.read_receipts \
         WHERE me.user_id = ?1 AND (me.read_up_to_seq > 0 OR p.read_up_to_seq > 0)",
        cols("me"),
        cols("p")
    ))?;
    let rows = stmt.query_map([user_id], |r| Ok((member_at(r, 0)?, member_at(r, 9)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

const MEMBER_COLUMNS: &str = "chat_id, user_id, peer_id, delivered_up_to_seq, read_up_to_seq, \
     unread_count, muted_until, pinned_at, cleared_up_to_seq";

/// `user_id`'s membership of `chat_id`, if any.
pub fn member(
    conn: &Connection,
    chat_id: &str,
    user_id: &str,
) -> Result<Option<MemberRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {MEMBER_COLUMNS} FROM chat_members WHERE chat_id = ?1 AND user_id = ?2"
        ))?
        .query_row(params![chat_id, user_id], member_from_row)
        .optional()?)
}

/// Advances the chat's seq for a new message; returns the new seq.
pub fn next_seq(conn: &Connection, chat_id: &str, now: i64) -> Result<u64, StoreError> {
    // Read, then write, rather than `UPDATE … RETURNING` (see
    // `events::append`).
    let seq = chat(conn, chat_id)?
        .ok_or(StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows))?
        .last_seq
        + 1;
    conn.prepare_cached("UPDATE chats SET last_seq = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![chat_id, seq as i64, now])?;
    Ok(seq)
}

pub fn touch_chat(conn: &Connection, chat_id: &str, now: i64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE chats SET updated_at = MAX(updated_at, ?2) WHERE id = ?1")?
        .execute(params![chat_id, now])?;
    Ok(())
}

/// Sets `user_id`'s mute of `chat_id` (see [`MemberRow::muted_until`]).
pub fn set_mute(
    conn: &Connection,
    chat_id: &str,
    user_id: &str,
    muted_until: Option<i64>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE chat_members SET muted_until = ?3 WHERE chat_id = ?1 AND user_id = ?2",
    )?
    .execute(params![chat_id, user_id, muted_until])?;
    Ok(())
}

/// Pins (`Some(when)`) or unpins `chat_id` for `user_id`.
pub fn set_pinned(
    conn: &Connection,
    chat_id: &str,
    user_id: &str,
    pinned_at: Option<i64>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE chat_members SET pinned_at = ?3 WHERE chat_id = ?1 AND user_id = ?2",
    )?
    .execute(params![chat_id, user_id, pinned_at])?;
    Ok(())
}

/// Clears `user_id`'s history of `chat_id` up to `up_to` (above what it
/// was, the caller makes sure): the unread messages in that range no
/// longer count. Unread counts are kept incrementally, so only the range
/// newly cleared is counted (as in [`advance_read`]).
pub fn set_cleared(
    conn: &Connection,
    chat_id: &str,
    user_id: &str,
    up_to: u64,
) -> Result<(), StoreError> {
    conn.prepare_cached(&format!(
        "UPDATE chat_members SET unread_count = {UNREAD_UP_TO_3}, cleared_up_to_seq = ?3 \
         WHERE chat_id = ?1 AND user_id = ?2"
    ))?
    .execute(params![chat_id, user_id, up_to as i64])?;
    Ok(())
}

/// How many chats `user_id` has pinned.
pub fn pinned_count(conn: &Connection, user_id: &str) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT COUNT(*) FROM chat_members WHERE user_id = ?1 AND pinned_at IS NOT NULL",
        )?
        .query_row([user_id], |r| r.get::<_, i64>(0))? as u64)
}

pub fn bump_unread(conn: &Connection, chat_id: &str, user_id: &str) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE chat_members SET unread_count = unread_count + 1 WHERE chat_id = ?1 AND user_id = ?2")?
        .execute(params![chat_id, user_id])?;
    Ok(())
}

/// Moves `user_id`'s delivered watermark forward (never back). Unread counts
/// do not depend on it, so nothing is recounted. Returns the updated row.
pub fn advance_delivered(
    conn: &Connection,
    chat_id: &str,
    user_id: &str,
    delivered: u64,
) -> Result<Option<MemberRow>, StoreError> {
    conn.prepare_cached(
        "UPDATE chat_members SET delivered_up_to_seq = MAX(delivered_up_to_seq, ?3) \
         WHERE chat_id = ?1 AND user_id = ?2",
    )?
    .execute(params![chat_id, user_id, delivered as i64])?;
    // Not `RETURNING`: see `events::append`.
    member(conn, chat_id, user_id)
}

/// A member's unread count once the messages up to `?3` no longer count
/// (read, or cleared): only the range not yet read or cleared is counted,
/// from the other member and not deleted. Right-hand sides of an UPDATE see
/// the row as it was, so the range is exactly the newly covered one.
const UNREAD_UP_TO_3: &str = "MAX(0, unread_count - (\
    SELECT COUNT(*) FROM messages m WHERE m.chat_id = chat_members.chat_id \
    AND m.seq > MAX(chat_members.read_up_to_seq, chat_members.cleared_up_to_seq) \
    AND m.seq <= ?3 \
    AND m.sender_id != chat_members.user_id AND m.deleted_at IS NULL))";

/// Moves `user_id`'s read watermark (and with it delivered) forward to `read`
/// and takes the messages it passes off the unread count. Only the newly read
/// range is counted: a full recount would scan every unread message of the
/// chat on every read. Returns the updated row.
pub fn advance_read(
    conn: &Connection,
    chat_id: &str,
    user_id: &str,
    read: u64,
) -> Result<Option<MemberRow>, StoreError> {
    conn.prepare_cached(&format!(
        "UPDATE chat_members SET unread_count = {UNREAD_UP_TO_3}, \
            read_up_to_seq = MAX(read_up_to_seq, ?3), \
            delivered_up_to_seq = MAX(delivered_up_to_seq, ?3) \
         WHERE chat_id = ?1 AND user_id = ?2"
    ))?
    .execute(params![chat_id, user_id, read as i64])?;
    member(conn, chat_id, user_id)
}

/// A message at `seq` that `user_id` had not read was deleted: it no longer
/// counts as unread. The caller makes sure it was not deleted before.
pub fn uncount_unread(
    conn: &Connection,
    chat_id: &str,
    user_id: &str,
    seq: u64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE chat_members SET unread_count = unread_count - 1 \
         WHERE chat_id = ?1 AND user_id = ?2 AND read_up_to_seq < ?3 AND cleared_up_to_seq < ?3 \
         AND unread_count > 0",
    )?
    .execute(params![chat_id, user_id, seq as i64])?;
    Ok(())
}

/// A user's chats by last activity (then id, descending), at most `limit`,
/// after the cursor `before`: a chat's `updated_at` (ms) and id, "" for none
/// (every chat of that millisecond is then past it).
pub fn chats_of(
    conn: &Connection,
    user_id: &str,
    before: Option<&(i64, String)>,
    limit: u32,
) -> Result<Vec<(MemberRow, ChatRow)>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {cols}, c.id, c.last_seq, c.updated_at FROM chat_members cm JOIN chats c ON c.id = cm.chat_id \
         WHERE cm.user_id = ?1 AND (c.updated_at < ?2 OR (c.updated_at = ?2 AND c.id < ?4)) \
         ORDER BY c.updated_at DESC, c.id DESC LIMIT ?3",
        cols = MEMBER_COLUMNS
            .split(", ")
            .map(|c| format!("cm.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))?;
    let (at, id) = before.map_or((i64::MAX, ""), |(t, id)| (*t, id.as_str()));
    let rows = stmt.query_map(params![user_id, at, limit, id], |r| {
        Ok((
            member_from_row(r)?,
            ChatRow {
                id: r.get(9)?,
                last_seq: r.get::<_, i64>(10)? as u64,
                updated_at: r.get(11)?,
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// For delivered receipts: the highest seq of messages from others per chat,
/// among `user_id`'s `message.created` events in the seq range (from, to].
pub fn delivered_by_events(
    conn: &Connection,
    user_id: &str,
    from: u64,
    to: u64,
) -> Result<Vec<(String, u64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT chat_id, MAX(chat_seq) FROM events \
         WHERE user_id = ?1 AND seq > ?2 AND seq <= ?3 AND chat_id IS NOT NULL \
         GROUP BY chat_id",
    )?;
    let rows = stmt.query_map(params![user_id, from as i64, to as i64], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The device's acknowledged cursor.
pub fn device_acked(conn: &Connection, device_id: &str) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT acked_seq FROM devices WHERE id = ?1")?
        .query_row([device_id], |r| r.get::<_, i64>(0))
        .optional()?
        .unwrap_or(0) as u64)
}
