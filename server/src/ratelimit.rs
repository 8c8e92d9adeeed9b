//! In-memory rate limits (governor, GCRA) keyed by client IP or user id.
//! Per-identifier OTP spacing lives in the database instead, so it survives a
//! restart.

use crate::error::Error;
use governor::{
    clock::{Clock, DefaultClock},
    state::keyed::DefaultKeyedStateStore,
    Quota, RateLimiter,
};
use std::{hash::Hash, net::IpAddr, num::NonZeroU32, sync::Arc};

/// A keyed limiter: `n` per minute per key, all usable in a burst.
pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    limiter: Arc<RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>>,
}

impl<K: Hash + Eq + Clone> Clone for KeyedLimiter<K> {
    fn clone(&self) -> Self {
        Self {
            limiter: self.limiter.clone(),
        }
    }
}

/// A limiter per client network: an IPv4 address, or an IPv6 /64 (one
/// subscriber's usual share, so a client cannot get a fresh bucket for
/// every address of its prefix).
#[derive(Clone)]
pub struct IpLimiter(KeyedLimiter<IpAddr>);

impl IpLimiter {
    pub fn per_minute(per_minute: u32) -> Self {
        IpLimiter(KeyedLimiter::per_minute(per_minute))
    }

    /// Takes one token for `ip`'s network, or says how long to wait.
    pub fn check(&self, ip: IpAddr) -> Result<(), Error> {
        self.0.check(client_network(ip))
    }

    pub fn prune(&self) {
        self.0.prune();
    }
}

/// The key `ip` is limited by: itself for IPv4 (an IPv4-mapped IPv6 address
/// is its IPv4 one), its /64 for IPv6.
fn client_network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut s = v6.segments();
                s[4..].fill(0);
                IpAddr::V6(std::net::Ipv6Addr::from(s))
            }
        },
    }
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    pub fn per_minute(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        KeyedLimiter {
            limiter: Arc::new(RateLimiter::keyed(Quota::per_minute(n))),
        }
    }

    /// `per_second` per key on average, bursts of up to `burst`.
    pub fn per_second(per_second: u32, burst: u32) -> Self {
        let n = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let b = NonZeroU32::new(burst).unwrap_or(n);
        KeyedLimiter {
            limiter: Arc::new(RateLimiter::keyed(Quota::per_second(n).allow_burst(b))),
        }
    }

    /// Takes one token for `key`, or says how long to wait (rounded up: a
    /// client that waits what `Retry-After` says is then let through).
    pub fn check(&self, key: K) -> Result<(), Error> {
        self.limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Error::TooManyRequests {
                code: "rate_limited",
                detail: "too many requests; slow down".into(),
                retry_after: retry_after_secs(wait),
            }
        })
    }

    /// Drops keys whose bucket is full again, so memory does not grow with
    /// every key ever seen.
    pub fn prune(&self) {
        self.limiter.retain_recent();
    }
}

/// Whole seconds to wait before a token is there again, rounded up (1.9 s
/// said as 1 would earn the client a second 429) and at least one.
pub(crate) fn retry_after_secs(wait: std::time::Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        let key = |s: &str| client_network(s.parse().unwrap()).to_string();
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2:ffff:1:2:3"), "2001:db8:1:2::");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        let limiter = IpLimiter::per_minute(2);
        for last in ["1", "2"] {
            assert!(limiter
                .check(format!("2001:db8::{last}").parse().unwrap())
                .is_ok());
        }
        assert!(limiter.check("2001:db8::3".parse().unwrap()).is_err());
        assert!(limiter.check("2001:db8:0:1::3".parse().unwrap()).is_ok());
    }

    #[test]
    fn retry_after_is_rounded_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1_900)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
    }
}
