//! The local cache: a SQLite file per profile with chats, messages (including
//! pending ones), contacts, requests, the outbox and the event cursor. The app
//! reads from here, so it opens instantly and works read-only offline; events
//! from the server are applied here in the same transaction that moves the
//! cursor, so an acknowledged event is always reflected.

use crate::error::{ClientError, Result};
use parley_protocol::{
    Chat, Connection as Contact, ConnectionRequest, Event, Message, MessageStatus, RequestStatus,
    UserId,
};
use rusqlite::{params, Connection, OptionalExtension};
use std::{
    path::Path,
    sync::{Arc, Mutex},
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS chats (id TEXT PRIMARY KEY, json TEXT NOT NULL, updated_at TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS messages (
    sender_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    chat_id   TEXT NOT NULL,
    id        TEXT,
    seq       INTEGER NOT NULL DEFAULT 0,
    state     TEXT NOT NULL,
    json      TEXT NOT NULL,
    PRIMARY KEY (sender_id, client_id)
) STRICT;
CREATE INDEX IF NOT EXISTS messages_by_chat ON messages(chat_id, seq);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_id ON messages(id) WHERE id IS NOT NULL;
CREATE TABLE IF NOT EXISTS outbox (
    client_id      TEXT PRIMARY KEY,
    chat_id        TEXT NOT NULL,
    body           TEXT NOT NULL,
    reply_to       TEXT,
    attachment_ids TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS outbox_order ON outbox(created_at);
CREATE TABLE IF NOT EXISTS failed_sends (
    client_id      TEXT PRIMARY KEY,
    chat_id        TEXT NOT NULL,
    body           TEXT NOT NULL,
    reply_to       TEXT,
    attachment_ids TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    problem        TEXT NOT NULL
) STRICT;
-- What this profile uploaded, so a queued message shows its attachments
-- before the server confirms it (the outbox holds only their ids).
CREATE TABLE IF NOT EXISTS uploads (id TEXT PRIMARY KEY, json TEXT NOT NULL, created_at INTEGER NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS contacts (user_id TEXT PRIMARY KEY, json TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS requests (id TEXT PRIMARY KEY, incoming INTEGER NOT NULL, json TEXT NOT NULL) STRICT;
";

/// Local state of a message as the UI shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum LocalState {
    /// In the outbox, not confirmed by the server yet.
    Pending,
    /// Refused by the server for good (e.g. no longer connected).
    Failed,
    Sent,
    Delivered,
    Read,
}

impl LocalState {
    fn as_str(self) -> &'static str {
        match self {
            LocalState::Pending => "pending",
            LocalState::Failed => "failed",
            LocalState::Sent => "sent",
            LocalState::Delivered => "delivered",
            LocalState::Read => "read",
        }
    }

    fn parse(s: &str) -> LocalState {
        match s {
            "pending" => LocalState::Pending,
            "failed" => LocalState::Failed,
            "delivered" => LocalState::Delivered,
            "read" => LocalState::Read,
            _ => LocalState::Sent,
        }
    }

    fn of(m: &Message) -> LocalState {
        match m.status {
            MessageStatus::Sent => LocalState::Sent,
            MessageStatus::Delivered => LocalState::Delivered,
            MessageStatus::Read => LocalState::Read,
        }
    }
}

/// A message with its local state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CachedMessage {
    #[serde(flatten)]
    pub message: Message,
    pub state: LocalState,
    /// Why the server refused it for good (state `failed`): it can be sent
    /// again ([`retry_failed`]) or dropped ([`discard_failed`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub failure: Option<parley_protocol::Problem>,
}

/// A queued send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub client_id: String,
    pub chat_id: String,
    pub body: String,
    pub reply_to: Option<String>,
    pub attachment_ids: Vec<String>,
    pub attempts: u32,
    /// A copy of a message from another chat (`Client::forward`).
    pub forwarded: bool,
}

/// The cache; cheap to clone. Calls are blocking but short; async callers go
/// through [`Cache::run`].
#[derive(Clone)]
pub struct Cache {
    conn: Arc<Mutex<Connection>>,
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| ClientError::Invalid(e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| ClientError::Invalid(format!("cache entry: {e}")))
}

/// Columns added since a cache file was first made (`SCHEMA` creates only
/// what is missing): added in place, so a profile keeps its queue.
fn upgrade(conn: &Connection) -> Result<()> {
    for table in ["outbox", "failed_sends"] {
        let has: bool = conn.query_row(
            &format!(
                "SELECT COUNT(*) > 0 FROM pragma_table_info('{table}') WHERE name = 'forwarded'"
            ),
            [],
            |r| r.get(0),
        )?;
        if !has {
            let added = conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN forwarded INTEGER NOT NULL DEFAULT 0"
            ));
            // Another process of this profile may have added it meanwhile.
            match added {
                Err(e) if e.to_string().contains("duplicate column name") => {}
                other => other?,
            }
        }
    }
    Ok(())
}

impl Cache {
    pub fn open(path: &Path) -> Result<Cache> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        upgrade(&conn)?;
        Ok(Cache {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| ClientError::Invalid(format!("cache task failed: {e}")))?
    }

    /// Closes the file, so that it can be deleted (on Windows an open SQLite
    /// file cannot be, and the delete fails): every clone of this cache,
    /// the realtime loop's too, goes on with an empty one in memory.
    pub fn close(&self) -> Result<()> {
        let blank = Connection::open_in_memory()?;
        blank.execute_batch(SCHEMA)?;
        let old = {
            let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::replace(&mut *guard, blank)
        };
        old.close().map_err(|(_, e)| e)?;
        Ok(())
    }

