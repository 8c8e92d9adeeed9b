//! The shared application state handed to every handler.

use crate::{
    config::Config,
    hub::Hub,
    keys::Keys,
    otp_driver::OtpDriver,
    ratelimit::{IpLimiter, KeyedLimiter},
    service::links::LinkWaiters,
    store::Store,
};
use std::sync::Arc;

/// Everything a service needs. Cloning is cheap (an `Arc`).
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

pub struct Inner {
    pub store: Store,
    /// Avatar bodies read at once: each (up to 5 MiB) is held in memory, so
    /// a thousand at once from one account would be gigabytes. One more is
    /// told to come back (503 `busy`) rather than queued, so slow senders
    /// cannot hold everyone else's upload up.
    pub avatar_reads: tokio::sync::Semaphore,
    /// The data directory's lock (see `LOCK_FILE`), taken by `serve`.
    pub data_lock: std::sync::Mutex<Option<std::fs::File>>,
    pub config: Config,
    pub keys: Keys,
    pub otp: OtpDriver,
    /// Sign-in requests per client IP.
    pub auth_limiter: IpLimiter,
    /// Token refreshes per client IP.
    pub refresh_limiter: IpLimiter,
    /// Typed short contact codes per user.
    pub short_code_limiter: KeyedLimiter<String>,
    /// New contact codes and device invites per user (each is a row kept
    /// for its lifetime): a screen that renews its code needs one every few
    /// minutes.
    pub code_limiter: KeyedLimiter<String>,
    /// Profile changes per user (see `PROFILE_CHANGES_PER_MINUTE`).
    pub profile_limiter: KeyedLimiter<String>,
    /// Searches and username lookups per user: each search walks the index
    /// on one of the few read connections every request shares, and
    /// lookups without end would list the usernames taken. As-you-type
    /// needs a few a second.
    pub search_limiter: KeyedLimiter<String>,
    /// Sends over REST per user: the same rate a WebSocket allows (the
    /// socket's own limit would otherwise be one REST loop away). Edits,
    /// deletions and reactions draw on the same budget: each is an event in
    /// both members' logs, like a send.
    pub rest_send_limiter: KeyedLimiter<String>,
    /// The base URL clients use (QR codes carry it).
    pub public_url: url::Url,
    /// Connected device sessions.
    pub hub: Arc<Hub>,
    /// Long polls waiting for a device link approval.
    pub link_waiters: LinkWaiters,
}

impl Inner {
    /// The public URL without a trailing slash, as QR payloads carry it.
    pub fn public_base(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
