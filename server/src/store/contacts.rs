//! Contact codes, connection requests and connections.

use super::StoreError;
use rusqlite::{params, Connection, OptionalExtension, Row};

/// A contact code row.
#[derive(Debug, Clone)]
pub struct CodeRow {
    pub id: String,
    pub user_id: String,
    pub expires_at: i64,
    pub revoked: bool,
    pub consumed_by: Option<String>,
}

fn code_from_row(r: &Row<'_>) -> rusqlite::Result<CodeRow> {
    Ok(CodeRow {
        id: r.get(0)?,
        user_id: r.get(1)?,
        expires_at: r.get(2)?,
        revoked: r.get::<_, Option<i64>>(3)?.is_some(),
        consumed_by: r.get(4)?,
    })
}

const CODE_COLUMNS: &str = "id, user_id, expires_at, revoked_at, consumed_by";

/// Revokes the user's live codes and stores a new one.
pub fn replace_code(
    conn: &Connection,
    id: &str,
    user_id: &str,
    code_hash: &[u8],
    short_hash: &[u8],
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE contact_codes SET revoked_at = ?2 \
         WHERE user_id = ?1 AND revoked_at IS NULL AND consumed_at IS NULL",
    )?
    .execute(params![user_id, now])?;
    conn.prepare_cached(
        "INSERT INTO contact_codes (id, user_id, code_hash, short_hash, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![id, user_id, code_hash, short_hash, now, expires_at])?;
    Ok(())
}

pub fn code_by_hash(conn: &Connection, code_hash: &[u8]) -> Result<Option<CodeRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {CODE_COLUMNS} FROM contact_codes WHERE code_hash = ?1"
        ))?
        .query_row([code_hash], code_from_row)
        .optional()?)
}

/// A short code matches only live codes (not revoked or expired, and not
/// consumed, except by `scanner` itself: its retry of a request that went
/// through is answered like one with the full code).
pub fn live_code_by_short(
    conn: &Connection,
    short_hash: &[u8],
    scanner: &str,
    now: i64,
) -> Result<Option<CodeRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {CODE_COLUMNS} FROM contact_codes WHERE short_hash = ?1 \
             AND revoked_at IS NULL AND (consumed_at IS NULL OR consumed_by = ?3) \
             AND expires_at > ?2"
        ))?
        .query_row(params![short_hash, now, scanner], code_from_row)
        .optional()?)
}

pub fn consume_code(conn: &Connection, id: &str, by: &str, now: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE contact_codes SET consumed_at = ?2, consumed_by = ?3 WHERE id = ?1",
    )?
    .execute(params![id, now, by])?;
    Ok(())
}

/// A connection request row.
#[derive(Debug, Clone)]
pub struct RequestRow {
    pub id: String,
    pub from_user: String,
    pub to_user: String,
    pub status: String,
    pub created_at: i64,
    pub expires_at: i64,
}

fn request_from_row(r: &Row<'_>) -> rusqlite::Result<RequestRow> {
    Ok(RequestRow {
        id: r.get(0)?,
        from_user: r.get(1)?,
        to_user: r.get(2)?,
        status: r.get(3)?,
        created_at: r.get(4)?,
        expires_at: r.get(5)?,
    })
}

const REQUEST_COLUMNS: &str = "id, from_user, to_user, status, created_at, expires_at";

pub fn insert_request(
    conn: &Connection,
    id: &str,
    from: &str,
    to: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO connection_requests (id, from_user, to_user, status, created_at, expires_at) \
         VALUES (?1, ?2, ?3, 'pending', ?4, ?5)",
    )?
    .execute(params![id, from, to, now, expires_at])?;
    Ok(())
}

pub fn request_by_id(conn: &Connection, id: &str) -> Result<Option<RequestRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {REQUEST_COLUMNS} FROM connection_requests WHERE id = ?1"
        ))?
        .query_row([id], request_from_row)
        .optional()?)
}

/// A live pending request between two users, in either direction.
pub fn pending_between(
    conn: &Connection,
    a: &str,
    b: &str,
    now: i64,
) -> Result<Option<RequestRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {REQUEST_COLUMNS} FROM connection_requests WHERE status = 'pending' AND expires_at > ?3 \
             AND ((from_user = ?1 AND to_user = ?2) OR (from_user = ?2 AND to_user = ?1)) \
             ORDER BY created_at LIMIT 1"
        ))?
        .query_row(params![a, b, now], request_from_row)
        .optional()?)
}

/// Live pending requests to (`incoming`) or from the user, newest first.
pub fn pending_for(
    conn: &Connection,
    user_id: &str,
    incoming: bool,
    now: i64,
) -> Result<Vec<RequestRow>, StoreError> {
    let column = if incoming { "to_user" } else { "from_user" };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {REQUEST_COLUMNS} FROM connection_requests \
         WHERE {column} = ?1 AND status = 'pending' AND expires_at > ?2 ORDER BY created_at DESC"
    ))?;
    let rows = stmt.query_map(params![user_id, now], request_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn resolve_request(
    conn: &Connection,
    id: &str,
    status: &str,
    now: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE connection_requests SET status = ?2, resolved_at = ?3 WHERE id = ?1",
    )?
    .execute(params![id, status, now])?;
    Ok(())
}

/// Marks expired pending requests and deletes resolved ones older than
/// `forget_before`.
pub fn expire_requests(
    conn: &Connection,
    now: i64,
    forget_before: i64,
) -> Result<usize, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE connection_requests SET status = 'expired', resolved_at = ?1 \
             WHERE status = 'pending' AND expires_at <= ?1",
        )?
        .execute([now])?;
    conn.prepare_cached(
        "DELETE FROM connection_requests WHERE status != 'pending' AND resolved_at < ?1",
    )?
    .execute([forget_before])?;
    Ok(n)
}

/// Deletes contact codes that expired before `cutoff`.
pub fn delete_expired_codes(conn: &Connection, cutoff: i64) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM contact_codes WHERE expires_at < ?1")?
        .execute([cutoff])?)
}

pub fn are_connected(conn: &Connection, a: &str, b: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM connections WHERE user_id = ?1 AND peer_id = ?2")?
        .query_row(params![a, b], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Connects two users (both directions).
pub fn connect(conn: &Connection, a: &str, b: &str, now: i64) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO connections (user_id, peer_id, created_at) VALUES (?1, ?2, ?3)",
    )?;
    stmt.execute(params![a, b, now])?;
    stmt.execute(params![b, a, now])?;
    Ok(())
}

/// Removes a connection (both directions); false if there was none.
pub fn disconnect(conn: &Connection, a: &str, b: &str) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "DELETE FROM connections WHERE (user_id = ?1 AND peer_id = ?2) OR (user_id = ?2 AND peer_id = ?1)",
        )?
        .execute(params![a, b])?;
    Ok(n > 0)
}

/// The user's connections: (peer id, connected at), oldest first.
pub fn connections_of(conn: &Connection, user_id: &str) -> Result<Vec<(String, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT peer_id, created_at FROM connections WHERE user_id = ?1 ORDER BY created_at, peer_id",
    )?;
    let rows = stmt.query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// When the connection between two users was made.
pub fn connected_at(conn: &Connection, a: &str, b: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT created_at FROM connections WHERE user_id = ?1 AND peer_id = ?2")?
        .query_row(params![a, b], |r| r.get(0))
        .optional()?)
}

/// The most recent `last_seen_at` over a user's devices.
pub fn last_seen(conn: &Connection, user_id: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT MAX(last_seen_at) FROM devices WHERE user_id = ?1")?
        .query_row([user_id], |r| r.get(0))?)
}
