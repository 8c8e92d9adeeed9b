//! SQLite storage: the only code in Parley that speaks SQL.
//!
//! One writer thread owns the only write connection and commits queued jobs in
//! batches (group commit: one transaction, one fsync, many jobs); a small pool of
//! read-only connections serves reads on the blocking thread pool. Nothing here
//! ever blocks a tokio worker. A future PostgreSQL backend replaces this module
//! behind the same functions; services never see a `rusqlite` type other than the
//! `Connection` handed to their closures by `Store::read` / `Store::write`.

mod checkpoint;
mod durable;
mod migrations;
mod read;
mod writer;

pub mod admin;
pub mod attachments;
pub mod auth;
pub mod chats;
pub mod contacts;
pub mod events;
pub mod links;
pub mod messages;
pub mod users;

use rusqlite::{Connection, OpenFlags};
use std::{
    path::{Path, PathBuf},
    time::Duration,
};

pub use migrations::known_version;
pub use read::ReadPool;
pub use writer::{Guard, Writer};

/// Storage failures. Services turn the expected ones (constraint violations)
/// into domain errors; everything else becomes a logged 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("the database is closed")]
    Closed,
    #[error("a database job panicked")]
    Panicked,
    /// Another write of the same batch failed after writing, so the whole
    /// batch was rolled back: nothing of this write was kept; retrying is safe.
    #[error("rolled back with its batch: another write in it failed")]
    RolledBack,
    /// The batch's COMMIT failed: nothing of this write was kept.
    #[error("the write was not committed ({code:?}): {detail}")]
    NotCommitted {
        code: rusqlite::ErrorCode,
        detail: String,
    },
    /// The batch committed but the disk did not confirm it (its fsync
    /// failed): the change is in the database and may not survive a power
    /// loss. Retrying an idempotent write finds it.
    #[error("the write was committed but not confirmed on disk: {0}")]
    NotDurable(std::io::Error),
    /// An earlier fsync failed, so this process saves nothing more until it
    /// is restarted (see `durable`): nothing of this write was kept.
    #[error("the disk failed to confirm an earlier write; nothing is saved until a restart")]
    DiskFailed,
}

impl StoreError {
    /// True when the disk (or the file system's quota) is full: the operator
    /// must free space; the client may retry later.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DiskFull
            }
            StoreError::NotCommitted { code, .. } => *code == rusqlite::ErrorCode::DiskFull,
            _ => false,
        }
    }

    /// True when the error is a UNIQUE constraint violation.
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        )
    }
}

