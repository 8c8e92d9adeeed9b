//! parley-client: the headless Parley client. The desktop app is a thin shell
//! over this crate, and the `parley` CLI is its terminal face.
//!
//! - [`api`]: REST, one typed method per endpoint;
//! - [`session`]: the profile directory, the session in the OS keyring (or a
//!   0600 file where there is none), and the lock that serialises refreshes;
//! - [`cache`]: local SQLite of chats, messages, contacts, requests, the outbox
//!   and the event cursor;
//! - [`client`]: `Client`, one signed-in profile, with token refresh;
//! - [`download`]: saving a received attachment to a file, safely named and
//!   checked;
//! - [`realtime`]: the WebSocket loop (reconnect, resume, ack, outbox);
//! - [`qr`]: QR render/decode and camera frame sources.
//!
//! Never: hold the source of truth (the server is the authority; the cache
//! mirrors it), or block the async runtime (SQLite and keyring calls run on
//! the blocking pool).

pub mod api;
pub mod cache;
pub mod client;
pub mod download;
pub mod error;
pub mod events;
pub mod media;
pub mod qr;
pub mod realtime;
pub mod session;

pub use client::{request_code, start_link, Client};
pub use error::{ClientError, Result};
pub use events::{ClientEvent, LinkState};
pub use session::{Profile, SecretStore};
