//! Calls in progress: in memory only, on the instance serving them. A call has no row until it
//! ends, so a crash leaves nothing "In Progress" behind (the call is simply not logged).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use gumstack_gateway::CallStart;

/// A `tools/call` that has started and not ended (status "In Progress").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InFlightCall {
    /// The id the platform gave the call (the forwarded identity's `jti`).
    pub call_id: String,
    pub server_id: String,
    pub user_id: String,
    /// The OAuth client (MCP client) the call came through.
    pub client_id: String,
    pub tool: String,
    /// Unix milliseconds, like `activity.started_at`.
    pub started_at: i64,
}

/// The calls in progress on this instance, by call id.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    calls: Mutex<HashMap<String, InFlightCall>>,
}

impl InFlight {
    fn calls(&self) -> std::sync::MutexGuard<'_, HashMap<String, InFlightCall>> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn insert(&self, call: &CallStart) {
        let entry = InFlightCall {
            call_id: call.call_id.clone(),
            server_id: call.server_id.clone(),
            user_id: call.user_id.clone(),
            client_id: call.client_id.clone(),
            tool: call.tool.clone(),
            started_at: unix_millis(call.started_at),
        };
        self.calls().insert(call.call_id.clone(), entry);
    }

    pub(crate) fn remove(&self, call_id: &str) {
        self.calls().remove(call_id);
    }

    /// Every call in progress, oldest first.
    pub(crate) fn list(&self) -> Vec<InFlightCall> {
        let mut calls: Vec<InFlightCall> = self.calls().values().cloned().collect();
        calls.sort_by(|a, b| {
            a.started_at
                .cmp(&b.started_at)
                .then_with(|| a.call_id.cmp(&b.call_id))
        });
        calls
    }
}

/// Unix milliseconds of `at` (0 before 1970).
pub(crate) fn unix_millis(at: std::time::SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    })
}
