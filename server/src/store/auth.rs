//! Sign-in codes, devices and refresh tokens.

use super::{ms_to_ts, StoreError};
use parley_protocol::{Device, DeviceId, Platform};
use rusqlite::{params, Connection, OptionalExtension};

/// A live sign-in code.
#[derive(Debug, Clone)]
pub struct OtpRow {
    pub code_hash: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
    pub attempts: u32,
    /// Codes burnt in a row before this one (and this one, once burnt).
    pub burnt: u32,
}

pub fn otp_get(conn: &Connection, identifier: &str) -> Result<Option<OtpRow>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT code_hash, created_at, expires_at, attempts, burnt FROM otp_codes \
             WHERE identifier = ?1",
        )?
        .query_row([identifier], |r| {
            Ok(OtpRow {
                code_hash: r.get(0)?,
                created_at: r.get(1)?,
                expires_at: r.get(2)?,
                attempts: r.get(3)?,
                burnt: r.get(4)?,
            })
        })
        .optional()?)
}

/// Stores a new code for `identifier`, replacing any previous one.
pub fn otp_put(
    conn: &Connection,
    identifier: &str,
    code_hash: &[u8],
    now: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO otp_codes (identifier, code_hash, created_at, expires_at, attempts) \
         VALUES (?1, ?2, ?3, ?4, 0) \
         ON CONFLICT (identifier) DO UPDATE SET code_hash = excluded.code_hash, \
            created_at = excluded.created_at, expires_at = excluded.expires_at, attempts = 0",
    )?
    .execute(params![identifier, code_hash, now, expires_at])?;
    Ok(())
}

pub fn otp_set_attempts(
    conn: &Connection,
    identifier: &str,
    attempts: u32,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE otp_codes SET attempts = ?2 WHERE identifier = ?1")?
        .execute(params![identifier, attempts])?;
    Ok(())
}

/// Marks the code of `identifier` burnt: its last wrong try was the last
/// allowed. The row stays (a new code keeps the count; see `otp_put`).
pub fn otp_burn(conn: &Connection, identifier: &str, attempts: u32) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE otp_codes SET attempts = ?2, burnt = burnt + 1 WHERE identifier = ?1",
    )?
    .execute(params![identifier, attempts])?;
    Ok(())
}

pub fn otp_delete(conn: &Connection, identifier: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM otp_codes WHERE identifier = ?1")?
        .execute([identifier])?;
    Ok(())
}

/// Deletes the code of `identifier` only if it is still the one whose hash
/// is `code_hash` (a newer code asked for meanwhile stays).
pub fn otp_delete_code(
    conn: &Connection,
    identifier: &str,
    code_hash: &[u8],
) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM otp_codes WHERE identifier = ?1 AND code_hash = ?2")?
        .execute(params![identifier, code_hash])?;
    Ok(())
}

/// Deletes codes that expired before `cutoff`, and those of identifiers
/// with burnt codes only `burnt_kept` ms after (the wait they earned must
/// outlast the code); returns how many.
pub fn otp_delete_expired(
    conn: &Connection,
    cutoff: i64,
    burnt_kept: i64,
) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM otp_codes WHERE (burnt = 0 AND expires_at < ?1) OR expires_at < ?1 - ?2",
        )?
        .execute(params![cutoff, burnt_kept])?)
}

/// Deletes up to `batch` refresh tokens rotated before `cutoff` (never a
/// current one); returns how many.
pub fn refresh_delete_rotated(
    conn: &Connection,
    cutoff: i64,
    batch: usize,
) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM refresh_tokens WHERE rowid IN (SELECT rowid FROM refresh_tokens \
             WHERE rotated_at IS NOT NULL AND rotated_at < ?1 LIMIT ?2)",
        )?
        .execute(rusqlite::params![cutoff, batch as i64])?)
}

pub fn insert_device(
    conn: &Connection,
    id: &str,
    user_id: &str,
    name: &str,
    platform: Platform,
    now: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO devices (id, user_id, name, platform, created_at, last_seen_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )?
    .execute(params![id, user_id, name, platform.as_str(), now])?;
    Ok(())
}

/// What authenticating a request needs to know about its device.
#[derive(Debug, Clone)]
pub struct DeviceState {
    pub user_id: String,
    pub revoked: bool,
    pub user_disabled: bool,
    /// The account was deleted by its owner (then also disabled).
    pub user_deleted: bool,
    pub last_seen_at: i64,
}

