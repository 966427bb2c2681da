//! What the platform handed a server process during a call (a user's `cred` values, an OAuth
//! access token), filed under the call's id when `/internal` releases it, and taken by the
//! activity writer when it redacts that call's record. Bounded and expiring: an entry nobody
//! takes (the call was not a `tools/call`, or the log is off) goes after the identity's
//! lifetime.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use secrecy::SecretString;

/// Calls with released values kept at most; when full, expired entries go first, then the
/// oldest.
const MAX_CALLS: usize = 10_000;

#[derive(Debug)]
pub(crate) struct Released {
    entries: Mutex<HashMap<String, Entry>>,
    ttl: Duration,
}

#[derive(Debug)]
struct Entry {
    at: Instant,
    values: Vec<SecretString>,
}

impl Released {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Files `values` under `call_id` (added to what was filed before).
    pub(crate) fn add(&self, call_id: &str, values: impl IntoIterator<Item = SecretString>) {
        let now = Instant::now();
        let mut entries = self.entries();
        if entries.len() >= MAX_CALLS && !entries.contains_key(call_id) {
            entries.retain(|_, entry| now.duration_since(entry.at) < self.ttl);
            if entries.len() >= MAX_CALLS
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, entry)| entry.at)
                    .map(|(id, _)| id.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries
            .entry(call_id.to_owned())
            .or_insert_with(|| Entry {
                at: now,
                values: Vec::new(),
            })
            .values
            .extend(values);
    }

    /// What was released during `call_id` (nothing if expired); removes it.
    pub(crate) fn take(&self, call_id: &str) -> Vec<SecretString> {
        match self.entries().remove(call_id) {
            Some(entry) if entry.at.elapsed() < self.ttl => entry.values,
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;

    #[test]
    fn values_are_taken_once_and_bounded() {
        let released = Released::new(Duration::from_secs(60));
        released.add("a", [SecretString::from("one-secret")]);
        released.add("a", [SecretString::from("two-secret")]);
        let taken: Vec<String> = released
            .take("a")
            .iter()
            .map(|v| v.expose_secret().to_owned())
            .collect();
        assert_eq!(taken, ["one-secret", "two-secret"]);
        assert!(released.take("a").is_empty());
        for i in 0..MAX_CALLS + 5 {
            released.add(&i.to_string(), [SecretString::from("value-x")]);
        }
        assert!(released.entries().len() <= MAX_CALLS);
    }

    #[test]
    fn expired_values_are_not_handed_out() {
        let released = Released::new(Duration::ZERO);
        released.add("a", [SecretString::from("one-secret")]);
        assert!(released.take("a").is_empty());
    }
}
