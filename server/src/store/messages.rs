//! Messages, their attachments and reactions, and full-text search.

use super::{ms_to_ts, StoreError};
use parley_protocol::{Attachment, Message, MessageStatus, UserId};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct MessageRow {
    pub id: String,
    pub chat_id: String,
    pub seq: u64,
    pub sender_id: String,
    pub client_id: String,
    pub body: String,
    pub reply_to: Option<String>,
    pub created_at: i64,
    pub edited_at: Option<i64>,
    pub deleted: bool,
    pub forwarded: bool,
}

const COLUMNS: &str = "id, chat_id, seq, sender_id, client_id, body, reply_to, created_at, \
     edited_at, deleted_at, forwarded";

fn from_row(r: &Row<'_>) -> rusqlite::Result<MessageRow> {
    Ok(MessageRow {
        id: r.get(0)?,
        chat_id: r.get(1)?,
        seq: r.get::<_, i64>(2)? as u64,
        sender_id: r.get(3)?,
        client_id: r.get(4)?,
        body: r.get(5)?,
        reply_to: r.get(6)?,
        created_at: r.get(7)?,
        edited_at: r.get(8)?,
        deleted: r.get::<_, Option<i64>>(9)?.is_some(),
        forwarded: r.get(10)?,
    })
}

pub struct NewMessage<'a> {
    pub id: &'a str,
    pub chat_id: &'a str,
    pub seq: u64,
    pub sender_id: &'a str,
    pub client_id: &'a str,
    pub body: &'a str,
    pub reply_to: Option<&'a str>,
    pub attachment_ids: &'a [String],
    pub forwarded: bool,
    pub now: i64,
}

pub fn insert(conn: &Connection, m: &NewMessage<'_>) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO messages (id, chat_id, seq, sender_id, client_id, body, reply_to, created_at, forwarded) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![m.id, m.chat_id, m.seq as i64, m.sender_id, m.client_id, m.body, m.reply_to, m.now, m.forwarded])?;
    if m.attachment_ids.is_empty() {
        return Ok(());
    }
    let mut link = conn.prepare_cached(
        "INSERT INTO message_attachments (message_id, attachment_id, position) VALUES (?1, ?2, ?3)",
    )?;
    for (i, a) in m.attachment_ids.iter().enumerate() {
        link.execute(params![m.id, a, i as i64])?;
    }
    Ok(())
}

pub fn by_id(conn: &Connection, id: &str) -> Result<Option<MessageRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM messages WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

pub fn by_client_id(
    conn: &Connection,
    sender_id: &str,
    client_id: &str,
) -> Result<Option<MessageRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages WHERE sender_id = ?1 AND client_id = ?2"
        ))?
        .query_row(params![sender_id, client_id], from_row)
        .optional()?)
}

/// A page of history in `seq` order, never at or below `floor` (what the
/// reader cleared). `after` wins over `before`; with neither, the latest
/// `limit` messages.
pub fn page(
    conn: &Connection,
    chat_id: &str,
    floor: u64,
    before: Option<u64>,
    after: Option<u64>,
    limit: u32,
) -> Result<Vec<MessageRow>, StoreError> {
    if let Some(after) = after {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages WHERE chat_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
        ))?;
        let after = super::sql_seq(after.max(floor));
        let rows = stmt.query_map(params![chat_id, after, limit], from_row)?;
        return Ok(rows.collect::<Result<_, _>>()?);
    }
    let before = before.map_or(i64::MAX, super::sql_seq);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM messages WHERE chat_id = ?1 AND seq < ?2 AND seq > ?4 \
         ORDER BY seq DESC LIMIT ?3"
    ))?;
    let rows = stmt.query_map(
        params![chat_id, before, limit, super::sql_seq(floor)],
        from_row,
    )?;
    let mut out: Vec<MessageRow> = rows.collect::<Result<_, _>>()?;
    out.reverse();
    Ok(out)
}

