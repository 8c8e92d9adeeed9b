//! The single writer: one thread, one connection, group commit.
//!
//! Jobs queue on a bounded channel (callers wait when it is full: backpressure
//! instead of unbounded memory). The thread takes every job waiting, up to
//! `MAX_BATCH`, runs each inside its own savepoint of one `BEGIN IMMEDIATE`
//! transaction, commits once, and only then answers the callers. So a caller
//! that gets `Ok` knows its change is durable, and a thousand concurrent sends
//! cost one fsync rather than a thousand.

use super::{checkpoint::RestartWanted, StoreError};
use rusqlite::Connection;
use std::panic::{catch_unwind, AssertUnwindSafe};
use tokio::sync::{mpsc, oneshot};

/// Jobs committed together at most. Bounds the latency one batch adds.
const MAX_BATCH: usize = 512;
/// Jobs that may wait for the writer before callers are made to wait.
const QUEUE_DEPTH: usize = 4096;

/// What a job hands back after running: whether to keep its savepoint, and how
/// to deliver its result once the batch's commit outcome is known.
struct Ran {
    keep: bool,
    deliver: Deliver,
}

/// Sends a job's result to its caller, given the batch's commit error if any.
type Deliver = Box<dyn FnOnce(Option<&StoreError>) + Send>;

type Job = Box<dyn FnOnce(&Connection) -> Ran + Send>;

enum Msg {
    Job(Job),
    /// Finish everything queued before this, checkpoint the WAL, then answer.
    Flush(oneshot::Sender<()>),
}

/// Handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
}

impl Writer {
    pub(super) fn start(conn: Connection, restart: RestartWanted) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("parley-sqlite-writer".into())
            .spawn(move || run(conn, rx, restart))?;
        Ok(Writer { tx })
    }

    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.write_then(f, |_: &T| {}).await
    }

    /// Like `write`, and runs `then` on the writer thread once the job's
    /// batch has committed, before the caller is answered. Jobs' `then` run in
    /// commit order, which the callers' tasks, woken in any order, would not
    /// keep.
    pub async fn write_then<T, E, F, H>(&self, f: F, then: H) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        H: FnOnce(&T) + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (done_tx, done_rx) = oneshot::channel::<Result<T, E>>();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            Ran {
                keep: result.is_ok(),
                deliver: Box::new(move |commit_error| {
                    let outcome = match commit_error {
                        None => {
                            if let Ok(value) = &result {
                                then(value);
                            }
                            result
                        }
                        Some(e) => {
                            Err(E::from(StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
                                Some(format!("batch commit failed: {e}")),
                            ))))
                        }
                    };
                    // The caller may have gone away (request cancelled): fine.
                    let _ = done_tx.send(outcome);
                }),
            }
        });
        self.tx
            .send(Msg::Job(job))
            .await
            .map_err(|_| E::from(StoreError::Closed))?;
        match done_rx.await {
            Ok(r) => r,
            Err(_) => Err(E::from(StoreError::Panicked)),
        }
    }

    /// Waits until every job queued so far is committed and the WAL is
    /// checkpointed. Used at shutdown.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

fn run(conn: Connection, mut rx: mpsc::Receiver<Msg>, restart: RestartWanted) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Job(j) => batch.push(j),
                Msg::Flush(f) => {
                    flushes.push(f);
                    break; // commit what came before the flush marker
                }
            }
            if batch.len() >= MAX_BATCH {
                break;
            }
            next = rx.try_recv().ok();
        }
        if !batch.is_empty() {
            commit_batch(&conn, &mut batch);
        }
        if restart.take() {
            super::checkpoint::catch_up(&conn);
        }
        if !flushes.is_empty() {
            if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
            for f in flushes.drain(..) {
                let _ = f.send(());
            }
        }
    }
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(error = %e, "final WAL checkpoint failed");
    }
    tracing::debug!("database writer stopped");
}

fn commit_batch(conn: &Connection, batch: &mut Vec<Job>) {
    let started = std::time::Instant::now();
    let jobs = batch.len();
    let mut ran: Vec<Ran> = Vec::with_capacity(batch.len());
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        let err = StoreError::Sqlite(e);
        tracing::error!(error = %err, "cannot begin write transaction");
        // Jobs never ran; dropping them drops their result senders, which their
        // callers see as a failed write.
        batch.clear();
        return;
    }
    for job in batch.drain(..) {
        if let Err(e) = exec(conn, "SAVEPOINT job") {
            tracing::error!(error = %e, "cannot open savepoint");
            continue;
        }
        match catch_unwind(AssertUnwindSafe(|| job(conn))) {
            Ok(r) => {
                // Prepared once and reused: this runs twice per job.
                let end = if r.keep {
                    exec(conn, "RELEASE job")
                } else {
                    exec(conn, "ROLLBACK TO job").and_then(|_| exec(conn, "RELEASE job"))
                };
                if let Err(e) = end {
                    tracing::error!(error = %e, "cannot close savepoint");
                }
                ran.push(r);
            }
            Err(_) => {
                tracing::error!("a database job panicked; its changes are rolled back");
                let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
            }
        }
    }
    // Work that is cheaper once per batch than once per job.
    if let Err(e) = super::messages::index_pending(conn) {
        tracing::error!(error = %e, "indexing new messages for search failed");
    }
    let commit = exec(conn, "COMMIT").map_err(StoreError::Sqlite);
    if let Err(e) = &commit {
        tracing::error!(error = %e, "batch commit failed");
        let _ = conn.execute_batch("ROLLBACK");
    }
    let err = commit.err();
    crate::metrics::get().observe_commit(jobs, started.elapsed());
    for r in ran {
        (r.deliver)(err.as_ref());
    }
}

/// Runs a cached statement that returns no rows.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}
