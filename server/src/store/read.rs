//! A small pool of read-only connections used from the blocking thread pool.

use super::{configure, read_only_flags, StoreError};
use rusqlite::Connection;
use std::{
    path::Path,
    sync::{Arc, Mutex},
};
use tokio::sync::Semaphore;

#[derive(Clone)]
pub struct ReadPool {
    inner: Arc<Inner>,
}

struct Inner {
    size: usize,
    /// Idle connections. A `std` mutex: it is held only to push/pop, never across
    /// an `.await`.
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection, so a task never finds the pool empty.
    /// Held by the blocking closure itself: a read whose caller went away
    /// still holds its permit until it is done with the connection.
    permits: Arc<Semaphore>,
}

impl ReadPool {
    pub(super) fn open(path: &Path, size: usize) -> rusqlite::Result<ReadPool> {
        let size = size.max(1);
        let mut idle = Vec::with_capacity(size);
        for _ in 0..size {
            let conn = Connection::open_with_flags(path, read_only_flags())?;
            configure(&conn, true)?;
            idle.push(conn);
        }
        Ok(ReadPool {
            inner: Arc::new(Inner {
                size,
                idle: Mutex::new(idle),
                permits: Arc::new(Semaphore::new(size)),
            }),
        })
    }

    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let permit = self
            .inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| E::from(StoreError::Closed))?;
        let inner = self.inner.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = inner
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop()
                .ok_or(StoreError::Closed)?;
            // Catch a panicking closure so the connection always goes back.
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&conn)));
            // After `close` (a read that started just before it closed the
            // permits), the connection is closed here instead of going back.
            // Checked under the lock `close` takes after closing the permits.
            let mut idle = inner.idle.lock().unwrap_or_else(|p| p.into_inner());
            if !inner.permits.is_closed() {
                idle.push(conn);
            }
            drop(idle);
            out.map_err(|_| StoreError::Panicked)
        })
        .await;
        match joined {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => Err(E::from(e)),
            Err(_) => Err(E::from(StoreError::Panicked)),
        }
    }

    /// Waits for the reads in flight, then closes every connection; later
    /// reads fail with [`StoreError::Closed`]. SQLite removes the WAL when
    /// its last connection closes, and a read-only one cannot: so these go
    /// before the writer's.
    pub async fn close(&self) {
        let size = u32::try_from(self.inner.size).unwrap_or(u32::MAX);
        // Every permit: no read is running once this is held.
        let all = self.inner.permits.acquire_many(size).await;
        self.inner.permits.close();
        drop(all);
        let idle = std::mem::take(&mut *self.inner.idle.lock().unwrap_or_else(|p| p.into_inner()));
        drop(idle);
    }
}
