//! Durability off the writer's path: the WAL's fsync on a thread of its own.
//!
//! The writer's connection runs with `synchronous=NORMAL`, so its COMMIT
//! writes the batch's WAL frames and returns without waiting for the disk.
//! The committed batch then comes here: this thread fsyncs the WAL file and
//! only then answers the batch's callers and runs their after-commit hooks
//! (which publish events), in commit order. A caller that hears `Ok` still
//! knows its change is on disk, but the writer no longer idles through the
//! fsync: it runs the next batch meanwhile. Batches that commit during a slow
//! fsync share the next one.
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

use super::writer::{BatchFailure, Deliver};
use std::{
    fs::File,
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc, Arc,
    },
    time::Instant,
};
use tokio::sync::oneshot;

/// A failed fsync repeats with every batch while the disk is broken.
static FAILED_LOG: crate::log_every::Every =
    crate::log_every::Every::new(std::time::Duration::from_secs(10));

/// What the writer hands over, in commit order.
pub(super) enum Pending {
    /// The answers of a committed batch's jobs, given once its WAL frames
    /// are on disk.
    Committed(Vec<Deliver>),
    /// Answered once every batch handed over before it is answered.
    Flushed(oneshot::Sender<()>),
}

/// The writer's end of the syncing thread. Dropping it lets the thread finish
/// what it was given and stop.
pub(super) struct Syncer {
    tx: mpsc::Sender<Pending>,
}

impl Syncer {
    /// Opens the WAL of the database at `db` (its writer connection must have
    /// it open already, so this is the same file SQLite writes to for the
    /// connection's whole life) and starts the thread. Also returns its count
    /// of fsyncs done, each counted before the batches it covers are answered.
    pub(super) fn start(db: &Path) -> std::io::Result<(Syncer, Arc<AtomicU64>)> {
        let mut name = db.as_os_str().to_owned();
        name.push("-wal");
        // Write access, never used to write: Windows flushes only a handle
        // opened for writing.
        let wal = File::options().write(true).open(&name)?;
        let (tx, rx) = mpsc::channel();
        let synced = Arc::new(AtomicU64::new(0));
        let counter = synced.clone();
        std::thread::Builder::new()
            .name("parley-sqlite-sync".into())
            .spawn(move || run(&wal, &rx, &counter))?;
        Ok((Syncer { tx }, synced))
    }

    pub(super) fn hand_over(&self, pending: Pending) {
        // The thread stops only after this end is dropped.
        let _ = self.tx.send(pending);
    }
}

fn run(wal: &File, rx: &mpsc::Receiver<Pending>, synced: &AtomicU64) {
    while let Ok(first) = rx.recv() {
        // Everything committed by now shares this fsync.
        let mut pending = vec![first];
        pending.extend(rx.try_iter());
        let mut failure = None;
        if pending.iter().any(|p| matches!(p, Pending::Committed(_))) {
            let started = Instant::now();
            match wal.sync_data() {
                Ok(()) => {
                    synced.fetch_add(1, Ordering::Release);
                }
                Err(e) => {
                    if let Some(failed) = FAILED_LOG.due() {
                        tracing::error!(error = %e, failed, "cannot sync the database's WAL to disk");
                    }
                    failure = Some(BatchFailure::NotSynced(e));
                }
            }
            crate::metrics::get().observe_wal_sync(started.elapsed());
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
