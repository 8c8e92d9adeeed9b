//! Operator commands: `backup`, `restore`, `admin`, `check-config`. Each one is
//! a blocking function the binary runs on the blocking pool; it prints progress
//! and results itself and returns an [`OpsError`] that is one clear line. No SQL
//! here: database work goes through `store::admin`.

pub mod admin;
pub mod backup;
pub mod check;

use crate::store::{OpenError, StoreError};

/// Why an operator command failed, phrased for the operator.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("{0}")]
    Refused(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for OpsError {
    fn from(e: rusqlite::Error) -> OpsError {
        OpsError::Store(StoreError::Sqlite(e))
    }
}

/// Wraps an I/O error with what was being done.
pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> OpsError {
    let context = context.into();
    move |source| OpsError::Io { context, source }
}

/// Runs a blocking operator command off the async runtime.
pub async fn blocking<T, F>(f: F) -> Result<T, OpsError>
where
    F: FnOnce() -> Result<T, OpsError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| OpsError::Refused(format!("the command failed unexpectedly: {e}")))?
}

/// Human-readable byte count.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Unix milliseconds as an RFC 3339 UTC time for listings.
pub fn show_time(ms: i64) -> String {
    crate::store::ms_to_ts(ms)
        .format("%Y-%m-%d %H:%M:%SZ")
        .to_string()
}
