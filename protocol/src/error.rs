//! The error body every 4xx/5xx carries (`application/problem+json`, RFC 9457).

use serde::{Deserialize, Serialize};

/// Media type of every error response.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem document plus Parley's stable machine-readable `code`.
///
/// `type` is `urn:parley:problem:<code>`, so it is a stable URI that needs no
/// hosted documentation page.
///
/// Besides each endpoint's own codes, any request that changes something
/// (REST or a WebSocket `send`/`ack`/...) may get a 503 meaning "nothing was
/// saved, try again later": `storage_full` (the server's disk is full),
/// `write_rolled_back` (another change committed together with this one
/// failed) or `storage_failed` (the server's disk failed; it saves nothing
/// until restarted). All are safe to retry; a `send` keeps its `client_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(default)]
    pub detail: String,
    /// Stable snake_case code, e.g. `invalid_code`; clients switch on this.
    pub code: String,
    /// With a 429: seconds before trying again, the `Retry-After` header's
    /// value (a problem in a WebSocket `result` frame has no headers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: u16, code: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            type_uri: format!("urn:parley:problem:{code}"),
            title: title.to_owned(),
            status,
            detail: detail.into(),
            code: code.to_owned(),
            retry_after: None,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.detail.is_empty() {
            write!(f, "{} ({})", self.title, self.code)
        } else {
            write!(f, "{} ({})", self.detail, self.code)
        }
    }
}

impl std::error::Error for Problem {}
