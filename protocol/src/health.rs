use serde::{Deserialize, Serialize};

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Health {
    /// `ok`: a server that cannot save changes answers 503 `storage_failed`
    /// instead.
    pub status: String,
    /// The server's semantic version.
    pub version: String,
}