pub fn device_state(conn: &Connection, device_id: &str) -> Result<Option<DeviceState>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT d.user_id, d.revoked_at, u.disabled_at, d.last_seen_at, u.deleted_at \
             FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = ?1",
        )?
        .query_row([device_id], |r| {
            Ok(DeviceState {
                user_id: r.get(0)?,
                revoked: r.get::<_, Option<i64>>(1)?.is_some(),
                user_disabled: r.get::<_, Option<i64>>(2)?.is_some(),
                user_deleted: r.get::<_, Option<i64>>(4)?.is_some(),
                last_seen_at: r.get(3)?,
            })
        })
        .optional()?)
}

pub fn touch_device(conn: &Connection, device_id: &str, now: i64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE devices SET last_seen_at = MAX(last_seen_at, ?2) WHERE id = ?1")?
        .execute(params![device_id, now])?;
    Ok(())
}

/// Live devices of a user, oldest first; `current` marks `current_device`.
pub fn list_devices(
    conn: &Connection,
    user_id: &str,
    current_device: &str,
) -> Result<Vec<Device>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, platform, created_at, last_seen_at FROM devices \
         WHERE user_id = ?1 AND revoked_at IS NULL ORDER BY created_at, id",
    )?;
    let rows = stmt.query_map([user_id], |r| {
        let id: String = r.get(0)?;
        let platform: String = r.get(2)?;
        Ok(Device {
            current: id == current_device,
            id: DeviceId(id),
            name: r.get(1)?,
            platform: Platform::from_str_lossy(&platform),
            created_at: ms_to_ts(r.get(3)?),
            last_seen_at: ms_to_ts(r.get(4)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Revokes a live device of `user_id` and forgets its refresh tokens. Returns
/// false when there is no such live device.
pub fn revoke_device(
    conn: &Connection,
    user_id: &str,
    device_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "UPDATE devices SET revoked_at = ?3 \
             WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
        )?
        .execute(params![device_id, user_id, now])?;
    conn.prepare_cached("DELETE FROM refresh_tokens WHERE device_id = ?1")?
        .execute([device_id])?;
    Ok(n == 1)
}

pub fn insert_refresh(
    conn: &Connection,
    token_hash: &[u8],
    device_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO refresh_tokens (token_hash, device_id, created_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![token_hash, device_id, now])?;
    Ok(())
}

/// A refresh token as stored.
#[derive(Debug, Clone)]
pub struct RefreshRow {
    pub device_id: String,
    /// When it was first exchanged, if it was.
    pub rotated_at: Option<i64>,
    /// The hash of the token it was last exchanged for.
    pub replaced_by: Option<Vec<u8>>,
    /// The hash of the retry key its first exchange came with.
    pub retry_key_hash: Option<Vec<u8>>,
}

pub fn refresh_lookup(
    conn: &Connection,
    token_hash: &[u8],
) -> Result<Option<RefreshRow>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT device_id, rotated_at, replaced_by, retry_key_hash \
             FROM refresh_tokens WHERE token_hash = ?1",
        )?
        .query_row([token_hash], |r| {
            Ok(RefreshRow {
                device_id: r.get(0)?,
                rotated_at: r.get(1)?,
                replaced_by: r.get(2)?,
                retry_key_hash: r.get(3)?,
            })
        })
        .optional()?)
}

/// Whether the token with this hash exists and was never exchanged.
pub fn refresh_unused(conn: &Connection, token_hash: &[u8]) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM refresh_tokens WHERE token_hash = ?1 AND rotated_at IS NULL",
        )?
        .exists([token_hash])?)
}

/// Marks a token exchanged for `successor`. The first exchange's time and
/// retry key stay: the window for retries runs from it, and they must bring
/// its key.
pub fn refresh_mark_rotated(
    conn: &Connection,
    token_hash: &[u8],
    successor: &[u8],
    retry_key_hash: Option<&[u8]>,
    now: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE refresh_tokens SET rotated_at = COALESCE(rotated_at, ?3), replaced_by = ?2, \
         retry_key_hash = CASE WHEN rotated_at IS NULL THEN ?4 ELSE retry_key_hash END \
         WHERE token_hash = ?1",
    )?
    .execute(params![token_hash, successor, now, retry_key_hash])?;
    Ok(())
}

/// Takes back a successor nobody used: it counts as rotated with nothing
/// after it, so presenting it later is theft (whoever holds it is not the
/// client that retried).
pub fn refresh_withdraw(conn: &Connection, token_hash: &[u8], now: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE refresh_tokens SET rotated_at = ?2, replaced_by = NULL WHERE token_hash = ?1",
    )?
    .execute(params![token_hash, now])?;
    Ok(())
}
