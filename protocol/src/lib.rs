//! parley-protocol: every type that crosses the Parley wire.
//!
//! This crate is the contract of `shared/design/PROTOCOL.md` in Rust. It holds
//! serde types and pure parsing/validation only; it must never do I/O, so that the
//! server, the client, the desktop shell and the benches can all share it.
//!
//! Where PROTOCOL.md is silent, the choice made is documented on the type here and
//! appears in the server's OpenAPI document (feature `openapi`).

pub mod auth;
pub mod chats;
pub mod contacts;
pub mod error;
pub mod events;
pub mod health;
pub mod ids;
pub mod limits;
pub mod links;
pub mod profile;
pub mod qr;

pub use auth::*;
pub use chats::*;
pub use contacts::*;
pub use error::*;
pub use events::*;
pub use health::*;
pub use ids::*;
pub use links::*;
pub use profile::*;

/// Timestamps on the wire: RFC 3339, UTC.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
