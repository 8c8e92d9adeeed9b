//! The crate's one error enum. Services return it; `http::problem` maps it once to
//! `application/problem+json`. Internal causes are logged there, never returned.

use crate::store::StoreError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the request is malformed (bad JSON, wrong types).
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    /// 401: not authenticated, or a credential is wrong/expired.
    #[error("{detail}")]
    Unauthorized { code: &'static str, detail: String },
    /// 403: authenticated but not allowed.
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    /// 404: absent, or invisible to the caller (the two are indistinguishable).
    #[error("{detail}")]
    NotFound { code: &'static str, detail: String },
    /// 405: the path exists, the method does not (the `Allow` header, which
    /// axum's router sets, lists those that do).
    #[error("{detail}")]
    MethodNotAllowed { detail: String },
    /// 409: conflicts with current state.
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// 410: existed but expired.
    #[error("{detail}")]
    Gone { code: &'static str, detail: String },
    /// 413: body over the limit.
    #[error("{detail}")]
    PayloadTooLarge { detail: String },
    /// 415: media type not accepted.
    #[error("{detail}")]
    UnsupportedMediaType { detail: String },
    /// 422: well-formed but invalid.
    #[error("{detail}")]
    Unprocessable { code: &'static str, detail: String },
    /// 429: slow down; `retry_after` seconds.
    #[error("{detail}")]
    TooManyRequests {
        code: &'static str,
        detail: String,
        retry_after: u64,
    },
    /// 503: a dependency (SMTP, webhook) failed; retry later.
    #[error("{detail}")]
    Unavailable { code: &'static str, detail: String },
    /// 500: a bug or an I/O failure. Logged in full, answered without details.
    #[error("internal error: {0}")]
    Internal(String),
    #[error("storage error: {0}")]
    Store(StoreError),
}

impl Error {
    /// A 503 that says "nothing (more) was saved, try again later", counted
    /// by code for the operator's alerts.
    fn refused(code: &'static str, detail: &str) -> Error {
        crate::metrics::get().refused(code);
        Error::Unavailable {
            code,
            detail: detail.into(),
        }
    }

    /// 503 `storage_full`: the disk, or the operator's cap on the database
    /// (`--max-database-mib`), is full. Reads keep working.
    fn storage_full(cause: &dyn std::fmt::Display) -> Error {
        static LOG: crate::log_every::Every =
            crate::log_every::Every::new(std::time::Duration::from_secs(10));
        if let Some(refused) = LOG.due() {
            tracing::error!(error = %cause, refused, "storage is full: nothing more can be saved");
        }
        Error::refused(
            "storage_full",
            "the server's storage is full, so nothing was saved; try again later",
        )
    }

    /// 503 `storage_failed`: the disk failed an fsync, and the server saves
    /// nothing until it is restarted. Not counted as a refused change (it is
    /// also what `/healthz` says).
    pub fn storage_failed() -> Error {
        Error::Unavailable {
            code: "storage_failed",
            detail: "the server's disk failed, so nothing can be saved until the server is \
                     restarted; try again later"
                .into(),
        }
    }

    /// A file-system failure: a full disk is the client's 503, the rest 500s.
    pub fn io(e: std::io::Error) -> Error {
        match e.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                Error::storage_full(&e)
            }
            _ => Error::internal(e),
        }
    }
}

/// Storage failures a client can do something about (retry) are 503s with
/// their own code; the rest are bugs or broken disks, logged as 500s.
impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        if e.is_disk_full() {
            return Error::storage_full(&e);
        }
        match e {
            StoreError::RolledBack => Error::refused(
                "write_rolled_back",
                "nothing was saved because another change committed with it failed; retry",
            ),
            // The syncer logged the failure and the server is shutting down.
            StoreError::NotDurable(_) | StoreError::DiskFailed => {
                crate::metrics::get().refused("storage_failed");
                Error::storage_failed()
            }
            e => Error::Store(e),
        }
    }
}

impl Error {
    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Error {
        Error::Unprocessable {
            code,
            detail: detail.into(),
        }
    }

    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Error {
        Error::NotFound {
            code,
            detail: detail.into(),
        }
    }

    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Error {
        Error::Unauthorized {
            code,
            detail: detail.into(),
        }
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Error {
        Error::Conflict {
            code,
            detail: detail.into(),
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Error {
        Error::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    pub fn internal(detail: impl std::fmt::Display) -> Error {
        Error::Internal(detail.to_string())
    }
}

impl From<parley_protocol::FieldError> for Error {
    fn from(e: parley_protocol::FieldError) -> Error {
        Error::unprocessable("invalid_field", e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The batch whose fsync failed and every write after it hear the same
    /// 503, whatever the OS said: freeing space does not help, a restart does.
    #[test]
    fn a_failed_disk_is_503_storage_failed() {
        for e in [
            StoreError::DiskFailed,
            StoreError::NotDurable(std::io::Error::other("EIO")),
            StoreError::NotDurable(std::io::ErrorKind::StorageFull.into()),
        ] {
            let p = Error::from(e).to_problem();
            assert_eq!((p.status, p.code.as_str()), (503, "storage_failed"));
        }
    }
}