    /// Runs `f` synchronously (for non-async callers such as tests and the CLI's
    /// formatting).
    pub fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

pub fn get_kv(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

pub fn set_kv(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// The last event seq applied here.
pub fn cursor(conn: &Connection) -> Result<u64> {
    Ok(get_kv(conn, "cursor")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

pub fn set_cursor(conn: &Connection, seq: u64) -> Result<()> {
    set_kv(conn, "cursor", &seq.to_string())
}

/// Moves the cursor to `seq` unless it is further already (another process
/// of the same profile, a `listen` beside the app, may have moved it on:
/// going back would apply events twice). One statement, so it holds across
/// processes too.
pub fn advance_cursor(conn: &Connection, seq: u64) -> Result<()> {
    conn.execute(
        "INSERT INTO kv (key, value) VALUES ('cursor', ?1) ON CONFLICT (key) DO UPDATE SET value = \
         CASE WHEN CAST(value AS INTEGER) >= CAST(excluded.value AS INTEGER) THEN value ELSE excluded.value END",
        [seq.to_string()],
    )?;
    Ok(())
}

/// Makes the cache file at `path` one file that can be moved or deleted:
/// refused (an error saying so) while any other connection has it open,
/// then its WAL is copied into it and WAL mode left, so no `-wal` or `-shm`
/// file goes with it. A WAL database must not be moved or deleted under an
/// open connection: closing, that connection deletes the WAL by its name,
/// which by then may be the next account's cache's.
pub fn retire(path: &Path) -> Result<()> {
    let conn = alone(path)?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    conn.pragma_update(None, "journal_mode", "DELETE")?;
    conn.close().map_err(|(_, e)| e)?;
    Ok(())
}

/// Fails, saying so, while any other connection has the cache at `path`
/// open (see [`retire`]).
pub fn ensure_unused(path: &Path) -> Result<()> {
    match alone(path) {
        Ok(conn) => conn.close().map_err(|(_, e)| e.into()),
        // Not a database SQLite can use (damaged): nothing has it open.
        Err(ClientError::Cache(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes every row of the cache at `path`, in one transaction, leaving the
/// file (for when another connection has it open: see `wipe_local`).
pub fn empty_in_place(path: &Path) -> Result<()> {
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let tx = conn.transaction()?;
    let tables: Vec<String> = tx
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for t in tables {
        tx.execute(&format!("DELETE FROM \"{}\"", t.replace('"', "\"\"")), [])?;
    }
    tx.commit()?;
    Ok(())
}

/// A connection to the cache at `path` that holds it exclusively: possible
/// only while no other connection has it open (WAL with exclusive locking
/// needs every other connection closed).
fn alone(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    // An open connection does not go away by waiting: a short wait only
    // rides out another program's write.
    conn.busy_timeout(std::time::Duration::from_millis(500))?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    match conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;") {
        Ok(()) => Ok(conn),
        Err(e)
            if matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ) =>
        {
            Err(in_use(path))
        }
        Err(e) => Err(e.into()),
    }
}

/// The cache at `path` is open elsewhere (another Parley of this profile).
fn in_use(path: &Path) -> ClientError {
    ClientError::Invalid(format!(
        "{} is in use by another Parley program or window of this profile; \
         close it, then sign in again",
        path.display()
    ))
}

/// What a cache file holds, as far as signing in cares.
#[derive(Debug, PartialEq, Eq)]
pub struct CacheFile {
    /// (server, user id), if it says both.
    pub owner: Option<(String, String)>,
    /// Its owner's messages that never reached the server.
    pub unsent: u64,
}

/// What [`inspect`] found at a cache's path.
#[derive(Debug)]
pub enum Found {
    Nothing,
    Cache(CacheFile),
    /// Not a cache of ours that can be read (damaged, or another program's
    /// file): it may hold unsent messages all the same.
    Unreadable(rusqlite::Error),
}

/// Reads the cache file at `path` without changing it. An error only when
/// it is in use (another connection writing for longer than the wait).
pub fn inspect(path: &Path) -> Result<Found> {
    if !path.exists() {
        return Ok(Found::Nothing);
    }
    let read = || -> Result<CacheFile> {
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let owner = get_kv(&conn, "server")?.zip(get_kv(&conn, "user_id")?);
        let unsent = match &owner {
            Some((_, me)) => unsent_count(&conn, me)?,
            None => 0,
        };
        Ok(CacheFile { owner, unsent })
    };
    let code = |e: &rusqlite::Error| e.sqlite_error_code();
    match read() {
        Ok(f) => Ok(Found::Cache(f)),
        Err(ClientError::Cache(e))
            if matches!(
                code(&e),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ) =>
        {
            Err(in_use(path))
        }
        // Not a database, or a damaged one: unreadable. Anything else (no
        // file handles left, a read-only folder, a locking protocol error)
        // says nothing of the file: an error, and nothing is moved.
        Err(ClientError::Cache(e))
            if matches!(
                code(&e),
                Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
            ) || matches!(&e, rusqlite::Error::SqliteFailure(_, Some(m)) if m.starts_with("no such table")) =>
        {
            Ok(Found::Unreadable(e))
        }
        Err(e) => Err(e),
    }
}

pub fn my_id(conn: &Connection) -> Result<Option<String>> {
    get_kv(conn, "user_id")
}

/// Stores a server message, replacing a pending copy with the same client id.
/// Its ticks only move forward (sent, delivered, read): a copy fetched before
/// a receipt event but stored after it does not take a tick back.
pub fn upsert_message(conn: &Connection, m: &Message) -> Result<()> {
    let state = LocalState::of(m);
    // A copy older than the cached one (a history page fetched before an
    // edit or a deletion came as an event, and stored after it) leaves the
    // cached text as it is: the deleted body would come back otherwise.
    let cached: Option<Message> = conn
        .query_row(
            "SELECT json FROM messages WHERE sender_id = ?1 AND client_id = ?2 AND seq > 0",
            params![m.sender_id.as_str(), m.client_id],
            |r| r.get::<_, String>(0),
        )
        .optional()?
        .map(|j| parse(&j))
        .transpose()?;
    let m = match cached {
        Some(old) if (old.deleted && !m.deleted) || old.edited_at > m.edited_at => &Message {
            status: m.status,
            ..old
        },
        _ => m,
    };
    conn.execute(
        "INSERT INTO messages (sender_id, client_id, chat_id, id, seq, state, json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (sender_id, client_id) DO UPDATE SET id = excluded.id, seq = excluded.seq, \
            chat_id = excluded.chat_id, json = excluded.json, \
            state = CASE \
                WHEN messages.state = 'read' AND excluded.state IN ('sent','delivered') THEN 'read' \
                WHEN messages.state = 'delivered' AND excluded.state = 'sent' THEN 'delivered' \
                ELSE excluded.state END",
        params![m.sender_id.as_str(), m.client_id, m.chat_id, m.id, m.seq as i64, state.as_str(), json(m)?],
    )?;
    Ok(())
}

/// A message row: its JSON, state, and (for a failed send) the refusal.
type Row = (String, String, Option<String>);

fn cached_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

fn to_cached(rows: Vec<Row>) -> Result<Vec<CachedMessage>> {
    rows.into_iter()
        .map(|(j, state, failure)| {
            let failure = failure.as_deref().map(parse).transpose()?;
            let mut message: Message = parse(&j)?;
            let state = LocalState::parse(&state);
            message.status = match state {
                LocalState::Read => MessageStatus::Read,
                LocalState::Delivered => MessageStatus::Delivered,
                _ => MessageStatus::Sent,
            };
            Ok(CachedMessage {
                message,
                state,
                failure,
            })
        })
        .collect()
}

/// A chat's messages: the latest `limit` before `before_seq`, in order, with
/// pending ones (seq 0) last.
pub fn messages(
    conn: &Connection,
    chat_id: &str,
    before_seq: Option<u64>,
    limit: u32,
) -> Result<Vec<CachedMessage>> {
    let mut stmt = conn.prepare(
        "SELECT json, state, NULL FROM messages WHERE chat_id = ?1 AND seq > 0 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
    )?;
    let mut rows: Vec<Row> = stmt
        .query_map(
            params![
                chat_id,
                before_seq.map(|b| b as i64).unwrap_or(i64::MAX),
                limit
            ],
            cached_from_row,
        )?
        .collect::<Result<_, _>>()?;
    rows.reverse();
    if before_seq.is_none() {
        let mut p = conn.prepare(
            "SELECT m.json, m.state, f.problem FROM messages m \
             LEFT JOIN failed_sends f ON f.client_id = m.client_id AND m.state = 'failed' \
             WHERE m.chat_id = ?1 AND m.seq = 0 ORDER BY m.rowid",
        )?;
        let pending: Vec<Row> = p
            .query_map([chat_id], cached_from_row)?
            .collect::<Result<_, _>>()?;
        rows.extend(pending);
    }
    to_cached(rows)
}

pub fn message_by_id(conn: &Connection, id: &str) -> Result<Option<CachedMessage>> {
    let row = conn
        .query_row(
            "SELECT json, state, NULL FROM messages WHERE id = ?1",
            [id],
            cached_from_row,
        )
        .optional()?;
    Ok(to_cached(row.into_iter().collect())?.pop())
}

/// My message with `client_id` as cached (queued, sent or refused), with
/// the refusal when refused.
pub fn my_message(conn: &Connection, me: &str, client_id: &str) -> Result<Option<CachedMessage>> {
    let row = conn
        .query_row(
            "SELECT m.json, m.state, f.problem FROM messages m \
             LEFT JOIN failed_sends f ON f.client_id = m.client_id AND m.state = 'failed' \
             WHERE m.sender_id = ?1 AND m.client_id = ?2",
            [me, client_id],
            cached_from_row,
        )
        .optional()?;
    Ok(to_cached(row.into_iter().collect())?.pop())
}

/// The highest message seq cached for a chat.
pub fn last_seq(conn: &Connection, chat_id: &str) -> Result<u64> {
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(seq), 0) FROM messages WHERE chat_id = ?1",
        [chat_id],
        |r| r.get::<_, i64>(0),
    )? as u64)
}

/// Stores a chat as the server sent it (a listing, an open, a refresh).
/// Messages it says I cleared (on any device) leave the cache too: a
/// profile that learns of a clear this way rather than from `chat.cleared`
/// (a CLI without a realtime loop, a resync) must not go on showing them.
///
/// A copy older than the cached one in some way (fetched before a
/// `chat.read`, `chat.cleared` or new message came as an event, stored
/// after it) does not take it back: the watermarks and the last message
/// keep the furthest of the two, and the unread count is the cache's when
/// the cache is ahead (it counted what came since).
pub fn store_server_chat(conn: &Connection, c: &Chat) -> Result<()> {
    let mut c = c.clone();
    if let Some(cached) = chat(conn, &c.id)? {
        let seq = |m: &Option<Message>| m.as_ref().map_or(0, |m| m.seq);
        c.cleared_up_to_seq = c.cleared_up_to_seq.max(cached.cleared_up_to_seq);
        // A cached last message the (merged) clear took away is not ahead:
        // the server hides it, rightly.
        let last_ahead = seq(&cached.last_message) > seq(&c.last_message)
            && seq(&cached.last_message) > c.cleared_up_to_seq;
        let read_ahead = cached.read_up_to_seq > c.read_up_to_seq;
        if read_ahead || last_ahead {
            c.unread_count = cached.unread_count;
        }
        c.read_up_to_seq = c.read_up_to_seq.max(cached.read_up_to_seq);
        if last_ahead {
            c.last_message = cached.last_message;
            c.updated_at = c.updated_at.max(cached.updated_at);
        }
    }
    if c.last_message
        .as_ref()
        .is_some_and(|m| m.seq <= c.cleared_up_to_seq)
    {
        c.last_message = None;
    }
    if c.cleared_up_to_seq > 0 {
        conn.execute(
            "DELETE FROM messages WHERE chat_id = ?1 AND seq > 0 AND seq <= ?2",
            params![c.id, sql_seq(c.cleared_up_to_seq)],
        )?;
    }
    upsert_chat(conn, &c)
}

/// Forgets a chat and the messages of it the server has (a resync stores
/// the server's afresh); what is queued or refused here stays.
pub fn forget_chat(conn: &Connection, id: &str) -> Result<()> {
    conn.execute("DELETE FROM messages WHERE chat_id = ?1 AND seq > 0", [id])?;
    conn.execute("DELETE FROM chats WHERE id = ?1", [id])?;
    Ok(())
}

/// Stores a chat (the cache's own changes to it go through here too).
pub fn upsert_chat(conn: &Connection, c: &Chat) -> Result<()> {
    conn.execute(
        "INSERT INTO chats (id, json, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (id) DO UPDATE SET json = excluded.json, updated_at = excluded.updated_at",
        params![c.id, json(c)?, c.updated_at.to_rfc3339()],
    )?;
    Ok(())
}

pub fn chat(conn: &Connection, id: &str) -> Result<Option<Chat>> {
    conn.query_row("SELECT json FROM chats WHERE id = ?1", [id], |r| {
        r.get::<_, String>(0)
    })
    .optional()?
    .map(|j| parse(&j))
    .transpose()
}

pub fn chats(conn: &Connection) -> Result<Vec<Chat>> {
    let mut stmt = conn.prepare("SELECT json FROM chats ORDER BY updated_at DESC")?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    rows.iter().map(|j| parse(j)).collect()
}

pub fn replace_contacts(conn: &Connection, contacts: &[Contact]) -> Result<()> {
    conn.execute("DELETE FROM contacts", [])?;
    for c in contacts {
        upsert_contact(conn, c)?;
    }
    Ok(())
}

pub fn upsert_contact(conn: &Connection, c: &Contact) -> Result<()> {
    conn.execute(
        "INSERT INTO contacts (user_id, json) VALUES (?1, ?2) ON CONFLICT (user_id) DO UPDATE SET json = excluded.json",
        params![c.user.id.as_str(), json(c)?],
    )?;
    Ok(())
}

pub fn contacts(conn: &Connection) -> Result<Vec<Contact>> {
    let mut stmt = conn.prepare("SELECT json FROM contacts ORDER BY user_id")?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut out: Vec<Contact> = rows.iter().map(|j| parse(j)).collect::<Result<_>>()?;
    out.sort_by_key(|c| c.user.display_name.to_lowercase());
    Ok(out)
}

pub fn replace_requests(
    conn: &Connection,
    incoming: &[ConnectionRequest],
    outgoing: &[ConnectionRequest],
) -> Result<()> {
    conn.execute("DELETE FROM requests", [])?;
    for r in incoming {
        upsert_request(conn, r, true)?;
    }
    for r in outgoing {
        upsert_request(conn, r, false)?;
    }
    Ok(())
}

pub fn upsert_request(conn: &Connection, r: &ConnectionRequest, incoming: bool) -> Result<()> {
    conn.execute(
        "INSERT INTO requests (id, incoming, json) VALUES (?1, ?2, ?3) \
         ON CONFLICT (id) DO UPDATE SET json = excluded.json",
        params![r.id, incoming, json(r)?],
    )?;
    Ok(())
}

pub fn requests(conn: &Connection, incoming: bool) -> Result<Vec<ConnectionRequest>> {
    let mut stmt = conn.prepare("SELECT json FROM requests WHERE incoming = ?1")?;
    let rows: Vec<String> = stmt
        .query_map([incoming], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    rows.iter().map(|j| parse(j)).collect()
}

pub fn remove_request(conn: &Connection, id: &str) -> Result<()> {
    conn.execute("DELETE FROM requests WHERE id = ?1", [id])?;
    Ok(())
}

/// Keeps what the server answered to an upload, for [`enqueue`]. Entries
/// older than the server keeps an unsent upload (7 days) go.
pub fn remember_upload(
    conn: &Connection,
    att: &parley_protocol::Attachment,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let now = now.timestamp_millis();
    conn.execute(
        "DELETE FROM uploads WHERE created_at < ?1",
        [now - 7 * 86_400_000],
    )?;
    conn.execute(
        "INSERT OR REPLACE INTO uploads (id, json, created_at) VALUES (?1, ?2, ?3)",
        params![att.id, json(att)?, now],
    )?;
    Ok(())
}

/// Queues a message: a pending copy shown at once (with the attachments
/// this profile uploaded, as far as it remembers them), and an outbox entry.
pub fn enqueue(
    conn: &mut Connection,
    me: &str,
    item: &OutboxItem,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<CachedMessage> {
    let mut attachments = Vec::with_capacity(item.attachment_ids.len());
    for id in &item.attachment_ids {
        let known = conn
            .query_row("SELECT json FROM uploads WHERE id = ?1", [id], |r| {
                r.get::<_, String>(0)
            })
            .optional()?;
        if let Some(j) = known {
            attachments.push(parse(&j)?);
        }
    }
    let message = Message {
        id: String::new(),
        chat_id: item.chat_id.clone(),
        seq: 0,
        sender_id: UserId(me.to_owned()),
        client_id: item.client_id.clone(),
        body: item.body.clone(),
        reply_to: item.reply_to.clone(),
        attachments,
        reactions: Default::default(),
        created_at: now,
        edited_at: None,
        deleted: false,
        status: MessageStatus::Sent,
        forwarded: item.forwarded,
    };
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO outbox (client_id, chat_id, body, reply_to, attachment_ids, created_at, forwarded) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![item.client_id, item.chat_id, item.body, item.reply_to, json(&item.attachment_ids)?, now.timestamp_millis(), item.forwarded],
    )?;
    tx.execute(
        "INSERT INTO messages (sender_id, client_id, chat_id, id, seq, state, json) VALUES (?1, ?2, ?3, NULL, 0, 'pending', ?4)",
        params![me, item.client_id, item.chat_id, json(&message)?],
    )?;
    tx.commit()?;
    Ok(CachedMessage {
        message,
        state: LocalState::Pending,
        failure: None,
    })
}

/// How many of `me`'s messages never reached the server (queued, or
/// refused for good): what a sign-out, which wipes the cache, would lose.
pub fn unsent_count(conn: &Connection, me: &str) -> Result<u64> {
    Ok(conn
        .prepare_cached(
            "SELECT COUNT(*) FROM messages WHERE sender_id = ?1 AND state IN ('pending', 'failed')",
        )?
        .query_row([me], |r| r.get::<_, i64>(0))? as u64)
}

const OUTBOX_COLUMNS: &str =
    "client_id, chat_id, body, reply_to, attachment_ids, attempts, forwarded";

/// The queued messages, oldest first.
pub fn outbox(conn: &Connection) -> Result<Vec<OutboxItem>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY created_at, rowid"
    ))?;
    outbox_items(&mut stmt, [])
}

/// The oldest queued message not of a `held` chat: the next one a socket
/// sends (one at a time, so reading the whole queue for each would cost a
/// long queue quadratic reads).
pub fn next_outbox(conn: &Connection, held: &[String]) -> Result<Option<OutboxItem>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox \
         WHERE chat_id NOT IN (SELECT value FROM json_each(?1)) \
         ORDER BY created_at, rowid LIMIT 1"
    ))?;
    Ok(outbox_items(&mut stmt, [json(&held)?])?.pop())
}