/// The chat's newest message above `floor` (what the reader cleared).
pub fn last_in_chat(
    conn: &Connection,
    chat_id: &str,
    floor: u64,
) -> Result<Option<MessageRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages WHERE chat_id = ?1 AND seq > ?2 \
             ORDER BY seq DESC LIMIT 1"
        ))?
        .query_row(params![chat_id, super::sql_seq(floor)], from_row)
        .optional()?)
}

pub fn edit(conn: &Connection, id: &str, body: &str, now: i64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE messages SET body = ?2, edited_at = ?3 WHERE id = ?1")?
        .execute(params![id, body, now])?;
    Ok(())
}

/// Leaves a tombstone: no body, attachments or reactions.
pub fn tombstone(conn: &Connection, id: &str, now: i64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE messages SET body = '', deleted_at = ?2 WHERE id = ?1")?
        .execute(params![id, now])?;
    conn.prepare_cached("DELETE FROM message_attachments WHERE message_id = ?1")?
        .execute([id])?;
    conn.prepare_cached("DELETE FROM reactions WHERE message_id = ?1")?
        .execute([id])?;
    Ok(())
}

pub fn add_reaction(
    conn: &Connection,
    message_id: &str,
    user_id: &str,
    emoji: &str,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "INSERT OR IGNORE INTO reactions (message_id, user_id, emoji, created_at) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![message_id, user_id, emoji, now])?
        > 0)
}

/// How many reactions other than `emoji` `user_id` left on a message.
pub fn other_reactions_of(
    conn: &Connection,
    message_id: &str,
    user_id: &str,
    emoji: &str,
) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT COUNT(*) FROM reactions WHERE message_id = ?1 AND user_id = ?2 AND emoji != ?3",
        )?
        .query_row(params![message_id, user_id, emoji], |r| r.get::<_, i64>(0))? as u64)
}

pub fn remove_reaction(
    conn: &Connection,
    message_id: &str,
    user_id: &str,
    emoji: &str,
) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM reactions WHERE message_id = ?1 AND user_id = ?2 AND emoji = ?3",
        )?
        .execute(params![message_id, user_id, emoji])?
        > 0)
}

pub fn reactions(
    conn: &Connection,
    message_id: &str,
) -> Result<BTreeMap<String, Vec<UserId>>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT emoji, user_id FROM reactions WHERE message_id = ?1 ORDER BY emoji, created_at, user_id",
    )?;
    let mut out: BTreeMap<String, Vec<UserId>> = BTreeMap::new();
    let rows = stmt.query_map([message_id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (emoji, user) = row?;
        out.entry(emoji).or_default().push(UserId(user));
    }
    Ok(out)
}

