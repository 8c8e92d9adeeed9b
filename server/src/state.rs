//! The shared application state handed to every handler.

use crate::{
    config::Config, keys::Keys, otp_driver::OtpDriver, ratelimit::IpLimiter, store::Store,
};
use std::sync::Arc;

/// Everything a service needs. Cloning is cheap (an `Arc`).
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

pub struct Inner {
    pub store: Store,
    pub config: Config,
    pub keys: Keys,
    pub otp: OtpDriver,
    /// Sign-in requests per client IP.
    pub auth_limiter: IpLimiter,
    /// The base URL clients use (QR codes carry it).
    pub public_url: url::Url,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
