//! WAL checkpoints on their own thread and connection, so the writer never
//! stalls copying the WAL back into the database (profiling showed ~8% of the
//! writer's time in automatic checkpoints). PASSIVE checkpoints never block the
//! writer or readers; the thread stops when the last `Store` handle is dropped.

use rusqlite::Connection;
use std::{path::Path, sync::mpsc, time::Duration};

/// How often the checkpointer runs.
const EVERY: Duration = Duration::from_millis(500);

/// Keeps the checkpointer alive; dropping every clone stops it.
#[derive(Clone)]
pub struct Checkpointer {
    _alive: std::sync::Arc<mpsc::Sender<()>>,
}

pub fn start(path: &Path) -> std::io::Result<Checkpointer> {
    let conn = Connection::open(path).map_err(std::io::Error::other)?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(std::io::Error::other)?;
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("parley-sqlite-checkpoint".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(EVERY) {
                if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
        })?;
    Ok(Checkpointer {
        _alive: std::sync::Arc::new(tx),
    })
}
