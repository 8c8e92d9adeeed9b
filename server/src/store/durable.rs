//! Durability off the writer's path: the WAL's fsync on a thread of its own.
//!
//! The writer's connection runs with `synchronous=NORMAL`, so its COMMIT
//! writes the batch's WAL frames and returns without waiting for the disk.
//! The committed batch then comes here: this thread fsyncs the WAL file and
//! only then answers the batch's callers and runs their after-commit hooks
//! (which publish events), in commit order. A caller that hears `Ok` still
//! knows its change is on disk, but the writer no longer idles through the
//! fsync: it runs the next batch meanwhile. Batches that commit during a slow
//! fsync share the next one. (`File::sync_data` is `fdatasync` on Linux, as
//! SQLite's own; on macOS it is `F_FULLFSYNC`, which flushes the drive's
//! cache too, where SQLite's default `fsync` does not: slower, and durable.)
//!
//! Why one fsync of the WAL makes every batch committed before it durable:
//! between restarts the WAL is only appended to, and SQLite starts it over
//! only once every frame is copied into the database file and that file is
//! fsynced (checkpoints sync under NORMAL too). After a power loss, recovery
//! keeps a prefix of the transactions (frames carry chained checksums), never
//! a later one without the ones before it.
//!
//! The difference from `synchronous=FULL` that remains: the read pool sees a
//! batch as soon as it commits, the length of one fsync before its callers
//! are answered. A power loss inside that window can take back a change a
//! reader already returned, one whose writer was never told it was saved
//! (and whose client sends it again: sends are idempotent). A process that
//! crashes loses nothing: the frames are in the OS's page cache.
//!
//! A failed fsync is final for this process. Linux may already have dropped
//! the pages it could not write, and reports that only once: a later fsync
//! that succeeds says nothing about them, and recovery after a crash stops
//! at the first frame missing from the WAL, taking every later transaction
//! with it. So after one failure nothing more is acknowledged: the batches
//! committed meanwhile fail, the writer refuses every job (503
//! `storage_failed`, `/healthz` too), and the server shuts down with an
//! error so that its supervisor restarts it and SQLite recovers from what is
//! really on disk (PostgreSQL stops for the same reason).

use super::writer::{BatchFailure, Deliver};
use std::{
    fs::File,
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc, Arc,
    },
    time::Instant,
};
use tokio::sync::{oneshot, watch};

/// What the writer hands over, in commit order.
pub(super) enum Pending {
    /// The answers of a committed batch's jobs, given once its WAL frames
    /// are on disk.
    Committed(Vec<Deliver>),
    /// Answered once every batch handed over before it is answered.
    Flushed(oneshot::Sender<()>),
}

/// What the syncing thread shares with the writer.
pub(super) struct SyncState {
    /// Successful fsyncs so far, each counted before the batches it covers
    /// are answered.
    synced: AtomicU64,
    /// An fsync failed: nothing more is acknowledged by this process. A
    /// channel rather than a flag, so the server can wait for it.
    failed: watch::Sender<bool>,
    /// Makes the next fsync fail as a broken disk would (`fail_next_fsync`).
    pub(super) fail_next: AtomicBool,
}

impl Default for SyncState {
    fn default() -> SyncState {
        SyncState {
            synced: AtomicU64::new(0),
            failed: watch::Sender::new(false),
            fail_next: AtomicBool::new(false),
        }
    }
}

impl SyncState {
    pub(super) fn failed(&self) -> bool {
        *self.failed.borrow()
    }

    /// Resolves once an fsync has failed.
    pub(super) async fn has_failed(&self) {
        let mut rx = self.failed.subscribe();
        // The sender lives as long as `self`, so this cannot end otherwise.
        let _ = rx.wait_for(|failed| *failed).await;
    }

    #[cfg(test)]
    pub(super) fn synced(&self) -> u64 {
        self.synced.load(Ordering::Acquire)
    }
}

/// The writer's end of the syncing thread. Dropping it lets the thread finish
/// what it was given and stop.
pub(super) struct Syncer {
    tx: mpsc::Sender<Pending>,
}

impl Syncer {
    /// Opens the WAL of the database at `db` (its writer connection must have
    /// it open already, so this is the same file SQLite writes to for the
    /// connection's whole life) and starts the thread.
    pub(super) fn start(db: &Path, state: Arc<SyncState>) -> std::io::Result<Syncer> {
        let mut name = db.as_os_str().to_owned();
        name.push("-wal");
        // Write access, never used to write: Windows flushes only a handle
        // opened for writing.
        let wal = File::options().write(true).open(&name)?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("parley-sqlite-sync".into())
            .spawn(move || run(&wal, &rx, &state))?;
        Ok(Syncer { tx })
    }

    pub(super) fn hand_over(&self, pending: Pending) {
        // The thread stops only after this end is dropped.
        let _ = self.tx.send(pending);
    }
}

fn run(wal: &File, rx: &mpsc::Receiver<Pending>, state: &SyncState) {
    while let Ok(first) = rx.recv() {
        // Everything committed by now shares this fsync.
        let mut pending = vec![first];
        pending.extend(rx.try_iter());
        let mut failure = None;
        if state.failed() {
            failure = Some(BatchFailure::DiskFailed);
        } else if pending.iter().any(|p| matches!(p, Pending::Committed(_))) {
            let started = Instant::now();
            match sync(wal, state) {
                Ok(()) => {
                    state.synced.fetch_add(1, Ordering::Release);
                }
                Err(e) => {
                    state.failed.send_replace(true);
                    tracing::error!(
                        error = %e,
                        "cannot sync the database's WAL to disk: no change is saved from now on; \
                         check the disk, then restart the server"
                    );
                    failure = Some(BatchFailure::NotSynced(e));
                }
            }
            crate::metrics::get()
                .wal_sync_seconds
                .observe(started.elapsed());
        }
        for p in pending {
            match p {
                Pending::Committed(answers) => {
                    for deliver in answers {
                        deliver(failure.as_ref());
                    }
                }
                Pending::Flushed(done) => {
                    let _ = done.send(());
                }
            }
        }
    }
    tracing::debug!("WAL syncer stopped");
}

fn sync(wal: &File, state: &SyncState) -> std::io::Result<()> {
    if state.fail_next.swap(false, Ordering::AcqRel) {
        return Err(std::io::Error::other("injected fsync failure"));
    }
    wal.sync_data()
}