fn outbox_items(
    stmt: &mut rusqlite::CachedStatement<'_>,
    params: impl rusqlite::Params,
) -> Result<Vec<OutboxItem>> {
    let rows = stmt.query_map(params, |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, bool>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (client_id, chat_id, body, reply_to, ids, attempts, forwarded) = row?;
        out.push(OutboxItem {
            client_id,
            chat_id,
            body,
            reply_to,
            attachment_ids: parse(&ids)?,
            attempts: attempts as u32,
            forwarded,
        });
    }
    Ok(out)
}

/// The server stored the message: drop it from the outbox, store the real one.
pub fn outbox_done(conn: &mut Connection, m: &Message) -> Result<()> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM outbox WHERE client_id = ?1", [&m.client_id])?;
    upsert_message(&tx, m)?;
    tx.commit()?;
    Ok(())
}

/// Counts a failed attempt of a message that stays queued.
pub fn outbox_attempt_failed(conn: &Connection, client_id: &str, error: &str) -> Result<()> {
    conn.execute(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE client_id = ?1",
        params![client_id, error],
    )?;
    Ok(())
}

/// The server refused a queued message for good: it leaves the outbox for
/// `failed_sends` (with the refusal), where it can be retried or discarded,
/// and shows as failed.
pub fn outbox_refused(
    conn: &mut Connection,
    me: &str,
    client_id: &str,
    problem: &parley_protocol::Problem,
) -> Result<()> {
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT OR REPLACE INTO failed_sends \
         (client_id, chat_id, body, reply_to, attachment_ids, created_at, problem, forwarded) \
         SELECT client_id, chat_id, body, reply_to, attachment_ids, created_at, ?2, forwarded \
         FROM outbox WHERE client_id = ?1",
        params![client_id, json(problem)?],
    )?;
    tx.execute("DELETE FROM outbox WHERE client_id = ?1", [client_id])?;
    tx.execute(
        "UPDATE messages SET state = 'failed' WHERE sender_id = ?1 AND client_id = ?2",
        params![me, client_id],
    )?;
    tx.commit()?;
    Ok(())
}

