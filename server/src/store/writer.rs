//! The single writer: one thread, one connection, group commit.
//!
//! Jobs queue on a bounded channel (callers wait when it is full: backpressure
//! instead of unbounded memory). The thread takes every job waiting, up to
//! `MAX_BATCH`, runs each inside its own savepoint of one `BEGIN IMMEDIATE`
//! transaction, commits once, and hands the batch to the syncer
//! ([`super::durable`]), which answers the callers once the commit is on disk.
//! So a caller that gets `Ok` knows its change is durable, and a thousand
//! concurrent sends cost one fsync rather than a thousand.
//!
//! A savepoint is what lets one job fail without undoing the others, and it
//! costs: SQLite copies every page a job touches first into the savepoint's
//! journal. The hottest jobs (a send, an ack) do all their checks before their
//! first write, so they run without one (`Guard::ChecksFirst`). Should such a
//! job fail after writing anyway, nothing can undo just its writes: the whole
//! batch is rolled back, the jobs that ran before it hear
//! [`StoreError::RolledBack`] (a retryable 503 for their clients; sends are
//! idempotent), and the jobs queued after it, which never ran, go into the
//! next batch as if nothing had happened.

use super::{
    checkpoint::RestartWanted,
    durable::{Pending, SyncState, Syncer},
    StoreError,
};
use rusqlite::Connection;
use std::panic::{catch_unwind, AssertUnwindSafe};
use tokio::sync::{mpsc, oneshot};

/// Jobs committed together at most. Bounds the latency one batch adds.
const MAX_BATCH: usize = 512;
/// Jobs that may wait for the writer before callers are made to wait.
const QUEUE_DEPTH: usize = 4096;

/// Batches that fail repeat while the disk is full: one line per period.
static SPOILED_LOG: crate::log_every::Every =
    crate::log_every::Every::new(std::time::Duration::from_secs(10));
static FAILED_LOG: crate::log_every::Every =
    crate::log_every::Every::new(std::time::Duration::from_secs(10));

/// What a job hands back after running: whether to keep its savepoint, and how
/// to deliver its result once the batch's commit outcome is known.
struct Ran {
    keep: bool,
    deliver: Deliver,
}

/// Sends a job's result to its caller, given why its batch failed, if it did.
pub(super) type Deliver = Box<dyn FnOnce(Option<&BatchFailure>) + Send>;

/// Why a batch failed. Every job that ran in it and succeeded hears it as its
/// own error; a job that failed hears its own error.
#[derive(Debug)]
pub(super) enum BatchFailure {
    /// A job without a savepoint failed after writing: nothing was kept.
    Spoiled,
    /// COMMIT (or BEGIN) failed: nothing was kept.
    Sqlite(rusqlite::Error),
    /// Committed, but the fsync of the WAL failed.
    NotSynced(std::io::Error),
    /// Committed after an fsync had failed: never acknowledged.
    DiskFailed,
}

impl BatchFailure {
    fn for_caller(&self) -> StoreError {
        match self {
            BatchFailure::Spoiled => StoreError::RolledBack,
            BatchFailure::Sqlite(e) => StoreError::NotCommitted {
                code: e
                    .sqlite_error_code()
                    .unwrap_or(rusqlite::ErrorCode::Unknown),
                detail: e.to_string(),
            },
            BatchFailure::NotSynced(e) => {
                StoreError::NotDurable(std::io::Error::new(e.kind(), e.to_string()))
            }
            BatchFailure::DiskFailed => StoreError::DiskFailed,
        }
    }
}

/// Runs a job on the writer's connection, or, given the reason it cannot
/// run, only prepares that answer for its caller.
type Run = Box<dyn FnOnce(Result<&Connection, StoreError>) -> Ran + Send>;

/// How a job's failure is kept from the rest of its batch.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Guard {
    /// Inside its own savepoint: a failure rolls back only this job.
    Savepoint,
    /// No savepoint: the job returns every error before its first write. A
    /// failure after writing rolls back the whole batch.
    ChecksFirst,
}

struct Job {
    guard: Guard,
    run: Run,
    queued: std::time::Instant,
}

impl Job {
    /// Answers the caller with `e` without running the job.
    fn refuse(self, e: StoreError) {
        ((self.run)(Err(e)).deliver)(None);
    }
}

enum Msg {
    Job(Job),
    /// Finish everything queued before this, checkpoint the WAL, then answer.
    Flush(oneshot::Sender<()>),
    /// Like `Flush`, then close the connection and stop; answered once closed.
    Close(oneshot::Sender<()>),
}

/// Handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
    sync: std::sync::Arc<SyncState>,
}

impl Writer {
    /// Starts the writer thread on `conn` (in WAL mode, with its WAL open)
    /// and the syncer for that WAL.
    pub(super) fn start(conn: Connection, restart: RestartWanted) -> std::io::Result<Writer> {
        let db = conn
            .path()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| std::io::Error::other("the writer needs a database file"))?;
        let sync = std::sync::Arc::new(SyncState::default());
        let syncer = Syncer::start(std::path::Path::new(db), sync.clone())?;
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let state = sync.clone();
        std::thread::Builder::new()
            .name("parley-sqlite-writer".into())
            .spawn(move || run(conn, rx, restart, syncer, &state))?;
        Ok(Writer { tx, sync })
    }

    /// What the writer and its syncer share (the checkpointer reads whether
    /// an fsync failed).
    pub(super) fn sync_state(&self) -> std::sync::Arc<SyncState> {
        self.sync.clone()
    }

    /// True once an fsync of the WAL failed: this process saves nothing more
    /// (see `durable`).
    pub fn disk_failed(&self) -> bool {
        self.sync.failed()
    }

    /// Resolves once an fsync of the WAL failed.
    pub async fn disk_failure(&self) {
        self.sync.has_failed().await
    }

    /// Makes the next fsync of the WAL fail as a broken disk would, so that
    /// tests can drive the real failure path (nothing in the server calls it).
    #[doc(hidden)]
    pub fn fail_next_fsync(&self) {
        self.sync
            .fail_next
            .store(true, std::sync::atomic::Ordering::Release);
    }

    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.write_then(Guard::Savepoint, f, |_: &T| {}).await
    }

    /// Like `write`, and runs `then` once the job's batch has committed and
    /// is on disk, before the caller is answered (on the syncer's thread).
    /// Jobs' `then` run in commit order, which the callers' tasks, woken in
    /// any order, would not keep.
    pub async fn write_then<T, E, F, H>(&self, guard: Guard, f: F, then: H) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        H: FnOnce(&T) + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (done_tx, done_rx) = oneshot::channel::<Result<T, E>>();
        let queued = std::time::Instant::now();
        let run: Run = Box::new(move |conn| {
            let result = match conn {
                Ok(conn) => f(conn),
                Err(e) => Err(E::from(e)),
            };
            Ran {
                keep: result.is_ok(),
                deliver: Box::new(move |failure| {
                    let outcome = match (failure, result) {
                        (None, Ok(value)) => {
                            // On the syncer's thread: a panic here must not
                            // take it down.
                            if catch_unwind(AssertUnwindSafe(|| then(&value))).is_err() {
                                tracing::error!("an after-commit hook panicked");
                            }
                            crate::metrics::get()
                                .write_seconds
                                .observe(queued.elapsed());
                            Ok(value)
                        }
                        (Some(f), Ok(_)) => Err(E::from(f.for_caller())),
                        (_, Err(e)) => Err(e),
                    };
                    // The caller may have gone away (request cancelled): fine.
                    let _ = done_tx.send(outcome);
                }),
            }
        });
        self.tx
            .send(Msg::Job(Job { guard, run, queued }))
            .await
            .map_err(|_| E::from(StoreError::Closed))?;
        match done_rx.await {
            Ok(r) => r,
            Err(_) => Err(E::from(StoreError::Panicked)),
        }
    }

    /// Waits until every job queued so far is committed and answered, and the
    /// WAL is checkpointed. Used at shutdown.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Commits and answers every job queued so far, checkpoints the WAL and
    /// closes the writer's connection; later writes fail with
    /// [`StoreError::Closed`]. Used at shutdown, after the readers closed, so
    /// that SQLite removes the WAL and shared-memory files.
    pub async fn close(&self) {
        self.flush().await;
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

fn run(
    conn: Connection,
    mut rx: mpsc::Receiver<Msg>,
    restart: RestartWanted,
    syncer: Syncer,
    sync: &SyncState,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    let mut closed: Option<oneshot::Sender<()>> = None;
    while closed.is_none() {
        // Jobs left from a spoiled batch go first, without waiting for more.
        let mut next = if batch.is_empty() {
            match rx.blocking_recv() {
                Some(first) => Some(first),
                None => break,
            }
        } else {
            rx.try_recv().ok()
        };
        while let Some(msg) = next.take() {
            match msg {
                Msg::Job(j) => batch.push(j),
                Msg::Flush(f) => {
                    flushes.push(f);
                    break; // commit what came before the flush marker
                }
                Msg::Close(c) => {
                    closed = Some(c);
                    break;
                }
            }
            if batch.len() >= MAX_BATCH {
                break;
            }
            next = rx.try_recv().ok();
        }
        if sync.failed() {
            // Nothing committed from now on could be acknowledged.
            for job in batch.drain(..) {
                job.refuse(StoreError::DiskFailed);
            }
        } else if !batch.is_empty() {
            commit_batch(&conn, &mut batch, &syncer);
        }
        // After a failed fsync nothing is copied from the WAL into the
        // database file: what the kernel dropped would be copied over good
        // pages, and the restart's recovery reads the WAL as it is on disk.
        if restart.take() && !sync.failed() {
            let started = std::time::Instant::now();
            super::checkpoint::catch_up(&conn);
            crate::metrics::get()
                .wal_catch_up_seconds
                .observe(started.elapsed());
        }
        if !flushes.is_empty() {
            if sync.failed() {
                // (see above)
            } else if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
            for f in flushes.drain(..) {
                syncer.hand_over(Pending::Flushed(f));
            }
        }
    }
    if closed.is_some() {
        // Closed: nothing more gets in, and what is left is answered, not
        // dropped (a dropped job would look like a panic to its caller).
        rx.close();
        for job in batch.drain(..) {
            job.refuse(StoreError::Closed);
        }
        while let Ok(msg) = rx.try_recv() {
            match msg {
                Msg::Job(job) => job.refuse(StoreError::Closed),
                Msg::Flush(f) | Msg::Close(f) => {
                    let _ = f.send(());
                }
            }
        }
    }
    if sync.failed() {
        // Not even the checkpoint SQLite makes when the last connection
        // closes (see above): the WAL stays for the restart to recover from.
        if let Err(e) = conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        ) {
            tracing::warn!(error = %e, "could not keep the WAL from being checkpointed on close");
        }
    } else if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(error = %e, "final WAL checkpoint failed");
    }
    // The syncer answers what it still holds before it stops.
    drop(syncer);
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the database failed");
    }
    tracing::debug!("database writer stopped");
    if let Some(c) = closed {
        let _ = c.send(());
    }
}

