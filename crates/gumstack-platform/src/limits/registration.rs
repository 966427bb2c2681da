//! Dynamic client registrations per client address within an hour (SPEC §7). In memory for one
//! instance; shared limits across instances come with the PostgreSQL store (SPEC §13).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const REGISTRATIONS_PER_ADDRESS_PER_HOUR: usize = 20;

/// Registrations per client address within an hour.
#[derive(Debug, Default)]
pub struct RegistrationLimiter {
    seen: Mutex<HashMap<IpAddr, Vec<Instant>>>,
}

impl RegistrationLimiter {
    /// Records a registration from `address`; false when it has had its share this hour.
    pub fn allow(&self, address: IpAddr) -> bool {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let hour = Duration::from_secs(3600);
        let times = seen.entry(address).or_default();
        times.retain(|t| t.elapsed() < hour);
        if times.len() >= REGISTRATIONS_PER_ADDRESS_PER_HOUR {
            return false;
        }
        times.push(Instant::now());
        true
    }
}