/// Why the database could not be opened, phrased for the operator.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("database {path} is corrupt or not a Parley database: {detail}")]
    Corrupt { path: String, detail: String },
    #[error("database {path} has schema version {found}, newer than this server knows ({known}); upgrade parley-server")]
    TooNew {
        path: String,
        found: usize,
        known: usize,
    },
    #[error("no database at {path}: is --data-dir right?")]
    Missing { path: String },
    #[error("database {path} has schema version {found}, older than this server's ({known}); start the upgraded server once to migrate it")]
    TooOld {
        path: String,
        found: usize,
        known: usize,
    },
    #[error("cannot start the database writer thread: {0}")]
    Thread(std::io::Error),
    #[error("cannot write {path}: {source}")]
    Marker {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The database handle shared by all services.
#[derive(Clone)]
pub struct Store {
    pub writer: Writer,
    pub readers: ReadPool,
    /// Keeps the background checkpointer running while the store lives.
    checkpointer: checkpoint::Checkpointer,
    /// Says the database is in use by a server, until a clean close (see
    /// [`stopped_uncleanly`]).
    running: std::sync::Arc<PathBuf>,
}

/// How long a connection waits on a lock before failing. Only the writer takes
/// write locks, so this matters for checkpoints and for external tools.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl Store {
    /// Opens (creating if needed) the database, applies migrations, starts the
    /// writer thread and the read pool. Blocking: call it before the runtime
    /// serves anything, or from `spawn_blocking`.
    pub fn open(path: &Path, read_connections: usize) -> Result<Store, OpenError> {
        let display = path.display().to_string();
        let running = running_marker(path);
        let unclean = stopped_uncleanly(path);
        let mut conn = Connection::open(path).map_err(|source| OpenError::Open {
            path: display.clone(),
            source,
        })?;
        configure(&conn, false).map_err(|e| classify(&display, e))?;
        if unclean {
            tracing::info!(db = %path.display(), "checking the database after an unclean stop");
            let integrity: String = conn
                .query_row("PRAGMA quick_check", [], |r| r.get(0))
                .map_err(|e| classify(&display, e))?;
            if integrity != "ok" {
                return Err(OpenError::Corrupt {
                    path: display,
                    detail: integrity,
                });
            }
        } else {
            tracing::debug!(db = %path.display(), "stopped cleanly last time: no whole-file check");
        }
        mark_running(&running).map_err(|source| OpenError::Marker {
            path: running.display().to_string(),
            source,
        })?;
        migrations::apply(&mut conn, &display)?;
        let readers = ReadPool::open(path, read_connections).map_err(|source| OpenError::Open {
            path: display.clone(),
            source,
        })?;
        // Checkpoints run on their own thread (see `checkpoint`).
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(|e| classify(&display, e))?;
        // The writer's COMMIT does not wait for the disk: its syncer fsyncs
        // the WAL and answers callers only then (see `durable`), while the
        // writer already runs the next batch.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| classify(&display, e))?;
        let restart = checkpoint::RestartWanted::default();
        let writer = Writer::start(conn, restart.clone()).map_err(OpenError::Thread)?;
        let checkpointer =
            checkpoint::start(path, restart, writer.sync_state()).map_err(OpenError::Thread)?;
        Ok(Store {
            writer,
            readers,
            checkpointer,
            running: std::sync::Arc::new(running),
        })
    }

    /// Commits what is queued and closes every connection, readers first and
    /// the writer last, so that the last close checkpoints the WAL and SQLite
    /// removes the `-wal` and `-shm` files: a stopped server leaves one file.
    /// Later reads and writes fail with [`StoreError::Closed`].
    pub async fn close(&self) {
        self.readers.close().await;
        let checkpointer = self.checkpointer.clone();
        let _ = tokio::task::spawn_blocking(move || checkpointer.stop()).await;
        self.writer.close().await;
        // Clean unless a sync failed: then the next start checks the file.
        if !self.writer.disk_failed() {
            let running = self.running.clone();
            let removed =
                tokio::task::spawn_blocking(move || std::fs::remove_file(&*running)).await;
            if let Ok(Err(e)) = removed {
                tracing::warn!(error = %e, "cannot remove the database's running marker");
            }
        }
    }

    /// Runs `f` on a read-only connection, off the async runtime.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.readers.read(f).await
    }

    /// Runs `f` inside the writer's current batch transaction. Its effects are
    /// durable when this returns `Ok`; an `Err` from `f` rolls back only `f`'s
    /// own changes (it runs inside a savepoint).
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.writer.write(f).await
    }

    /// Caps the database file at about `bytes` (SQLite's `max_page_count` on
    /// the writer's connection; never below the current size). Returns the
    /// cap in effect, in bytes. Past it, writes fail with SQLITE_FULL, which
    /// callers see as [`StoreError::is_disk_full`].
    pub async fn cap_size(&self, bytes: u64) -> Result<u64, StoreError> {
        self.write(move |conn| -> Result<u64, StoreError> {
            let page: u64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
            let pages = bytes.div_ceil(page).max(1);
            let set: u64 =
                conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
                    r.get(0)
                })?;
            Ok(set * page)
        })
        .await
    }
}

/// Whether the database at `path` was left by a server that did not close
/// it cleanly: its running marker is there (written at open, removed by a
/// clean [`Store::close`]), or a write-ahead log is. The marker is the
/// server's own: other programs that open the file (`check-config` before
/// each systemd start, `backup`, `admin`, an operator's `sqlite3`) checkpoint
/// and delete a log they find when they close, and must not hide a crash.
/// Anything but "not there" counts as unclean. The full check (`PRAGMA
/// quick_check`) reads the whole file, minutes for a large one, so it runs
/// only then, not at every start: a restart for an upgrade should not cost
/// downtime in proportion to the data. (Backups are checked whole, see
/// `ops::backup`.)
fn stopped_uncleanly(path: &Path) -> bool {
    let there = |p: PathBuf| !matches!(std::fs::metadata(p), Err(e) if e.kind() == std::io::ErrorKind::NotFound);
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    there(running_marker(path)) || there(PathBuf::from(wal))
}

/// `<db>.running`: see [`stopped_uncleanly`].
fn running_marker(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".running");
    PathBuf::from(p)
}

/// Writes the running marker durably (a crash right after must find it).
fn mark_running(marker: &Path) -> std::io::Result<()> {
    std::fs::File::create(marker)?.sync_all()?;
    if let Some(dir) = marker.parent().filter(|d| !d.as_os_str().is_empty()) {
        #[cfg(unix)]
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn classify(path: &str, e: rusqlite::Error) -> OpenError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
            ) =>
        {
            OpenError::Corrupt {
                path: path.to_owned(),
                detail: e.to_string(),
            }
        }
        _ => OpenError::Open {
            path: path.to_owned(),
            source: e,
        },
    }
}

