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
    /// Only the device that made the link has this secret's source.
    pub poll_secret_hash: Option<Vec<u8>>,
    /// The session goes only to a poll with the poll secret.
    pub poll_secret_only: bool,
    pub collected: Option<Collected>,
}

/// A collected link: when, and the session it gave.
#[derive(Debug, Clone)]
pub struct Collected {
    pub at: i64,
    /// NULL for links collected before migration 0018.
    pub device_id: Option<String>,
    pub refresh_hash: Option<Vec<u8>>,
}

/// A link as the new device creates it.
pub struct NewLink<'a> {
    pub id: &'a str,
    pub secret_hash: &'a [u8],
    pub poll_secret_hash: &'a [u8],
    pub poll_secret_only: bool,
    pub device_name: &'a str,
    pub platform: Platform,
    pub now: i64,
    pub expires_at: i64,
}

pub fn insert_link(conn: &Connection, l: &NewLink<'_>) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO device_links (id, secret_hash, poll_secret_hash, poll_secret_only, \
         device_name, platform, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        l.id,
        l.secret_hash,
        l.poll_secret_hash,
        l.poll_secret_only,
        l.device_name,
        l.platform.as_str(),
        l.now,
        l.expires_at
    ])?;
    Ok(())
}

pub fn link_by_id(conn: &Connection, id: &str) -> Result<Option<LinkRow>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, secret_hash, device_name, platform, created_at, expires_at, approved_by, \
                    collected_at, poll_secret_hash, collected_device, collected_refresh, \
                    poll_secret_only \
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
                poll_secret_hash: r.get(8)?,
                poll_secret_only: r.get(11)?,
                collected: r
                    .get::<_, Option<i64>>(7)?
                    .map(|at| -> rusqlite::Result<_> {
                        Ok(Collected {
                            at,
                            device_id: r.get(9)?,
                            refresh_hash: r.get(10)?,
                        })
                    })
                    .transpose()?,
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

/// Link `id` collected now as `device_id`, whose first refresh token has
/// `refresh_hash`; a repeated collection keeps the first time and names the
/// new token.
pub fn collect_link(
    conn: &Connection,
    id: &str,
    device_id: &str,
    refresh_hash: &[u8],
    now: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE device_links SET collected_at = COALESCE(collected_at, ?2), \
         collected_device = ?3, collected_refresh = ?4 WHERE id = ?1",
    )?
    .execute(params![id, now, device_id, refresh_hash])?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct InviteRow {
    pub id: String,
    pub user_id: String,
    pub expires_at: i64,
    pub redeemed: Option<Redeemed>,
}

/// A redeemed invite: when, the session it gave, and the redeemer's key.
/// The last three are NULL for invites redeemed before migration 0019 (and
/// the key for a redeemer that sent none).
#[derive(Debug, Clone)]
pub struct Redeemed {
    pub at: i64,
    pub key_hash: Option<Vec<u8>>,
    pub device_id: Option<String>,
    pub refresh_hash: Option<Vec<u8>>,
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
            "SELECT id, user_id, expires_at, redeemed_at, redeem_key_hash, redeemed_device, \
                    redeemed_refresh \
             FROM device_invites WHERE code_hash = ?1",
        )?
        .query_row([code_hash], |r| {
            let redeemed = r
                .get::<_, Option<i64>>(3)?
                .map(|at| -> rusqlite::Result<_> {
                    Ok(Redeemed {
                        at,
                        key_hash: r.get(4)?,
                        device_id: r.get(5)?,
                        refresh_hash: r.get(6)?,
                    })
                })
                .transpose()?;
            Ok(InviteRow {
                id: r.get(0)?,
                user_id: r.get(1)?,
                expires_at: r.get(2)?,
                redeemed,
            })
        })
        .optional()?)
}

/// Invite `id` redeemed as `device_id`, whose refresh token has
/// `refresh_hash`, by a redeemer with `key_hash`; a repeated redeem keeps
/// the first time.
pub fn redeem_invite(
    conn: &Connection,
    id: &str,
    device_id: &str,
    refresh_hash: &[u8],
    key_hash: Option<&[u8]>,
    now: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE device_invites SET redeemed_at = COALESCE(redeemed_at, ?2), \
         redeemed_device = ?3, redeemed_refresh = ?4, redeem_key_hash = ?5 WHERE id = ?1",
    )?
    .execute(params![id, now, device_id, refresh_hash, key_hash])?;
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
