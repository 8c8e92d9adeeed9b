//! Device links (new device shows a QR) and device invites (old device shows one).

use super::StoreError;
use parley_protocol::Platform;
use rusqlite::{params, Connection, OptionalExtension};

#[derive(Debug, Clone)]
pub struct LinkRow {
    pub id: String,
    pub secret_hash: Vec<u8>,
    pub device_name: String,
    pub platform: Platform,
    pub created_at: i64,
    pub expires_at: i64,
    pub approved_by: Option<String>,
    pub collected: bool,
}

pub fn insert_link(
    conn: &Connection,
    id: &str,
    secret_hash: &[u8],
    device_name: &str,
    platform: Platform,
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO device_links (id, secret_hash, device_name, platform, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![id, secret_hash, device_name, platform.as_str(), now, expires_at])?;
    Ok(())
}

pub fn link_by_id(conn: &Connection, id: &str) -> Result<Option<LinkRow>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, secret_hash, device_name, platform, created_at, expires_at, approved_by, collected_at \
             FROM device_links WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(LinkRow {
                id: r.get(0)?,
                secret_hash: r.get(1)?,
                device_name: r.get(2)?,
                platform: Platform::from_str_lossy(&r.get::<_, String>(3)?),
                created_at: r.get(4)?,
                expires_at: r.get(5)?,
                approved_by: r.get(6)?,
                collected: r.get::<_, Option<i64>>(7)?.is_some(),
            })
        })
        .optional()?)
}

/// Link `id` approved by `user_id` on their device `device_id`.
pub fn approve_link(
    conn: &Connection,
    id: &str,
    user_id: &str,
    device_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE device_links SET approved_by = ?2, approved_device = ?3, approved_at = ?4 \
         WHERE id = ?1",
    )?
    .execute(params![id, user_id, device_id, now])?;
    Ok(())
}

pub fn collect_link(conn: &Connection, id: &str, now: i64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE device_links SET collected_at = ?2 WHERE id = ?1")?
        .execute(params![id, now])?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct InviteRow {
    pub id: String,
    pub user_id: String,
    pub expires_at: i64,
    pub redeemed: bool,
}

/// Cancels what `device_id` let in that has not come in yet: the invites it
/// made that nobody redeemed, and the links it approved that nobody
/// collected. Called when it is revoked: a device signed out for being
/// stolen must not leave another one behind.
pub fn cancel_made_by(conn: &Connection, device_id: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM device_invites WHERE device_id = ?1 AND redeemed_at IS NULL")?
        .execute([device_id])?;
    conn.prepare_cached(
        "DELETE FROM device_links WHERE approved_device = ?1 AND collected_at IS NULL",
    )?
    .execute([device_id])?;
    Ok(())
}

/// An invite of `user_id`, made on `device_id`.
pub struct NewInvite<'a> {
    pub id: &'a str,
    pub code_hash: &'a [u8],
    pub user_id: &'a str,
    pub device_id: &'a str,
    pub created_at: i64,
    pub expires_at: i64,
}

pub fn insert_invite(conn: &Connection, i: &NewInvite<'_>) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO device_invites (id, code_hash, user_id, device_id, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        i.id,
        i.code_hash,
        i.user_id,
        i.device_id,
        i.created_at,
        i.expires_at
    ])?;
    Ok(())
}

pub fn invite_by_hash(
    conn: &Connection,
    code_hash: &[u8],
) -> Result<Option<InviteRow>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, user_id, expires_at, redeemed_at FROM device_invites WHERE code_hash = ?1",
        )?
        .query_row([code_hash], |r| {
            Ok(InviteRow {
                id: r.get(0)?,
                user_id: r.get(1)?,
                expires_at: r.get(2)?,
                redeemed: r.get::<_, Option<i64>>(3)?.is_some(),
            })
        })
        .optional()?)
}

pub fn redeem_invite(conn: &Connection, id: &str, now: i64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE device_invites SET redeemed_at = ?2 WHERE id = ?1")?
        .execute(params![id, now])?;
    Ok(())
}

/// Deletes links and invites that expired before `cutoff`.
pub fn delete_expired(conn: &Connection, cutoff: i64) -> Result<usize, StoreError> {
    let a = conn
        .prepare_cached("DELETE FROM device_links WHERE expires_at < ?1")?
        .execute([cutoff])?;
    let b = conn
        .prepare_cached("DELETE FROM device_invites WHERE expires_at < ?1")?
        .execute([cutoff])?;
    Ok(a + b)
}

/// Device info for a `device.added` event.
pub fn device(
    conn: &Connection,
    device_id: &str,
) -> Result<Option<parley_protocol::Device>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, name, platform, created_at, last_seen_at FROM devices WHERE id = ?1",
        )?
        .query_row([device_id], |r| {
            Ok(parley_protocol::Device {
                id: parley_protocol::DeviceId(r.get(0)?),
                name: r.get(1)?,
                platform: Platform::from_str_lossy(&r.get::<_, String>(2)?),
                created_at: super::ms_to_ts(r.get(3)?),
                last_seen_at: super::ms_to_ts(r.get(4)?),
                current: false,
            })
        })
        .optional()?)
}
