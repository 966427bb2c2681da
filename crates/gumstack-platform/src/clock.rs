//! Wall-clock time, injected: every expiry decision (authorization codes, refresh tokens,
//! access tokens and identities, browser sessions and API tokens, connect flows, client
//! registrations, connection refreshes) reads the platform's [`Clock`], so tests move time
//! forward with a [`ManualClock`] instead of sleeping.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::store::Timestamp;

/// Wall-clock time in Unix seconds.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock showing `at`.
    pub fn at(at: Timestamp) -> Self {
        Self(AtomicI64::new(at))
    }

    /// A clock showing the system time now; it stands still from then on.
    pub fn starting_now() -> Self {
        Self::at(SystemClock.now())
    }

    /// Moves the clock forward by `seconds`.
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.0.load(Ordering::SeqCst)
    }
}
