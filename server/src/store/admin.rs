//! Operator access: the SQL behind `parley-server admin`, `backup`, `restore`,
//! the server's watch for admin actions and the metrics scrape.
//!
//! The admin and backup commands open the database file directly, possibly while
//! a server is serving it: WAL mode and the busy timeout make that safe (their
//! writes wait for the server's writer, and its reads never block them).

use super::{classify, configure, migrations, OpenError, StoreError, BUSY_TIMEOUT};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};
use std::{path::Path, time::Duration};

/// What an admin action asks a running server to do.
pub const ACTION_DISABLE_USER: &str = "disable_user";
pub const ACTION_ENABLE_USER: &str = "enable_user";
pub const ACTION_REVOKE_DEVICE: &str = "revoke_device";

fn open_existing(path: &Path) -> Result<Connection, OpenError> {
    let display = path.display().to_string();
    if !path.is_file() {
        return Err(OpenError::Missing { path: display });
    }
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| classify(&display, e))
}

/// Opens the database of a data directory for the admin commands: it must
/// exist and carry exactly the schema this binary knows (never migrated from
/// here: a server of another version may be running on it).
pub fn open_for_admin(path: &Path) -> Result<Connection, OpenError> {
    let display = path.display().to_string();
    let conn = open_existing(path)?;
    configure(&conn, false).map_err(|e| classify(&display, e))?;
    let found = schema_version(&conn).map_err(|e| classify(&display, e))?;
    let known = migrations::known_version();
    if found > known {
        return Err(OpenError::TooNew {
            path: display,
            found,
            known,
        });
    }
    if found < known {
        return Err(OpenError::TooOld {
            path: display,
            found,
            known,
        });
    }
    Ok(conn)
}

/// Opens a database only to read it (backup source, restore check), whatever
/// its schema version.
pub fn open_for_reading(path: &Path) -> Result<Connection, OpenError> {
    let display = path.display().to_string();
    let conn = open_existing(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| classify(&display, e))?;
    Ok(conn)
}

/// `PRAGMA user_version`: the number of migrations applied.
pub fn schema_version(conn: &Connection) -> rusqlite::Result<usize> {
    conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
        .map(|v| usize::try_from(v).unwrap_or(0))
}

/// `PRAGMA quick_check`: "ok" for a sound database.
pub fn quick_check(conn: &Connection) -> Result<String, StoreError> {
    Ok(conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?)
}

/// Copies a consistent snapshot of `src` into a new database file at `dest`
/// with SQLite's online backup API. One step copies every page inside one read
/// transaction: writers go on (WAL), and the copy is exactly the state of the
/// last commit before it started. The copy is left in rollback-journal mode so
/// it is one self-contained file. Returns the number of pages copied.
pub fn snapshot(src: &Connection, dest: &Path) -> Result<i32, StoreError> {
    let mut dst = Connection::open(dest)?;
    let pages = {
        let backup = rusqlite::backup::Backup::new(src, &mut dst)?;
        // c_int::MAX pages per step: the whole copy in one step (one read
        // transaction), so concurrent commits never restart it; rusqlite
        // retries after a pause if the source is momentarily busy.
        backup.run_to_completion(std::ffi::c_int::MAX, Duration::from_millis(50), None)?;
        backup.progress().pagecount
    };
    dst.pragma_update(None, "journal_mode", "DELETE")?;
    Ok(pages)
}

