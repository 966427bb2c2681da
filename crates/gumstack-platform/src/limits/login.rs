//! Login rate limiting (SPEC §8): failed attempts per account and per client address within a
//! sliding window. In memory for one instance; shared limits across instances come with the
//! PostgreSQL store (SPEC §13).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(15 * 60);
const MAX_FAILURES_PER_ACCOUNT: usize = 5;
const MAX_FAILURES_PER_ADDRESS: usize = 20;
/// How many accounts and addresses are tracked before stale entries are dropped.
const MAX_TRACKED: usize = 10_000;

/// Counts failed logins.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl LoginLimiter {
    /// Seconds to wait before another attempt is allowed for this account or address, if any.
    pub fn blocked_for(&self, email: &str, address: &str) -> Option<u64> {
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        [
            (format!("account:{email}"), MAX_FAILURES_PER_ACCOUNT),
            (format!("address:{address}"), MAX_FAILURES_PER_ADDRESS),
        ]
        .into_iter()
        .filter_map(|(key, max)| {
            let times = map.get_mut(&key)?;
            times.retain(|t| now.duration_since(*t) < WINDOW);
            (times.len() >= max).then(|| {
                let oldest = times.first().copied().unwrap_or(now);
                WINDOW
                    .saturating_sub(now.duration_since(oldest))
                    .as_secs()
                    .max(1)
            })
        })
        .max()
    }

    pub fn record_failure(&self, email: &str, address: &str) {
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        // Failures of many accounts and addresses must not grow the map without end: forget
        // the ones outside the window once it is large.
        if map.len() >= MAX_TRACKED {
            map.retain(|_, times| {
                times.retain(|t| now.duration_since(*t) < WINDOW);
                !times.is_empty()
            });
        }
        for key in [format!("account:{email}"), format!("address:{address}")] {
            map.entry(key).or_default().push(now);
        }
    }

    pub fn record_success(&self, email: &str) {
        let mut map = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.remove(&format!("account:{email}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_repeated_failures_per_account() {
        let limiter = LoginLimiter::default();
        for _ in 0..MAX_FAILURES_PER_ACCOUNT {
            assert!(limiter.blocked_for("a@x", "1.2.3.4").is_none());
            limiter.record_failure("a@x", "1.2.3.4");
        }
        assert!(limiter.blocked_for("a@x", "5.6.7.8").is_some());
        assert!(limiter.blocked_for("b@x", "5.6.7.8").is_none());
        limiter.record_success("a@x");
        assert!(limiter.blocked_for("a@x", "5.6.7.8").is_none());
    }
}
