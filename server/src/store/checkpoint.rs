//! WAL checkpoints on their own thread and connection, so the writer never
//! stalls copying the WAL back into the database (profiling showed ~8% of the
//! writer's time in automatic checkpoints). PASSIVE checkpoints never block the
//! writer or readers; the thread stops when the last `Store` handle is dropped.
//!
//! PASSIVE alone is not enough under steady load: SQLite only starts the WAL
//! over from its beginning when a write begins while every frame is already
//! copied back, which never happens while messages keep coming, so the WAL
//! file grew without bound (327 MB after ten seconds of the messaging bench,
//! every commit extending the file). When the WAL holds more than
//! [`RESTART_FRAMES`], the checkpointer raises [`RestartWanted`]; the writer,
//! between two batches, then copies back the few frames written since (a
//! PASSIVE checkpoint of its own, with no write transaction open), so its next
//! commit finds the WAL fully copied and starts it over from the beginning.
//! A RESTART checkpoint from this thread would do the same but make the
//! writer wait in SQLite's busy handler (sleeps of 1 ms and more: p50 at
//! 2 000 msg/s went from 4.6 to 10.9 ms when tried). `journal_size_limit`
//! (set on the writer) trims a WAL file that grew during a burst.

use rusqlite::Connection;
use std::{path::Path, sync::mpsc, time::Duration};

/// How often the checkpointer runs.
const EVERY: Duration = Duration::from_millis(500);

/// WAL frames (pages) above which a checkpoint also restarts the WAL: 4096
/// frames of 4 KiB, 16 MiB.
pub const RESTART_FRAMES: i64 = 4096;

/// Set by the checkpointer when the WAL should start over; taken by the
/// writer between batches.
#[derive(Clone, Default)]
pub struct RestartWanted(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl RestartWanted {
    fn raise(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether a restart was asked for since the last call.
    pub fn take(&self) -> bool {
        self.0.swap(false, std::sync::atomic::Ordering::Relaxed)
    }
}

/// Copies the WAL frames not yet in the database back, on the writer's own
/// connection between batches, so its next commit starts the WAL over.
pub fn catch_up(conn: &Connection) {
    if let Err(e) = checkpoint(conn, "PASSIVE") {
        tracing::warn!(error = %e, "WAL catch-up checkpoint failed");
    }
}

/// Keeps the checkpointer alive; dropping every clone stops it, and so
/// does [`Checkpointer::stop`], which also waits for its connection to close.
#[derive(Clone)]
pub struct Checkpointer {
    inner: std::sync::Arc<std::sync::Mutex<Option<Running>>>,
}

struct Running {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Checkpointer {
    /// Stops the thread and closes its connection. Blocking: it waits for
    /// a checkpoint in progress.
    pub fn stop(&self) {
        let running = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(Running { stop, thread }) = running {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}

pub fn start(
    path: &Path,
    restart: RestartWanted,
    disk: std::sync::Arc<super::durable::SyncState>,
) -> std::io::Result<Checkpointer> {
    let conn = Connection::open(path).map_err(std::io::Error::other)?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(std::io::Error::other)?;
    let (tx, rx) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("parley-sqlite-checkpoint".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(EVERY) {
                // After a failed fsync of the WAL nothing more is copied
                // back (see the writer); the restart recovers from the WAL.
                if disk.failed() {
                    continue;
                }
                match checkpoint(&conn, "PASSIVE") {
                    Ok(frames) if frames > RESTART_FRAMES => {
                        // Copy back what was written during that pass too, so
                        // the writer's own catch-up (which every job queued
                        // meanwhile waits for) has only a moment's frames left.
                        if let Err(e) = checkpoint(&conn, "PASSIVE") {
                            tracing::warn!(error = %e, "WAL checkpoint failed");
                        }
                        restart.raise()
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
                }
            }
        })?;
    Ok(Checkpointer {
        inner: std::sync::Arc::new(std::sync::Mutex::new(Some(Running { stop: tx, thread }))),
    })
}

/// Runs a checkpoint in `mode`; returns the frames in the WAL it saw.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<i64> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        r.get::<_, i64>(1)
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Store, StoreError};
    use std::{
        sync::{
            atomic::{AtomicBool, AtomicU64, Ordering},
            Arc,
        },
        time::{Duration, Instant},
    };

    /// The WAL header's checkpoint sequence number: SQLite adds one each time
    /// the WAL starts over.
    fn wal_generation(db: &std::path::Path) -> u32 {
        let wal = std::fs::read(db.with_extension("db-wal")).unwrap_or_default();
        wal.get(12..16)
            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Writers that never let the writer idle, growing the database like
    /// messages do (the case PASSIVE checkpoints alone cannot handle: the WAL
    /// then never starts over and holds every frame written).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_under_sustained_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("parley.db");
        let store = Store::open(&path, 1).unwrap();
        store
            .write(|c| -> Result<(), StoreError> {
                Ok(c.execute_batch("CREATE TABLE load (b BLOB)")?)
            })
            .await
            .unwrap();
        let before = wal_generation(&path);
        let catch_ups = crate::metrics::get().wal_catch_up_seconds.count();
        // Until the WAL has started over twice, or 256 MiB were written (with
        // no restart by then, it never will), or a generous deadline.
        let done = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (store, done, written) = (store.clone(), done.clone(), written.clone());
            tasks.push(tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    store
                        .write(|c| -> Result<(), StoreError> {
                            c.execute("INSERT INTO load (b) VALUES (zeroblob(4000))", [])?;
                            Ok(())
                        })
                        .await
                        .unwrap();
                    written.fetch_add(4096, Ordering::Relaxed);
                }
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while wal_generation(&path).wrapping_sub(before) < 2
            && written.load(Ordering::Relaxed) < 256 << 20
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        done.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
        let restarts = wal_generation(&path).wrapping_sub(before);
        let frames: i64 = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
            .unwrap();
        assert!(
            restarts >= 2,
            "the WAL started over {restarts} times under load; it holds {frames} frames"
        );
        // The writer's catch-ups that made those restarts are timed.
        assert!(crate::metrics::get().wal_catch_up_seconds.count() > catch_ups);
    }
}