/// Content hashes of every attachment the database references.
pub fn attachment_shas(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare("SELECT DISTINCT sha256 FROM attachments ORDER BY sha256")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A user as the operator sees it.
#[derive(Debug, Clone)]
pub struct AdminUser {
    pub id: String,
    pub identifier: String,
    pub display_name: String,
    pub username: Option<String>,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
    pub live_devices: i64,
    /// Deleted by its owner (`DELETE /v1/me`): for good.
    pub deleted_at: Option<i64>,
}

const USER_SELECT: &str = "SELECT u.id, u.identifier, u.display_name, u.username, u.created_at, \
     u.disabled_at, (SELECT COUNT(*) FROM devices d WHERE d.user_id = u.id AND d.revoked_at IS NULL), \
     u.deleted_at FROM users u";

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<AdminUser> {
    Ok(AdminUser {
        id: r.get(0)?,
        identifier: r.get(1)?,
        display_name: r.get(2)?,
        username: r.get(3)?,
        created_at: r.get(4)?,
        disabled_at: r.get(5)?,
        live_devices: r.get(6)?,
        deleted_at: r.get(7)?,
    })
}

/// Every user, oldest first.
pub fn users(conn: &Connection) -> Result<Vec<AdminUser>, StoreError> {
    let mut stmt = conn.prepare(&format!("{USER_SELECT} ORDER BY u.created_at, u.id"))?;
    let rows = stmt.query_map([], user_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The user whose id, identifier or username is `needle`.
pub fn find_user(conn: &Connection, needle: &str) -> Result<Option<AdminUser>, StoreError> {
    Ok(conn
        .prepare(&format!(
            "{USER_SELECT} WHERE u.id = ?1 OR u.identifier = ?1 OR u.username = ?1 LIMIT 1"
        ))?
        .query_row([needle], user_from_row)
        .optional()?)
}

/// A device as the operator sees it, revoked ones included.
#[derive(Debug, Clone)]
pub struct AdminDevice {
    pub id: String,
    pub name: String,
    pub platform: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub revoked_at: Option<i64>,
}

pub fn devices(conn: &Connection, user_id: &str) -> Result<Vec<AdminDevice>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, name, platform, created_at, last_seen_at, revoked_at FROM devices \
         WHERE user_id = ?1 ORDER BY created_at, id",
    )?;
    let rows = stmt.query_map([user_id], |r| {
        Ok(AdminDevice {
            id: r.get(0)?,
            name: r.get(1)?,
            platform: r.get(2)?,
            created_at: r.get(3)?,
            last_seen_at: r.get(4)?,
            revoked_at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The owner of a device and whether it is already revoked.
pub fn device_owner(
    conn: &Connection,
    device_id: &str,
) -> Result<Option<(String, bool)>, StoreError> {
    Ok(conn
        .prepare("SELECT user_id, revoked_at FROM devices WHERE id = ?1")?
        .query_row([device_id], |r| {
            Ok((r.get(0)?, r.get::<_, Option<i64>>(1)?.is_some()))
        })
        .optional()?)
}

/// Sets or clears `users.disabled_at`.
pub fn set_disabled(
    conn: &Connection,
    user_id: &str,
    disabled_at: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    conn.prepare("UPDATE users SET disabled_at = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![user_id, disabled_at, now])?;
    Ok(())
}

/// Records an action for a running server to notice.
pub fn record_action(
    conn: &Connection,
    action: &str,
    target: &str,
    now: i64,
) -> Result<(), StoreError> {
    conn.prepare("INSERT INTO admin_actions (action, target, created_at) VALUES (?1, ?2, ?3)")?
        .execute(params![action, target, now])?;
    Ok(())
}

/// One recorded admin action.
#[derive(Debug, Clone)]
pub struct AdminAction {
    pub id: i64,
    pub action: String,
    pub target: String,
}

/// Actions recorded after `after`, oldest first.
pub fn actions_after(conn: &Connection, after: i64) -> Result<Vec<AdminAction>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, action, target FROM admin_actions WHERE id > ?1 ORDER BY id LIMIT 1000",
    )?;
    let rows = stmt.query_map([after], |r| {
        Ok(AdminAction {
            id: r.get(0)?,
            action: r.get(1)?,
            target: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The id of the newest action, 0 when none.
pub fn last_action_id(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM admin_actions")?
        .query_row([], |r| r.get(0))?)
}

/// Deletes actions older than `cutoff` ms (long since noticed).
pub fn prune_actions(conn: &Connection, cutoff: i64) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM admin_actions WHERE created_at < ?1")?
        .execute([cutoff])?)
}

/// Rows in the event log (metrics, storage report), from its ids: the log
/// is appended in id order and pruned from the front, so this is two index
/// lookups where `COUNT(*)` walked the whole log at every scrape. An upper
/// bound: a deleted account's events leave holes.
pub fn event_rows(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT COALESCE(MAX(id) - MIN(id) + 1, 0) FROM events")?
        .query_row([], |r| r.get(0))?)
}

/// Row counts and page figures for `admin storage`.
#[derive(Debug, Clone, Default)]
pub struct StorageCounts {
    pub users: i64,
    pub live_devices: i64,
    pub messages: i64,
    pub event_rows: i64,
    pub attachment_rows: i64,
    pub attachment_blobs: i64,
    pub attachment_bytes: i64,
    pub page_size: i64,
    pub page_count: i64,
    pub freelist_count: i64,
}

pub fn storage_counts(conn: &Connection) -> Result<StorageCounts, StoreError> {
    let one = |sql: &str| -> Result<i64, StoreError> { Ok(conn.query_row(sql, [], |r| r.get(0))?) };
    Ok(StorageCounts {
        users: one("SELECT COUNT(*) FROM users")?,
        live_devices: one("SELECT COUNT(*) FROM devices WHERE revoked_at IS NULL")?,
        messages: one("SELECT COUNT(*) FROM messages")?,
        event_rows: one("SELECT COUNT(*) FROM events")?,
        attachment_rows: one("SELECT COUNT(*) FROM attachments")?,
        attachment_blobs: one("SELECT COUNT(DISTINCT sha256) FROM attachments")?,
        attachment_bytes: one(
            "SELECT COALESCE(SUM(size), 0) FROM (SELECT sha256, MAX(size) AS size FROM attachments GROUP BY sha256)",
        )?,
        page_size: one("PRAGMA page_size")?,
        page_count: one("PRAGMA page_count")?,
        freelist_count: one("PRAGMA freelist_count")?,
    })
}
