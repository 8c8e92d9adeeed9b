//! Users, their settings and avatars.

use super::{ms_to_ts, StoreError};
use parley_protocol::{Me, Settings, User, UserId};
use rusqlite::{params, Connection, OptionalExtension, Row};

/// A user row as stored.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub identifier: String,
    pub display_name: String,
    pub username: Option<String>,
    pub bio: String,
    pub status_text: String,
    pub settings: Settings,
    pub avatar_version: Option<i64>,
    pub created_at: i64,
    pub disabled: bool,
    /// Deleted by its owner (then also disabled).
    pub deleted: bool,
}

const COLUMNS: &str = "id, identifier, display_name, username, bio, status_text, \
     read_receipts, last_seen_visible, avatar_version, created_at, disabled_at, deleted_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        identifier: r.get(1)?,
        display_name: r.get(2)?,
        username: r.get(3)?,
        bio: r.get(4)?,
        status_text: r.get(5)?,
        settings: Settings {
            read_receipts: r.get(6)?,
            last_seen_visible: r.get(7)?,
        },
        avatar_version: r.get(8)?,
        created_at: r.get(9)?,
        disabled: r.get::<_, Option<i64>>(10)?.is_some(),
        deleted: r.get::<_, Option<i64>>(11)?.is_some(),
    })
}

impl UserRow {
    /// The public profile.
    pub fn to_user(&self) -> User {
        User {
            id: UserId(self.id.clone()),
            display_name: self.display_name.clone(),
            username: self.username.clone(),
            bio: self.bio.clone(),
            status_text: self.status_text.clone(),
            avatar_url: self
                .avatar_version
                .map(|v| format!("/v1/users/{}/avatar?v={v}", self.id)),
            created_at: ms_to_ts(self.created_at),
        }
    }

    /// The profile as its owner sees it.
    pub fn to_me(&self) -> Me {
        Me {
            user: self.to_user(),
            identifier: self.identifier.clone(),
            settings: self.settings,
        }
    }
}

pub fn by_id(conn: &Connection, id: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

pub fn by_identifier(conn: &Connection, identifier: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM users WHERE identifier = ?1"
        ))?
        .query_row([identifier], from_row)
        .optional()?)
}

pub fn by_username(conn: &Connection, username: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE username = ?1"))?
        .query_row([username], from_row)
        .optional()?)
}

pub fn insert(
    conn: &Connection,
    id: &str,
    identifier: &str,
    display_name: &str,
    now: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO users (id, identifier, display_name, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?4)",
    )?
    .execute(params![id, identifier, display_name, now])?;
    Ok(())
}

/// The validated changes of one profile update; `None` leaves a column alone.
#[derive(Debug, Default, Clone)]
pub struct ProfileChanges {
    pub display_name: Option<String>,
    pub username: Option<String>,
    pub bio: Option<String>,
    pub status_text: Option<String>,
    pub read_receipts: Option<bool>,
    pub last_seen_visible: Option<bool>,
}

/// Applies `changes`; a taken username surfaces as a unique violation.
pub fn update_profile(
    conn: &Connection,
    id: &str,
    changes: &ProfileChanges,
    now: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE users SET \
            display_name = COALESCE(?2, display_name), \
            username = COALESCE(?3, username), \
            bio = COALESCE(?4, bio), \
            status_text = COALESCE(?5, status_text), \
            read_receipts = COALESCE(?6, read_receipts), \
            last_seen_visible = COALESCE(?7, last_seen_visible), \
            updated_at = ?8 \
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        changes.display_name,
        changes.username,
        changes.bio,
        changes.status_text,
        changes.read_receipts,
        changes.last_seen_visible,
        now
    ])?;
    Ok(())
}

pub fn set_avatar(
    conn: &Connection,
    id: &str,
    mime: &str,
    data: &[u8],
    now: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO avatars (user_id, mime, data) VALUES (?1, ?2, ?3) \
         ON CONFLICT (user_id) DO UPDATE SET mime = excluded.mime, data = excluded.data",
    )?
    .execute(params![id, mime, data])?;
    conn.prepare_cached("UPDATE users SET avatar_version = ?2, updated_at = ?2 WHERE id = ?1")?
        .execute(params![id, now])?;
    Ok(())
}

/// The stored avatar: media type and bytes.
pub fn avatar(conn: &Connection, id: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT mime, data FROM avatars WHERE user_id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Erases a deleted account (see `service::account`): profile and photo,
/// sign-in identifier (so it can sign up afresh), devices (revoked, names
/// blanked), live codes, invites, device links it approved but not yet
/// collected, and its event log. The row stays, disabled, because its
/// messages stay in its peers' history; `display_name` is what they see.
pub fn erase(
    conn: &Connection,
    user_id: &str,
    display_name: &str,
    now: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET identifier = 'deleted:' || id, display_name = ?2, username = NULL, \
            bio = '', status_text = '', avatar_version = NULL, last_seen_visible = 0, \
            disabled_at = COALESCE(disabled_at, ?3), deleted_at = ?3, updated_at = ?3 \
         WHERE id = ?1",
        params![user_id, display_name, now],
    )?;
    conn.execute("DELETE FROM avatars WHERE user_id = ?1", [user_id])?;
    // Devices are revoked and their names blanked; their refresh tokens
    // stay (hashed, useless) so a device that comes back is told why.
    conn.execute(
        "UPDATE devices SET revoked_at = COALESCE(revoked_at, ?2), name = '' WHERE user_id = ?1",
        params![user_id, now],
    )?;
    conn.execute(
        "UPDATE contact_codes SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
        params![user_id, now],
    )?;
    conn.execute("DELETE FROM device_invites WHERE user_id = ?1", [user_id])?;
    conn.execute(
        "DELETE FROM device_links WHERE approved_by = ?1 AND collected_at IS NULL",
        [user_id],
    )?;
    conn.execute("DELETE FROM events WHERE user_id = ?1", [user_id])?;
    Ok(())
}