/// Puts a failed message back in the outbox (same client id: the server
/// stores it at most once), pending again. False when there is no such
/// failed message (a failure from before failures were kept cannot be
/// retried: its attachments are not known).
pub fn retry_failed(conn: &mut Connection, me: &str, client_id: &str) -> Result<bool> {
    let tx = conn.transaction()?;
    let moved = tx.execute(
        "INSERT INTO outbox (client_id, chat_id, body, reply_to, attachment_ids, created_at, forwarded) \
         SELECT client_id, chat_id, body, reply_to, attachment_ids, created_at, forwarded \
         FROM failed_sends WHERE client_id = ?1",
        [client_id],
    )?;
    if moved == 0 {
        return Ok(false);
    }
    tx.execute("DELETE FROM failed_sends WHERE client_id = ?1", [client_id])?;
    tx.execute(
        "UPDATE messages SET state = 'pending' WHERE sender_id = ?1 AND client_id = ?2",
        params![me, client_id],
    )?;
    tx.commit()?;
    Ok(true)
}

/// Drops a failed message for good. False when there is none with that
/// client id.
pub fn discard_failed(conn: &mut Connection, me: &str, client_id: &str) -> Result<bool> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM failed_sends WHERE client_id = ?1", [client_id])?;
    let gone = tx.execute(
        "DELETE FROM messages WHERE sender_id = ?1 AND client_id = ?2 AND state = 'failed'",
        params![me, client_id],
    )?;
    tx.commit()?;
    Ok(gone > 0)
}

