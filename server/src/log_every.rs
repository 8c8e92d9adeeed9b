//! At most one log line per period for a failure that can repeat thousands of
//! times a second (every write refused while the disk is full): the operator
//! needs to hear it, not to have the log drown in it.

use std::{
    sync::atomic::{AtomicI64, AtomicU64, Ordering},
    time::{Duration, Instant},
};

pub struct Every {
    period: Duration,
    /// Milliseconds since `epoch` of the last line, or -1 before the first.
    last: AtomicI64,
    /// Occurrences since the last line.
    since: AtomicU64,
    epoch: std::sync::OnceLock<Instant>,
}

impl Every {
    pub const fn new(period: Duration) -> Every {
        Every {
            period,
            last: AtomicI64::new(-1),
            since: AtomicU64::new(0),
            epoch: std::sync::OnceLock::new(),
        }
    }

    /// Counts one occurrence; `Some(n)` (n occurrences, this one included,
    /// since the last line) when a line is due now.
    pub fn due(&self) -> Option<u64> {
        let n = self.since.fetch_add(1, Ordering::Relaxed) + 1;
        let epoch = *self.epoch.get_or_init(Instant::now);
        let now = i64::try_from(epoch.elapsed().as_millis()).unwrap_or(i64::MAX);
        let last = self.last.load(Ordering::Relaxed);
        let period = i64::try_from(self.period.as_millis()).unwrap_or(i64::MAX);
        let due = last < 0 || now.saturating_sub(last) >= period;
        if due
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.since.fetch_sub(n, Ordering::Relaxed);
            Some(n)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Every;
    use std::time::Duration;

    #[test]
    fn the_first_is_logged_then_one_per_period_with_the_count() {
        let e = Every::new(Duration::from_millis(200));
        assert_eq!(e.due(), Some(1));
        assert_eq!((0..99).filter_map(|_| e.due()).count(), 0);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let n = loop {
            if let Some(n) = e.due() {
                break n;
            }
            assert!(std::time::Instant::now() < deadline, "never due again");
            std::hint::spin_loop();
        };
        assert!(n >= 100, "{n}");
    }
}