pub fn attachments_of(conn: &Connection, message_id: &str) -> Result<Vec<Attachment>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.id, a.mime, a.size, a.sha256, a.name, a.width, a.height FROM message_attachments ma \
         JOIN attachments a ON a.id = ma.attachment_id WHERE ma.message_id = ?1 ORDER BY ma.position",
    )?;
    let rows = stmt.query_map([message_id], super::attachments::from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What decides a message's status: the recipient's watermarks and whether
/// read receipts are visible between the two (both must have them on).
#[derive(Debug, Clone, Copy)]
pub struct StatusCtx {
    pub delivered: u64,
    pub read: u64,
    pub receipts_visible: bool,
}

/// The wire form of a stored message. `ctx_for` gives the status context for
/// the message's recipient.
pub fn to_wire(conn: &Connection, row: &MessageRow, ctx: StatusCtx) -> Result<Message, StoreError> {
    let status = if ctx.receipts_visible && row.seq <= ctx.read {
        MessageStatus::Read
    } else if row.seq
        <= ctx
            .delivered
            .max(if ctx.receipts_visible { ctx.read } else { 0 })
    {
        MessageStatus::Delivered
    } else {
        MessageStatus::Sent
    };
    let (attachments, reactions) = if row.deleted {
        (Vec::new(), BTreeMap::new())
    } else {
        (attachments_of(conn, &row.id)?, reactions(conn, &row.id)?)
    };
    Ok(Message {
        id: row.id.clone(),
        chat_id: row.chat_id.clone(),
        seq: row.seq,
        sender_id: UserId(row.sender_id.clone()),
        client_id: row.client_id.clone(),
        body: row.body.clone(),
        reply_to: row.reply_to.clone(),
        attachments,
        reactions,
        created_at: ms_to_ts(row.created_at),
        edited_at: row.edited_at.map(ms_to_ts),
        deleted: row.deleted,
        status,
        forwarded: row.forwarded,
    })
}

/// The search query: the index walked newest first (message rowids grow
/// with time), each match joined to its message and the caller's
/// membership, stopping at `LIMIT`. Ordered by the index's rowid, not
/// `created_at`: that let SQLite stream matches instead of collecting and
/// sorting every one on the server (a common word on a big server) before
/// keeping a page.
fn search_sql() -> String {
    format!(
        "SELECT {cols} FROM messages_fts f JOIN messages m ON m.rowid = f.rowid \
         JOIN chat_members cm ON cm.chat_id = m.chat_id AND cm.user_id = ?1 \
         WHERE messages_fts MATCH ?2 AND m.deleted_at IS NULL AND m.seq > cm.cleared_up_to_seq \
         AND (?4 IS NULL OR m.chat_id = ?4) AND (?5 IS NULL OR f.rowid < ?5) \
         ORDER BY f.rowid DESC LIMIT ?3",
        cols = COLUMNS
            .split(", ")
            .map(|c| format!("m.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Where a search looks: one chat or all the user's, and only before a
/// message (the last of the previous page; its rowid).
#[derive(Debug, Clone, Default)]
pub struct SearchScope {
    pub chat_id: Option<String>,
    pub before_rowid: Option<i64>,
}

/// Full-text search over the user's chats, newest first. `query` must already
/// be a safe FTS5 expression (see `service::messages::fts_query`).
pub fn search(
    conn: &Connection,
    user_id: &str,
    query: &str,
    scope: &SearchScope,
    limit: u32,
) -> Result<Vec<MessageRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&search_sql())?;
    let rows = stmt.query_map(
        params![user_id, query, limit, scope.chat_id, scope.before_rowid],
        from_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A message's place in the search index (its rowid), if it exists.
pub fn rowid_of(conn: &Connection, id: &str) -> Result<Option<(i64, String)>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT rowid, chat_id FROM messages WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Indexes messages written since the last call (once per write batch, by the
/// writer, outside the jobs' savepoints; see migration 0005).
pub fn index_pending(conn: &Connection) -> Result<usize, StoreError> {
    let last: i64 = conn
        .prepare_cached("SELECT last_rowid FROM fts_cursor WHERE id = 1")?
        .query_row([], |r| r.get(0))?;
    let n = conn
        .prepare_cached("INSERT INTO messages_fts (rowid, body) SELECT rowid, body FROM messages WHERE rowid > ?1")?
        .execute([last])?;
    if n > 0 {
        conn.prepare_cached(
            "UPDATE fts_cursor SET last_rowid = (SELECT MAX(rowid) FROM messages) WHERE id = 1",
        )?
        .execute([])?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use rusqlite::{params, Connection};

    /// The plan SQLite picks for a search: the full-text index first and
    /// newest first, with no temporary B-tree (a sort of every match).
    #[test]
    fn search_streams_matches_newest_first_without_sorting_them_all() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("parley.db")).unwrap();
        super::super::migrations::apply(&mut conn, "test").unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", super::search_sql()))
            .unwrap()
            .query_map(
                params![
                    "u1",
                    "\"word\"*",
                    100,
                    Option::<String>::None,
                    Option::<i64>::None
                ],
                |r| r.get::<_, String>(3),
            )
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(plan[0].contains("VIRTUAL TABLE"), "{plan:?}");
        assert!(
            !plan.iter().any(|step| step.contains("TEMP B-TREE")),
            "{plan:?}"
        );
    }
}