/// Whether I cleared the message at `seq` of a chat from my history (on
/// any of my devices): an event about it, replayed from before the clear,
/// must not bring it back.
fn cleared(conn: &Connection, chat_id: &str, seq: u64) -> Result<bool> {
    Ok(chat(conn, chat_id)?.is_some_and(|c| seq <= c.cleared_up_to_seq))
}

/// A seq as SQLite stores it (past `i64::MAX` means past everything).
fn sql_seq(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// I cleared a chat's history up to `up_to` on one of my devices
/// (`chat.cleared`, with my unread count right after it): drop those
/// messages (not those still waiting for a seq: queued or refused).
pub fn clear_chat(conn: &Connection, chat_id: &str, up_to: u64, unread_count: u64) -> Result<()> {
    conn.execute(
        "DELETE FROM messages WHERE chat_id = ?1 AND seq > 0 AND seq <= ?2",
        params![chat_id, sql_seq(up_to)],
    )?;
    let Some(mut chat) = chat(conn, chat_id)? else {
        return Ok(());
    };
    if up_to <= chat.cleared_up_to_seq {
        return Ok(());
    }
    chat.cleared_up_to_seq = up_to;
    if chat.last_message.as_ref().is_some_and(|l| l.seq <= up_to) {
        chat.last_message = None;
    }
    chat.unread_count = unread_count;
    upsert_chat(conn, &chat)
}

fn update_message_json(conn: &Connection, id: &str, f: impl FnOnce(&mut Message)) -> Result<()> {
    let Some(j) = conn
        .query_row("SELECT json FROM messages WHERE id = ?1", [id], |r| {
            r.get::<_, String>(0)
        })
        .optional()?
    else {
        return Ok(());
    };
    let mut m: Message = parse(&j)?;
    f(&mut m);
    conn.execute(
        "UPDATE messages SET json = ?2 WHERE id = ?1",
        params![id, json(&m)?],
    )?;
    Ok(())
}

/// A chat's unread count once read up to its (new) read watermark, from
/// `was` (the watermark before) and `counted` (the unread messages the
/// cache holds past the new one). The cache may hold only part of the
/// history (messages that came while no realtime loop ran are counted by
/// the server's copy of the chat, not cached), so the count is kept between
/// what the read can have taken off (at most one per seq read) and what
/// can be left (at most one per seq after it).
fn unread_after_read(chat: &Chat, was: u64, counted: u64) -> u64 {
    let read = chat.read_up_to_seq;
    let last = chat.last_message.as_ref().map_or(0, |m| m.seq);
    let at_most = chat.unread_count.min(last.saturating_sub(read));
    let at_least = chat.unread_count.saturating_sub(read.saturating_sub(was));
    counted.clamp(at_least.min(at_most), at_most)
}

/// Applies one event and moves the cursor, in one transaction.
pub fn apply(conn: &mut Connection, seq: u64, event: &Event) -> Result<()> {
    let tx = conn.transaction()?;
    // Already applied (another process of this profile got it first, or a
    // replay overlaps): counters such as unread must not move twice.
    if seq <= cursor(&tx)? {
        return Ok(());
    }
    let me = my_id(&tx)?.unwrap_or_default();
    match event {
        Event::MessageCreated { message }
        | Event::MessageUpdated { message }
        | Event::MessageDeleted { message }
            if cleared(&tx, &message.chat_id, message.seq)? => {}
        Event::MessageCreated { message }
        | Event::MessageUpdated { message }
        | Event::MessageDeleted { message } => {
            upsert_message(&tx, message)?;
            tx.execute(
                "DELETE FROM outbox WHERE client_id = ?1 AND ?2 = ?3",
                params![message.client_id, message.sender_id.as_str(), me],
            )?;
            if let Some(mut chat) = chat(&tx, &message.chat_id)? {
                let last = chat.last_message.as_ref().map_or(0, |l| l.seq);
                if last <= message.seq {
                    chat.last_message = Some(message.clone());
                }
                if matches!(event, Event::MessageCreated { .. }) {
                    chat.updated_at = chat.updated_at.max(message.created_at);
                    // Not counted when the chat's last message is this one
                    // or later: the copy of the chat cached since (a
                    // listing at start-up, before the replay of what came
                    // while offline) counted it already, or this event was
                    // applied before.
                    if message.sender_id.as_str() != me
                        && message.seq > chat.read_up_to_seq
                        && message.seq > last
                    {
                        chat.unread_count += 1;
                    }
                }
                upsert_chat(&tx, &chat)?;
            }
        }
        Event::ReactionChanged {
            message_id,
            reactions,
            ..
        } => {
            update_message_json(&tx, message_id, |m| m.reactions = reactions.clone())?;
        }
        Event::ReceiptUpdated {
            chat_id,
            user_id,
            delivered_up_to_seq,
            read_up_to_seq,
        } => {
            if user_id.as_str() != me {
                tx.execute(
                    "UPDATE messages SET state = CASE WHEN seq <= ?3 THEN 'read' WHEN seq <= ?2 THEN 'delivered' ELSE state END \
                     WHERE chat_id = ?1 AND sender_id = ?4 AND seq > 0 AND state IN ('sent', 'delivered')",
                    params![chat_id, *delivered_up_to_seq as i64, *read_up_to_seq as i64, me],
                )?;
            }
        }
        Event::ChatRead { chat_id, up_to_seq } => {
            if let Some(mut chat) = chat(&tx, chat_id)? {
                let was = chat.read_up_to_seq;
                chat.read_up_to_seq = was.max(*up_to_seq);
                let counted: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM messages WHERE chat_id = ?1 AND seq > ?2 AND sender_id != ?3",
                    params![chat_id, chat.read_up_to_seq as i64, me],
                    |r| r.get(0),
                )?;
                chat.unread_count = unread_after_read(&chat, was, counted as u64);
                upsert_chat(&tx, &chat)?;
            }
        }
        Event::ChatMuted { chat_id, mute } => {
            if let Some(mut chat) = chat(&tx, chat_id)? {
                chat.mute = *mute;
                upsert_chat(&tx, &chat)?;
            }
        }
        Event::ChatCleared {
            chat_id,
            up_to_seq,
            unread_count,
        } => clear_chat(&tx, chat_id, *up_to_seq, *unread_count)?,
        Event::ChatPinned { chat_id, pinned_at } => {
            if let Some(mut chat) = chat(&tx, chat_id)? {
                chat.pinned_at = *pinned_at;
                upsert_chat(&tx, &chat)?;
            }
        }
        // Also how my other devices hear that I declined one.
        Event::ConnectionRequested { request } if request.status != RequestStatus::Pending => {
            remove_request(&tx, &request.id)?;
        }
        Event::ConnectionRequested { request } => {
            upsert_request(&tx, request, request.to.id.as_str() == me)?;
        }
        Event::ConnectionCreated { connection } => {
            upsert_contact(&tx, connection)?;
            let peer = connection.user.id.as_str();
            let ids: Vec<String> = {
                let mut stmt = tx.prepare("SELECT id, json FROM requests")?;
                let rows: Vec<(String, String)> = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                rows.into_iter()
                    .filter(|(_, j)| {
                        parse::<ConnectionRequest>(j)
                            .is_ok_and(|r| r.from.id.as_str() == peer || r.to.id.as_str() == peer)
                    })
                    .map(|(id, _)| id)
                    .collect()
            };
            for id in ids {
                remove_request(&tx, &id)?;
            }
        }
        Event::ConnectionRemoved { user_id } => {
            tx.execute(
                "DELETE FROM contacts WHERE user_id = ?1",
                [user_id.as_str()],
            )?;
        }
        Event::ProfileUpdated { user } => {
            if user.id.as_str() == me {
                set_kv(&tx, "me_user", &json(user)?)?;
            }
            if let Some(j) = tx
                .query_row(
                    "SELECT json FROM contacts WHERE user_id = ?1",
                    [user.id.as_str()],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
            {
                let mut c: Contact = parse(&j)?;
                c.user = user.clone();
                upsert_contact(&tx, &c)?;
            }
            let ids: Vec<String> = {
                let mut stmt = tx.prepare("SELECT id FROM chats")?;
                let rows: Vec<String> = stmt
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                rows
            };
            for id in ids {
                if let Some(mut c) = chat(&tx, &id)? {
                    if c.peer.id == user.id {
                        c.peer = user.clone();
                        upsert_chat(&tx, &c)?;
                    }
                }
            }
        }
        Event::DeviceAdded { .. }
        | Event::DeviceRevoked { .. }
        | Event::ContactCodeConsumed { .. } => {}
    }
    advance_cursor(&tx, seq)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` on a fresh cache whose owner is "me", with the time now.
    fn as_me(f: impl FnOnce(&mut Connection, chrono::DateTime<chrono::Utc>) -> Result<()>) {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("c.db")).unwrap();
        let now = chrono::Utc::now();
        cache
            .with(|c| {
                set_kv(c, "user_id", "me")?;
                f(c, now)
            })
            .unwrap();
    }

    /// The chat "chat" with "peer", empty, as the server would list it.
    fn chat_with_peer(now: chrono::DateTime<chrono::Utc>) -> Chat {
        Chat {
            id: "chat".into(),
            peer: parley_protocol::User {
                id: UserId("peer".into()),
                display_name: "Peer".into(),
                username: None,
                bio: String::new(),
                status_text: String::new(),
                avatar_url: None,
                created_at: now,
            },
            last_message: None,
            unread_count: 0,
            read_up_to_seq: 0,
            updated_at: now,
            mute: None,
            pinned_at: None,
            cleared_up_to_seq: 0,
        }
    }

    /// Message `seq` of "chat", from "peer" (id `m{seq}`, client id `k{seq}`).
    fn from_peer(seq: u64, body: &str, now: chrono::DateTime<chrono::Utc>) -> Message {
        Message {
            id: format!("m{seq}"),
            chat_id: "chat".into(),
            seq,
            sender_id: UserId("peer".into()),
            client_id: format!("k{seq}"),
            body: body.into(),
            reply_to: None,
            attachments: vec![],
            reactions: Default::default(),
            created_at: now,
            edited_at: None,
            deleted: false,
            status: MessageStatus::Sent,
            forwarded: false,
        }
    }

    #[test]
    fn pending_then_confirmed_then_read() {
        as_me(|c, _| {
            let item = OutboxItem {
                client_id: "k1".into(),
                chat_id: "chat".into(),
                body: "hi".into(),
                reply_to: None,
                attachment_ids: vec![],
                attempts: 0,
                forwarded: false,
            };
            let p = enqueue(c, "me", &item, chrono::Utc::now())?;
            assert_eq!(p.state, LocalState::Pending);
            assert_eq!(outbox(c)?.len(), 1);
            let mut m = p.message.clone();
            m.id = "m1".into();
            m.seq = 1;
            apply(c, 7, &Event::MessageCreated { message: m.clone() })?;
            assert!(outbox(c)?.is_empty());
            let msgs = messages(c, "chat", None, 50)?;
            assert_eq!(msgs.len(), 1);
            assert_eq!(msgs[0].state, LocalState::Sent);
            apply(
                c,
                8,
                &Event::ReceiptUpdated {
                    chat_id: "chat".into(),
                    user_id: UserId("peer".into()),
                    delivered_up_to_seq: 1,
                    read_up_to_seq: 1,
                },
            )?;
            assert_eq!(messages(c, "chat", None, 50)?[0].state, LocalState::Read);
            // A copy fetched before the receipt, stored after it.
            m.status = MessageStatus::Delivered;
            upsert_message(c, &m)?;
            assert_eq!(messages(c, "chat", None, 50)?[0].state, LocalState::Read);
            assert_eq!(cursor(c)?, 8);
            Ok(())
        });
    }

    /// An event applied twice (two processes of one profile, an overlapping
    /// replay) counts once.
    #[test]
    fn applying_an_event_again_changes_nothing() {
        as_me(|c, now| {
            upsert_chat(c, &chat_with_peer(now))?;
            let message = from_peer(1, "hi", now);
            let ev = Event::MessageCreated { message };
            apply(c, 5, &ev)?;
            apply(c, 5, &ev)?;
            apply(c, 4, &ev)?;
            assert_eq!(chat(c, "chat")?.unwrap().unread_count, 1);
            assert_eq!(cursor(c)?, 5);
            Ok(())
        });
    }

    /// "chat" as a listing shows it with the peer's messages 1 and 2 unread.
    fn listed_with_two_unread(now: chrono::DateTime<chrono::Utc>) -> Chat {
        Chat {
            last_message: Some(from_peer(2, "second", now)),
            unread_count: 2,
            ..chat_with_peer(now)
        }
    }

    /// A read on another device of part of what the server counted, with
    /// those messages not cached here: the count drops by what was read,
    /// not to what the cache happens to hold.
    #[test]
    fn a_read_elsewhere_leaves_the_rest_unread_though_not_cached() {
        as_me(|c, now| {
            let listed = Chat {
                last_message: Some(from_peer(10, "tenth", now)),
                unread_count: 5,
                read_up_to_seq: 5,
                ..chat_with_peer(now)
            };
            store_server_chat(c, &listed)?;
            let mut read = |seq: u64, up_to_seq: u64| {
                let ev = Event::ChatRead {
                    chat_id: "chat".into(),
                    up_to_seq,
                };
                apply(c, seq, &ev)?;
                Ok::<_, ClientError>(chat(c, "chat")?.unwrap().unread_count)
            };
            assert_eq!(read(1, 7)?, 3);
            assert_eq!(read(2, 10)?, 0);
            Ok(())
        });
    }

    /// The chat list read at start-up counts what came while offline; the
    /// replay of those messages that follows does not count them again.
    #[test]
    fn messages_a_listed_chat_counted_are_not_counted_again() {
        as_me(|c, now| {
            let listed = listed_with_two_unread(now);
            store_server_chat(c, &listed)?;
            for seq in 1..=2 {
                let message = from_peer(seq, "replayed", now);
                apply(c, 10 + seq, &Event::MessageCreated { message })?;
            }
            assert_eq!(chat(c, "chat")?.unwrap().unread_count, 2);
            let message = from_peer(3, "new", now);
            apply(c, 13, &Event::MessageCreated { message })?;
            let after = chat(c, "chat")?.unwrap();
            assert_eq!(after.unread_count, 3);
            assert_eq!(after.last_message.unwrap().seq, 3);
            Ok(())
        });
    }

    /// Copies fetched before an event and stored after it do not undo it:
    /// a chat listed before I read it (here or elsewhere), a history page
    /// fetched before a message was deleted or edited.
    #[test]
    fn an_older_copy_does_not_undo_what_an_event_did() {
        as_me(|c, now| {
            let listed = listed_with_two_unread(now);
            store_server_chat(c, &listed)?;
            apply(
                c,
                1,
                &Event::ChatRead {
                    chat_id: "chat".into(),
                    up_to_seq: 2,
                },
            )?;
            apply(
                c,
                2,
                &Event::MessageCreated {
                    message: from_peer(3, "third", now),
                },
            )?;
            // The listing from before all that, answered late.
            store_server_chat(c, &listed)?;
            let shown = chat(c, "chat")?.unwrap();
            assert_eq!(
                (
                    shown.read_up_to_seq,
                    shown.unread_count,
                    shown.last_message.unwrap().seq
                ),
                (2, 1, 3)
            );
            // A later listing is the truth again.
            let later = Chat {
                last_message: Some(from_peer(3, "third", now)),
                unread_count: 1,
                read_up_to_seq: 2,
                ..chat_with_peer(now)
            };
            store_server_chat(c, &later)?;
            assert_eq!(chat(c, "chat")?.unwrap().unread_count, 1);
            let original = from_peer(3, "third", now);
            let deleted = Message {
                body: String::new(),
                deleted: true,
                ..original.clone()
            };
            apply(c, 3, &Event::MessageDeleted { message: deleted })?;
            upsert_message(c, &original)?;
            let kept = message_by_id(c, "m3")?.unwrap().message;
            assert!(kept.deleted && kept.body.is_empty(), "{kept:?}");

            let edited = Message {
                body: "second, edited".into(),
                edited_at: Some(now + chrono::Duration::seconds(5)),
                ..from_peer(2, "second", now)
            };
            apply(c, 4, &Event::MessageUpdated { message: edited })?;
            upsert_message(c, &from_peer(2, "second", now))?;
            assert_eq!(
                message_by_id(c, "m2")?.unwrap().message.body,
                "second, edited"
            );
            // Cleared here up to 3: the server's copy (no last message,
            // nothing unread) is right, not the cache's older one.
            let cleared = Chat {
                cleared_up_to_seq: 3,
                read_up_to_seq: 3,
                ..chat_with_peer(now)
            };
            store_server_chat(c, &cleared)?;
            let shown = chat(c, "chat")?.unwrap();
            assert!(shown.last_message.is_none(), "{shown:?}");
            assert_eq!(shown.unread_count, 0);
            store_server_chat(c, &later)?;
            assert!(chat(c, "chat")?.unwrap().last_message.is_none());
            Ok(())
        });
    }

    /// Closed (signing out), the file is let go and the cache answers as an
    /// empty one: a task still running finds nothing, and writes nowhere.
    #[test]
    fn a_closed_cache_lets_its_file_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let cache = Cache::open(&path).unwrap();
        let now = chrono::Utc::now();
        cache
            .with(|c| upsert_chat(c, &chat_with_peer(now)))
            .unwrap();
        let clone = cache.clone();
        cache.close().unwrap();
        assert!(clone.with(|c| chats(c)).unwrap().is_empty());
        clone
            .with(|c| upsert_chat(c, &chat_with_peer(now)))
            .unwrap();
        // The file kept what it had, and nothing since.
        let reopened = Cache::open(&path).unwrap();
        assert_eq!(reopened.with(|c| chats(c)).unwrap().len(), 1);
    }

    /// A cache made before outbox entries knew they were forwarded opens,
    /// keeps what was queued, and queues more.
    #[test]
    fn an_older_cache_file_is_upgraded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(
                "CREATE TABLE outbox (client_id TEXT PRIMARY KEY, chat_id TEXT NOT NULL, \
                 body TEXT NOT NULL, reply_to TEXT, attachment_ids TEXT NOT NULL, \
                 created_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT) STRICT;
                 CREATE TABLE failed_sends (client_id TEXT PRIMARY KEY, chat_id TEXT NOT NULL, \
                 body TEXT NOT NULL, reply_to TEXT, attachment_ids TEXT NOT NULL, \
                 created_at INTEGER NOT NULL, problem TEXT NOT NULL) STRICT;
                 INSERT INTO outbox (client_id, chat_id, body, attachment_ids, created_at) \
                 VALUES ('k0', 'chat', 'queued before', '[]', 1);",
            )
            .unwrap();
        }
        let cache = Cache::open(&path).unwrap();
        cache
            .with(|c| {
                let item = OutboxItem {
                    client_id: "k1".into(),
                    chat_id: "chat".into(),
                    body: "a copy".into(),
                    reply_to: None,
                    attachment_ids: vec![],
                    attempts: 0,
                    forwarded: true,
                };
                enqueue(c, "me", &item, chrono::Utc::now())?;
                let queued = outbox(c)?;
                assert_eq!(queued.len(), 2);
                assert_eq!((queued[0].forwarded, queued[1].forwarded), (false, true));
                Ok(())
            })
            .unwrap();
        drop(cache);
        Cache::open(&path).unwrap();
    }

    /// A queued message shows the attachments this profile uploaded for it
    /// (an id it does not know is left out rather than failing the send);
    /// what was uploaded more than 7 days ago is forgotten.
    #[test]
    fn a_queued_message_shows_its_uploaded_attachments() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("c.db")).unwrap();
        let att = |id: &str| parley_protocol::Attachment {
            id: id.into(),
            mime: "image/png".into(),
            size: 10,
            sha256: "00".repeat(32),
            name: Some(format!("{id}.png")),
            width: Some(2),
            height: Some(2),
        };
        let now = chrono::Utc::now();
        cache
            .with(|c| {
                remember_upload(c, &att("old"), now - chrono::Duration::days(8))?;
                remember_upload(c, &att("a1"), now)?;
                let item = OutboxItem {
                    client_id: "k1".into(),
                    chat_id: "chat".into(),
                    body: String::new(),
                    reply_to: None,
                    attachment_ids: vec!["a1".into(), "unknown".into(), "old".into()],
                    attempts: 0,
                    forwarded: false,
                };
                let p = enqueue(c, "me", &item, now)?;
                assert_eq!(p.message.attachments, [att("a1")]);
                let shown = messages(c, "chat", None, 50)?;
                assert_eq!(shown[0].message.attachments, [att("a1")]);
                assert_eq!(outbox(c)?[0].attachment_ids.len(), 3, "all sent");
                Ok(())
            })
            .unwrap();
    }

    /// `chat.cleared` drops the messages up to its seq, not those still
    /// queued (no seq yet) or after it; the list's last message and the
    /// unread count follow; an event about a cleared message, replayed from
    /// before the clear, does not bring it back.
    #[test]
    fn the_next_queued_message_skips_held_chats_and_reads_one_row_in_order() {
        as_me(|c, now| {
            let item = |n: u32, chat: &str| OutboxItem {
                client_id: format!("k{n}"),
                chat_id: chat.into(),
                body: format!("m{n}"),
                reply_to: None,
                attachment_ids: vec![],
                attempts: 0,
                forwarded: false,
            };
            // Queued in this order; k1 and k2 in the same millisecond.
            for (n, chat, ms) in [(1, "a", 0), (2, "b", 0), (3, "a", 1), (4, "c", 2)] {
                enqueue(
                    c,
                    "me",
                    &item(n, chat),
                    now + chrono::Duration::milliseconds(ms),
                )?;
            }
            let next = |held: &[&str]| -> Result<Option<String>> {
                let held: Vec<String> = held.iter().map(|h| h.to_string()).collect();
                Ok(next_outbox(c, &held)?.map(|i| i.client_id))
            };
            assert_eq!(next(&[])?.as_deref(), Some("k1"));
            assert_eq!(next(&["a"])?.as_deref(), Some("k2"));
            assert_eq!(next(&["a", "b"])?.as_deref(), Some("k4"));
            assert_eq!(next(&["a", "b", "c"])?, None);
            // A chat id with a quote in it is only a string.
            assert_eq!(next(&["a\"'", "b"])?.as_deref(), Some("k1"));
            let same: Vec<String> = outbox(c)?.into_iter().map(|i| i.client_id).collect();
            assert_eq!(same, ["k1", "k2", "k3", "k4"]);
            // The order comes from the index, not from sorting the queue.
            let plan: Vec<String> = c
                .prepare(&format!(
                    "EXPLAIN QUERY PLAN SELECT {OUTBOX_COLUMNS} FROM outbox \
                     WHERE chat_id NOT IN (SELECT value FROM json_each(?1)) \
                     ORDER BY created_at, rowid LIMIT 1"
                ))?
                .query_map(["[]"], |r| r.get::<_, String>(3))?
                .collect::<rusqlite::Result<_>>()?;
            assert!(plan.iter().any(|p| p.contains("outbox_order")), "{plan:?}");
            assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "{plan:?}");
            Ok(())
        });
    }

    #[test]
    fn a_cache_is_let_go_only_once_no_connection_has_it_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let cache = Cache::open(&path).unwrap();
        cache.with(|c| set_kv(c, "user_id", "me")).unwrap();
        assert!(matches!(inspect(&path).unwrap(), Found::Cache(_)));
        let busy = retire(&path).unwrap_err().to_string();
        assert!(busy.contains("in use"), "{busy}");
        assert!(ensure_unused(&path).is_err());
        cache.close().unwrap();
        ensure_unused(&path).unwrap();
        retire(&path).unwrap();
        // One file now: nothing else to move with it.
        assert!(!dir.path().join("c.db-wal").exists());
        assert!(!dir.path().join("c.db-shm").exists());
        let again = Cache::open(&path).unwrap();
        assert_eq!(again.with(|c| my_id(c)).unwrap().as_deref(), Some("me"));
        drop(again);
        // Emptied in place while another connection has it open.
        let other = Cache::open(&path).unwrap();
        empty_in_place(&path).unwrap();
        assert_eq!(other.with(|c| my_id(c)).unwrap(), None);
        drop(other);
        // A damaged file is unreadable, and nothing can hold it open.
        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, vec![7u8; 4096]).unwrap();
        assert!(matches!(inspect(&junk).unwrap(), Found::Unreadable(_)));
        ensure_unused(&junk).unwrap();
    }

    #[test]
    fn a_cleared_chat_keeps_what_is_queued_and_newer() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("c.db")).unwrap();
        let now = chrono::Utc::now();
        let msg = |seq: u64, body: &str| from_peer(seq, body, now);
        let bodies = |c: &Connection| -> Result<Vec<String>> {
            Ok(messages(c, "chat", None, 50)?
                .into_iter()
                .map(|m| m.message.body)
                .collect())
        };
        cache
            .with(|c| {
                set_kv(c, "user_id", "me")?;
                upsert_chat(c, &chat_with_peer(now))?;
                for seq in 1..=3 {
                    let message = msg(seq, &format!("peer {seq}"));
                    apply(c, seq, &Event::MessageCreated { message })?;
                }
                let item = OutboxItem {
                    client_id: "queued".into(),
                    chat_id: "chat".into(),
                    body: "not sent yet".into(),
                    reply_to: None,
                    attachment_ids: vec![],
                    attempts: 0,
                    forwarded: false,
                };
                enqueue(c, "me", &item, now)?;
                assert_eq!(chat(c, "chat")?.unwrap().unread_count, 3);

                let clear = |up_to_seq, unread_count| Event::ChatCleared {
                    chat_id: "chat".into(),
                    up_to_seq,
                    unread_count,
                };
                apply(c, 4, &clear(2, 1))?;
                assert_eq!(bodies(c)?, ["peer 3", "not sent yet"]);
                let listed = chat(c, "chat")?.unwrap();
                assert_eq!(listed.cleared_up_to_seq, 2);
                assert_eq!(listed.unread_count, 1);
                assert_eq!(listed.last_message.map(|m| m.seq), Some(3));

                let mut edited = msg(1, "peer 1, edited");
                edited.edited_at = Some(now);
                apply(c, 5, &Event::MessageUpdated { message: edited })?;
                assert_eq!(bodies(c)?, ["peer 3", "not sent yet"]);
                assert_eq!(cursor(c)?, 5, "stepped over, not stuck");

                apply(c, 6, &clear(3, 0))?;
                assert_eq!(bodies(c)?, ["not sent yet"]);
                let listed = chat(c, "chat")?.unwrap();
                assert_eq!((listed.unread_count, listed.last_message), (0, None));
                // An older clear changes nothing.
                apply(c, 7, &clear(1, 9))?;
                assert_eq!(chat(c, "chat")?.unwrap().cleared_up_to_seq, 3);
                assert_eq!(chat(c, "chat")?.unwrap().unread_count, 0);
                // A chat from the server that says how far I cleared (a
                // listing, not the event) takes those messages out too.
                let m4 = msg(4, "peer 4");
                apply(
                    c,
                    8,
                    &Event::MessageCreated {
                        message: m4.clone(),
                    },
                )?;
                let mut listed = chat(c, "chat")?.unwrap();
                listed.cleared_up_to_seq = 4;
                store_server_chat(c, &listed)?;
                assert_eq!(bodies(c)?, ["not sent yet"]);
                Ok(())
            })
            .unwrap();
    }
}