/// Prepared statements kept per connection: more than the store has distinct
/// statements, so none is ever parsed twice.
const STATEMENT_CACHE: usize = 256;

/// Pragmas every connection gets.
fn configure(conn: &Connection, read_only: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Every statement of the store is `prepare_cached`; rusqlite's default of
    // 16 cached statements is fewer than one send and its acks use, so the
    // LRU thrashed and the writer re-parsed SQL on every job (~10% of its
    // time in the profile).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Every write job runs in its own savepoint; its statement journal must not
    // be a temp file (profiling showed the writer spending most of its time in
    // pwrite/pread of sub-journals). Temp tables and sorts stay in memory too.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    if read_only {
        conn.pragma_update(None, "cache_size", -16_384)?; // KiB
        conn.pragma_update(None, "query_only", "ON")?;
    } else {
        // WAL: readers never block the writer and vice versa. FULL: a COMMIT
        // returns once it is on disk (the writer thread relaxes this for
        // itself, see `durable`).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "cache_size", -65_536)?; // KiB: hot pages of the writer
                                                          // A WAL that grew during a burst is cut back to this when it starts
                                                          // over (see checkpoint.rs).
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    }
    Ok(())
}

/// Opening flags for read-only connections.
fn read_only_flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI
}

/// A seq from a request as SQLite's integer: values past `i64::MAX` (no seq
/// gets there) mean "past every seq", instead of wrapping to negative.
pub fn sql_seq(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// Current time as unix milliseconds, the unit every timestamp column uses.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Unix milliseconds to a wire timestamp.
pub fn ms_to_ts(ms: i64) -> parley_protocol::Timestamp {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Overwrites the first page of index `name` in the database `db` with
    /// garbage, as a bad disk would.
    fn damage_index(db: &Path, name: &str) {
        use std::io::{Seek, Write};
        let (page, size): (i64, i64) = {
            let c = Connection::open(db).unwrap();
            let page = c
                .query_row(
                    "SELECT rootpage FROM sqlite_master WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .unwrap();
            (
                page,
                c.pragma_query_value(None, "page_size", |r| r.get(0))
                    .unwrap(),
            )
        };
        let mut f = std::fs::OpenOptions::new().write(true).open(db).unwrap();
        f.seek(std::io::SeekFrom::Start(((page - 1) * size) as u64))
            .unwrap();
        f.write_all(&vec![0xA5; size as usize]).unwrap();
    }

    /// The server's marker says a database is in use until a clean close; a
    /// crash leaves it (with its log), and the next open checks the whole
    /// file: a damaged page is found then, though another program
    /// (`check-config` before every systemd start) opened and closed the
    /// file in between, which removes the log. After a clean stop the check
    /// is skipped.
    #[tokio::test]
    async fn the_whole_check_runs_only_after_an_unclean_stop() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("parley.db");
        let store = Store::open(&db, 1).unwrap();
        store
            .write(|c| {
                c.execute_batch(
                    "CREATE TABLE t (x); CREATE INDEX t_x ON t (x);
                     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
                     INSERT INTO t SELECT printf('row %d', i) FROM n;",
                )
                .map_err(StoreError::from)
            })
            .await
            .unwrap();
        assert!(stopped_uncleanly(&db), "in use");
        // A crash now: the files as they are.
        let crashed = dir.path().join("crashed");
        std::fs::create_dir(&crashed).unwrap();
        for suffix in ["", "-wal", ".running"] {
            std::fs::copy(
                format!("{}{suffix}", db.display()),
                crashed.join(format!("parley.db{suffix}")),
            )
            .unwrap();
        }
        store.close().await;
        assert!(!stopped_uncleanly(&db), "a clean stop leaves one file");
        assert!(!running_marker(&db).exists());

        let copy = crashed.join("parley.db");
        // `check-config` opens and closes it: the log is checkpointed and
        // gone, the marker stays.
        let check_config = Connection::open(&copy).unwrap();
        let _: i64 = check_config
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        check_config.close().unwrap();
        assert!(!crashed.join("parley.db-wal").exists());
        assert!(stopped_uncleanly(&copy));
        damage_index(&copy, "t_x");
        match Store::open(&copy, 1) {
            Err(OpenError::Corrupt { .. }) => {}
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("the damage was not found"),
        }
        // The same damage after a clean stop is not looked for.
        damage_index(&db, "t_x");
        let store = Store::open(&db, 1).unwrap();
        store.close().await;
    }
}
