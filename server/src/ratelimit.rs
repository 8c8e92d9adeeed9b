//! In-memory rate limits keyed by client IP (governor, GCRA). Per-identifier
//! limits live in the database instead, so they survive a restart.

use crate::error::Error;
use governor::{
    clock::{Clock, DefaultClock},
    DefaultKeyedRateLimiter, Quota, RateLimiter,
};
use std::{net::IpAddr, num::NonZeroU32, sync::Arc};

#[derive(Clone)]
pub struct IpLimiter {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
}

impl IpLimiter {
    /// `per_minute` requests per minute per IP, all of them usable in a burst.
    pub fn per_minute(per_minute: u32) -> IpLimiter {
        let n = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        IpLimiter {
            limiter: Arc::new(RateLimiter::keyed(Quota::per_minute(n))),
        }
    }

    /// Takes one token for `ip`, or says how long to wait.
    pub fn check(&self, ip: IpAddr) -> Result<(), Error> {
        self.limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Error::TooManyRequests {
                code: "rate_limited",
                detail: "too many requests from this address; slow down".into(),
                retry_after: wait.as_secs().max(1),
            }
        })
    }

    /// Drops state of IPs that are back to a full bucket; call periodically so
    /// memory does not grow with every address ever seen.
    pub fn prune(&self) {
        self.limiter.retain_recent();
    }
}
