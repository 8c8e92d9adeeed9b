//! Attachment metadata. The bytes live in files named by their sha256.

use super::StoreError;
use parley_protocol::Attachment;
use rusqlite::{params, Connection, OptionalExtension, Row};

pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<Attachment> {
    Ok(Attachment {
        id: r.get(0)?,
        mime: r.get(1)?,
        size: r.get::<_, i64>(2)? as u64,
        sha256: r.get(3)?,
        name: r.get(4)?,
        width: r.get(5)?,
        height: r.get(6)?,
    })
}

pub fn insert(
    conn: &Connection,
    a: &Attachment,
    uploader: &str,
    now: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO attachments (id, uploader_id, sha256, mime, size, name, width, height, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![a.id, uploader, a.sha256, a.mime, a.size as i64, a.name, a.width, a.height, now])?;
    Ok(())
}

/// The attachment and its uploader.
pub fn by_id(conn: &Connection, id: &str) -> Result<Option<(Attachment, String)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, mime, size, sha256, name, width, height, uploader_id FROM attachments WHERE id = ?1",
        )?
        .query_row([id], |r| Ok((from_row(r)?, r.get(7)?)))
        .optional()?)
}

/// Whether `user_id` is a member of a chat with a live message referencing
/// it, not one they cleared from their history.
pub fn visible_via_chat(conn: &Connection, id: &str, user_id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM message_attachments ma JOIN messages m ON m.id = ma.message_id \
             JOIN chat_members cm ON cm.chat_id = m.chat_id \
             WHERE ma.attachment_id = ?1 AND cm.user_id = ?2 AND m.deleted_at IS NULL \
             AND m.seq > cm.cleared_up_to_seq LIMIT 1",
        )?
        .query_row(params![id, user_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Deletes the attachments nobody can reach any more: in no message (never
/// sent, or their message was deleted) and uploaded before `before` (ms).
/// Returns how many, and the sha256 of the bytes no attachment refers to now.
pub fn delete_unreferenced(
    conn: &Connection,
    before: i64,
) -> Result<(usize, Vec<String>), StoreError> {
    let mut shas: Vec<String> = conn
        .prepare_cached(
            "DELETE FROM attachments WHERE created_at < ?1 AND NOT EXISTS \
             (SELECT 1 FROM message_attachments ma WHERE ma.attachment_id = attachments.id) \
             RETURNING sha256",
        )?
        .query_map([before], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let deleted = shas.len();
    shas.sort();
    shas.dedup();
    let mut gone = Vec::with_capacity(shas.len());
    for sha in shas {
        if !sha_in_use(conn, &sha)? {
            gone.push(sha);
        }
    }
    Ok((deleted, gone))
}

/// Bytes `user_id` uploaded since `since` (ms) that are in no message yet.
pub fn unsent_bytes(conn: &Connection, user_id: &str, since: i64) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT COALESCE(SUM(size), 0) FROM attachments a \
             WHERE uploader_id = ?1 AND created_at >= ?2 AND NOT EXISTS \
             (SELECT 1 FROM message_attachments ma WHERE ma.attachment_id = a.id)",
        )?
        .query_row(params![user_id, since], |r| r.get::<_, i64>(0))? as u64)
}

/// Whether any attachment refers to the bytes `sha256`.
pub fn sha_in_use(conn: &Connection, sha256: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM attachments WHERE sha256 = ?1 LIMIT 1")?
        .query_row([sha256], |_| Ok(()))
        .optional()?
        .is_some())
}