/// Runs and commits `batch`, then hands it to `syncer`, which answers its
/// callers once it is on disk; a batch that failed is answered at once. Jobs
/// that never ran (they came after a job that spoiled the batch) are left in
/// `batch`.
fn commit_batch(conn: &Connection, batch: &mut Vec<Job>, syncer: &Syncer) {
    let started = std::time::Instant::now();
    let jobs = batch.len();
    let mut ran: Vec<Ran> = Vec::with_capacity(batch.len());
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "cannot begin write transaction");
        // The jobs cannot run: each caller hears why.
        let failure = BatchFailure::Sqlite(e);
        for job in batch.drain(..) {
            job.refuse(failure.for_caller());
        }
        return;
    }
    // Set when a job without a savepoint failed after writing.
    let mut spoiled = false;
    let mut queue = std::mem::take(batch).into_iter();
    for job in queue.by_ref() {
        crate::metrics::get()
            .writer_wait_seconds
            .observe(job.queued.elapsed());
        let guarded = job.guard == Guard::Savepoint;
        if guarded {
            if let Err(e) = exec(conn, "SAVEPOINT job") {
                tracing::error!(error = %e, "cannot open savepoint");
                job.refuse(StoreError::Sqlite(e));
                continue;
            }
        }
        let changes = conn.total_changes();
        let run = job.run;
        let outcome = catch_unwind(AssertUnwindSafe(|| run(Ok(conn))));
        let kept = matches!(&outcome, Ok(r) if r.keep);
        if guarded {
            let end = if kept {
                exec(conn, "RELEASE job")
            } else {
                exec(conn, "ROLLBACK TO job").and_then(|_| exec(conn, "RELEASE job"))
            };
            if let Err(e) = end {
                tracing::error!(error = %e, "cannot close savepoint");
            }
        } else if !kept && conn.total_changes() != changes {
            // Expected while the disk is full (the failure is the caller's
            // `storage_full`), so at most one line per period.
            if let Some(batches) = SPOILED_LOG.due() {
                tracing::warn!(
                    batches,
                    "a write job without a savepoint failed after writing; rolling back its batch"
                );
            }
            spoiled = true;
        }
        match outcome {
            Ok(r) => ran.push(r),
            Err(_) => tracing::error!("a database job panicked; its changes are rolled back"),
        }
        if spoiled {
            break;
        }
    }
    // The jobs after a spoiler never ran: they go into the next batch.
    batch.extend(queue);
    // Work that is cheaper once per batch than once per job.
    let failure = if spoiled {
        Some(BatchFailure::Spoiled)
    } else {
        if let Err(e) = super::messages::index_pending(conn) {
            tracing::error!(error = %e, "indexing new messages for search failed");
        }
        exec(conn, "COMMIT").err().map(BatchFailure::Sqlite)
    };
    if let Some(f) = &failure {
        if let Some(batches) = FAILED_LOG.due() {
            tracing::error!(error = ?f, batches, "batch not committed; rolling back");
        }
        let _ = conn.execute_batch("ROLLBACK");
    }
    crate::metrics::get().observe_commit(jobs - batch.len(), started.elapsed());
    match failure {
        None => syncer.hand_over(Pending::Committed(
            ran.into_iter().map(|r| r.deliver).collect(),
        )),
        Some(f) => {
            for r in ran {
                (r.deliver)(Some(&f));
            }
        }
    }
}

/// Runs a cached statement that returns no rows.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::super::{Store, StoreError};
    use super::Guard;
    use futures_util::future::join_all;
    use rusqlite::Connection;

    #[derive(Debug)]
    enum E {
        Store(#[allow(dead_code)] StoreError), // shown by Debug in failures
        Refused,
    }
    impl From<StoreError> for E {
        fn from(e: StoreError) -> E {
            E::Store(e)
        }
    }
    impl From<rusqlite::Error> for E {
        fn from(e: rusqlite::Error) -> E {
            E::Store(StoreError::Sqlite(e))
        }
    }

    /// Whether a test job fails, and when.
    #[derive(Clone, Copy)]
    enum Fail {
        No,
        BeforeWriting,
        AfterWriting,
    }
    use Fail::*;

    fn insert(c: &Connection, v: i64) -> Result<(), E> {
        c.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
        Ok(())
    }

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("parley.db"), 1).unwrap();
        store
            .write(|c| -> Result<(), E> { Ok(c.execute_batch("CREATE TABLE t (v INTEGER)")?) })
            .await
            .unwrap();
        (dir, store)
    }

    /// Runs `jobs` (guard, value to insert, whether and when to fail)
    /// in one batch: a first job holds the writer thread until all of them
    /// are queued behind it.
    async fn one_batch(store: &Store, jobs: &[(Guard, i64, Fail)]) -> Vec<Result<(), E>> {
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let hold = store.write(move |_| -> Result<(), E> {
            let _ = started_tx.send(());
            let _ = go_rx.recv();
            Ok(())
        });
        let runs = jobs.iter().map(|&(guard, v, fail)| {
            store.writer.write_then(
                guard,
                move |c| {
                    if let BeforeWriting = fail {
                        return Err(E::Refused);
                    }
                    insert(c, v)?;
                    match fail {
                        AfterWriting => Err(E::Refused),
                        _ => Ok(()),
                    }
                },
                |_: &()| {},
            )
        });
        let queue_then_go = async move {
            started_rx.await.unwrap();
            let mut all = std::pin::pin!(join_all(runs));
            // One poll sends every job to the queue (it has room).
            assert!(futures_util::poll!(&mut all).is_pending());
            go_tx.send(()).unwrap();
            all.await
        };
        let (held, results) = futures_util::join!(hold, queue_then_go);
        held.unwrap();
        results
    }

    /// A closed store keeps what it committed in the database file alone
    /// (no `-wal`, no `-shm`) and refuses later reads and writes as closed.
    #[tokio::test]
    async fn close_leaves_one_file_and_refuses_later_work() {
        let (dir, store) = store().await;
        for v in 0..5 {
            store.write(move |c| insert(c, v)).await.unwrap();
        }
        store.close().await;
        let db = dir.path().join("parley.db");
        for leftover in ["parley.db-wal", "parley.db-shm"] {
            assert!(!dir.path().join(leftover).exists(), "{leftover} left");
        }
        let read = store.read(|_| -> Result<(), E> { Ok(()) }).await;
        assert!(
            matches!(read, Err(E::Store(StoreError::Closed))),
            "{read:?}"
        );
        let write = store.write(move |c| insert(c, 9)).await;
        assert!(
            matches!(write, Err(E::Store(StoreError::Closed))),
            "{write:?}"
        );
        let kept: i64 = Connection::open(&db)
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 5);
    }

    /// A read under way when the store closes finishes first (its caller
    /// gone or not), so the writer still closes last and the WAL goes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn close_waits_for_a_read_under_way() {
        let (dir, store) = store().await;
        store.write(move |c| insert(c, 1)).await.unwrap();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let s2 = store.clone();
        let reading = tokio::spawn(async move {
            s2.read(move |c| -> Result<i64, E> {
                let _ = started_tx.send(());
                let _ = go_rx.recv();
                Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?)
            })
            .await
        });
        started_rx.await.unwrap();
        // The caller goes away; the blocking part still holds its connection.
        reading.abort();
        let s3 = store.clone();
        let closing = tokio::spawn(async move { s3.close().await });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!closing.is_finished(), "close did not wait for the read");
        go_tx.send(()).unwrap();
        closing.await.unwrap();
        for leftover in ["parley.db-wal", "parley.db-shm"] {
            assert!(!dir.path().join(leftover).exists(), "{leftover} left");
        }
    }

    /// A job queued behind the close is answered as closed, not dropped
    /// (which its caller would see as a panic, a 500); the one before it
    /// commits.
    #[tokio::test]
    async fn a_job_queued_behind_close_is_refused_as_closed() {
        let (_dir, store) = store().await;
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let s2 = store.clone();
        let held = tokio::spawn(async move {
            s2.write(move |c| {
                let _ = started_tx.send(());
                let _ = go_rx.recv();
                insert(c, 1)
            })
            .await
        });
        started_rx.await.unwrap();
        let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
        assert!(store
            .writer
            .tx
            .send(super::Msg::Close(closed_tx))
            .await
            .is_ok());
        let s3 = store.clone();
        let behind = tokio::spawn(async move { s3.write(move |c| insert(c, 2)).await });
        // Give the spawned write time to reach the queue behind the close.
        while store.writer.tx.capacity() == store.writer.tx.max_capacity() - 1 {
            tokio::task::yield_now().await;
        }
        go_tx.send(()).unwrap();
        assert!(held.await.unwrap().is_ok());
        let r = behind.await.unwrap();
        assert!(matches!(r, Err(E::Store(StoreError::Closed))), "{r:?}");
        closed_rx.await.unwrap();
    }

    /// Every answer, and every after-commit hook, comes after an fsync of
    /// the WAL that began once its batch was committed: before it, the
    /// change would not survive a power loss.
    #[tokio::test]
    async fn a_write_is_answered_only_after_its_batch_is_on_disk() {
        let (_dir, store) = store().await;
        for v in 0..20 {
            // Every earlier write was answered, so no fsync is under way.
            let before = store.writer.sync.synced();
            let sync = store.writer.sync.clone();
            let (hook_tx, hook_rx) = std::sync::mpsc::channel();
            store
                .writer
                .write_then(
                    Guard::Savepoint,
                    move |c| insert(c, v),
                    move |_: &()| {
                        let _ = hook_tx.send(sync.synced());
                    },
                )
                .await
                .unwrap();
            let in_hook = hook_rx.recv().unwrap();
            assert!(
                in_hook > before,
                "write {v}: its hook ran before the WAL was synced ({in_hook} fsyncs, {before} before)"
            );
        }
        assert_eq!(values(&store).await, (0..20).collect::<Vec<_>>());
    }

    /// After a failed fsync nothing more is acknowledged: the write it
    /// covered fails (its hook never runs), and every later one is refused
    /// without running.
    #[tokio::test]
    async fn after_a_failed_fsync_nothing_more_is_acknowledged() {
        let (_dir, store) = store().await;
        store.writer.write(|c| insert(c, 1)).await.unwrap();
        assert!(!store.writer.disk_failed());
        store.writer.fail_next_fsync();
        let hooked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = hooked.clone();
        let r = store
            .writer
            .write_then(
                Guard::Savepoint,
                |c| insert(c, 2),
                move |_: &()| flag.store(true, std::sync::atomic::Ordering::Release),
            )
            .await;
        assert!(
            matches!(r, Err(E::Store(StoreError::NotDurable(_)))),
            "{r:?}"
        );
        assert!(!hooked.load(std::sync::atomic::Ordering::Acquire));
        assert!(store.writer.disk_failed());
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let r = store
            .writer
            .write(move |c| {
                flag.store(true, std::sync::atomic::Ordering::Release);
                insert(c, 3)
            })
            .await;
        assert!(matches!(r, Err(E::Store(StoreError::DiskFailed))), "{r:?}");
        assert!(!ran.load(std::sync::atomic::Ordering::Acquire));
        // What the failed fsync covered was committed (readers see it), but
        // no caller was told it was saved.
        assert_eq!(values(&store).await, vec![1, 2]);
    }

    /// After a failed fsync the WAL is not copied back into the database
    /// file, not even by the close that otherwise ends with one file: the
    /// restart recovers from the WAL as it is on disk.
    #[tokio::test]
    async fn after_a_failed_fsync_the_wal_is_left_for_the_restart() {
        let (dir, store) = store().await;
        store.writer.write(|c| insert(c, 1)).await.unwrap();
        // Everything so far in the database file, the WAL emptied.
        store.writer.flush().await;
        let db = dir.path().join("parley.db");
        let before = std::fs::read(&db).unwrap();
        store.writer.fail_next_fsync();
        let _ = store.writer.write(|c| insert(c, 2)).await;
        assert!(store.writer.disk_failed());
        // Longer than the checkpointer's interval: it skips its passes.
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        assert!(
            std::fs::read(&db).unwrap() == before,
            "a checkpoint ran after the failure"
        );
        store.close().await;
        assert!(
            std::fs::read(&db).unwrap() == before,
            "the close checkpointed"
        );
        let wal = dir.path().join("parley.db-wal");
        let kept = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        assert!(kept > 0, "the WAL was checkpointed away");
    }

    async fn values(store: &Store) -> Vec<i64> {
        store
            .read(|c| -> Result<Vec<i64>, E> {
                let mut s = c.prepare("SELECT v FROM t ORDER BY v")?;
                let rows = s.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_failing_job_with_a_savepoint_undoes_only_itself() {
        let (_dir, store) = store().await;
        let r = one_batch(
            &store,
            &[
                (Guard::Savepoint, 1, No),
                (Guard::Savepoint, 2, AfterWriting),
                (Guard::ChecksFirst, 3, No),
            ],
        )
        .await;
        assert!(r[0].is_ok() && matches!(r[1], Err(E::Refused)) && r[2].is_ok());
        assert_eq!(values(&store).await, [1, 3]);
    }

    #[tokio::test]
    async fn a_job_without_a_savepoint_that_fails_before_writing_harms_nobody() {
        let (_dir, store) = store().await;
        let r = one_batch(
            &store,
            &[
                (Guard::ChecksFirst, 1, No),
                (Guard::ChecksFirst, 2, BeforeWriting),
                (Guard::ChecksFirst, 3, No),
            ],
        )
        .await;
        assert!(r[0].is_ok() && matches!(r[1], Err(E::Refused)) && r[2].is_ok());
        assert_eq!(values(&store).await, [1, 3]);
    }

    /// Its writes cannot be undone alone, so nothing of the batch is kept:
    /// the jobs that ran before it hear that they were rolled back (and may
    /// retry), the spoiler its own error, and the jobs after it, which never
    /// ran, are committed in the next batch.
    #[tokio::test]
    async fn a_job_without_a_savepoint_that_fails_after_writing_fails_its_batch() {
        let (_dir, store) = store().await;
        let r = one_batch(
            &store,
            &[
                (Guard::Savepoint, 1, No),
                (Guard::ChecksFirst, 2, No),
                (Guard::ChecksFirst, 3, AfterWriting),
                (Guard::ChecksFirst, 4, No),
                (Guard::Savepoint, 5, No),
            ],
        )
        .await;
        for (i, r) in r[..2].iter().enumerate() {
            assert!(
                matches!(r, Err(E::Store(StoreError::RolledBack))),
                "job {i}: {r:?}"
            );
        }
        assert!(matches!(r[2], Err(E::Refused)), "{:?}", r[2]);
        assert!(r[3].is_ok() && r[4].is_ok(), "{r:?}");
        assert_eq!(values(&store).await, [4, 5]);
        let r = one_batch(&store, &[(Guard::ChecksFirst, 6, No)]).await;
        assert!(r[0].is_ok());
        assert_eq!(values(&store).await, [4, 5, 6]);
    }
}
