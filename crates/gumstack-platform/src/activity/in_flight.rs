//! Calls in flight on this instance, in memory only: one table for two readers.
//!
//! - **Live calls** (docs/PROTOCOL.md §3): a request the gateway forwards to a server process
//!   is live from its authorization until its response has streamed whole (an event stream:
//!   until it ends) or its client went away. `/internal` releases credentials only for a
//!   live call, and only to the user, server and deployment it names ([`CallScope`]). The
//!   gateway holds a [`LiveCall`](super::LiveCall) guard; dropping it ends the call.
//! - **"In Progress"** ([`InFlightCall`]): a `tools/call` the activity log has begun and not
//!   yet recorded. A call has no row until it ends, so a crash leaves nothing "In Progress"
//!   behind (the call is simply not logged).
//!
//! An entry goes when neither holds it any more.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use gumstack_gateway::CallStart;
use uuid::Uuid;

/// A `tools/call` that has started and not ended (status "In Progress").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InFlightCall {
    /// The id the platform gave the call (its `Gumstack-Call`).
    pub call_id: String,
    pub server_id: String,
    pub user_id: String,
    /// The OAuth client (MCP client) the call came through.
    pub client_id: String,
    pub tool: String,
    /// Unix milliseconds, like `activity.started_at`.
    pub started_at: i64,
}

/// Whom a live call is for: what `/internal` checks a server's request against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallScope {
    pub(crate) server_id: Uuid,
    /// The deployment the gateway forwarded the call to: only its server token may fetch.
    pub(crate) deployment_id: Uuid,
    pub(crate) user_id: Uuid,
    /// The grant (user × MCP client × server) the call was authorized by: revoking it ends
    /// every release at once.
    pub(crate) grant_id: Uuid,
    /// The MCP client's `client_id` (the identity's `cid`).
    pub(crate) client_id: String,
    /// The tool it calls, once the gateway read it (servers with per-user credentials only).
    pub(crate) tool: Option<String>,
}

/// What a live call's server was refused for want of its user's credentials (`/internal`'s
/// 409 `credentials_required`): the gateway may ask the user inside the call instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NeededInput {
    /// For the person: what is missing.
    pub(crate) message: String,
    /// The page where the user provides it (the server's connections page).
    pub(crate) connect_url: String,
}

#[derive(Debug, Default)]
struct Entry {
    /// Set while the gateway holds the call.
    live: Option<CallScope>,
    /// Set when the live call's server was refused the user's credentials.
    needs: Option<NeededInput>,
    /// Set while the activity log shows the call "In Progress".
    shown: Option<InFlightCall>,
}

/// The calls in flight on this instance, by call id.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    calls: Mutex<HashMap<String, Entry>>,
}

impl InFlight {
    fn calls(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Changes the entry of `call_id` (made if missing), and removes it when it holds nothing.
    fn update(&self, call_id: &str, change: impl FnOnce(&mut Entry)) {
        let mut calls = self.calls();
        let entry = calls.entry(call_id.to_owned()).or_default();
        change(entry);
        if entry.live.is_none() && entry.shown.is_none() {
            calls.remove(call_id);
        }
    }

    /// The activity log began the `tools/call` `call`: "In Progress" until [`Self::remove`].
    pub(crate) fn insert(&self, call: &CallStart) {
        let shown = InFlightCall {
            call_id: call.call_id.clone(),
            server_id: call.server_id.clone(),
            user_id: call.user_id.clone(),
            client_id: call.client_id.clone(),
            tool: call.tool.clone(),
            started_at: unix_millis(call.started_at),
        };
        self.update(&call.call_id, |entry| entry.shown = Some(shown));
    }

    /// The activity log is done with `call_id` (its record is queued, or lost).
    pub(crate) fn remove(&self, call_id: &str) {
        self.update(call_id, |entry| entry.shown = None);
    }

    /// `call_id` is live for `scope` until [`Self::close`].
    pub(crate) fn open(&self, call_id: &str, scope: CallScope) {
        self.update(call_id, |entry| entry.live = Some(scope));
    }

    /// `call_id` is no longer live.
    pub(crate) fn close(&self, call_id: &str) {
        self.update(call_id, |entry| {
            entry.live = None;
            entry.needs = None;
        });
    }

    /// The live call `call_id` calls `tool`; nothing if the call is not live.
    pub(crate) fn name_tool(&self, call_id: &str, tool: &str) {
        if let Some(live) = self
            .calls()
            .get_mut(call_id)
            .and_then(|entry| entry.live.as_mut())
        {
            live.tool = Some(tool.to_owned());
        }
    }

    /// The live call `call_id`'s server was refused its user's credentials; nothing if the
    /// call is not live.
    pub(crate) fn mark_needed(&self, call_id: &str, needed: NeededInput) {
        if let Some(entry) = self.calls().get_mut(call_id)
            && entry.live.is_some()
        {
            entry.needs = Some(needed);
        }
    }

    /// Whom the live call `call_id` is for and what its server was refused, if it was.
    pub(crate) fn needed(&self, call_id: &str) -> Option<(CallScope, NeededInput)> {
        let calls = self.calls();
        let entry = calls.get(call_id)?;
        Some((entry.live.clone()?, entry.needs.clone()?))
    }

    /// Whom the live call `call_id` is for; `None` when it ended or never was.
    pub(crate) fn live(&self, call_id: &str) -> Option<CallScope> {
        self.calls()
            .get(call_id)
            .and_then(|entry| entry.live.clone())
    }

    /// Every call in progress, oldest first.
    pub(crate) fn list(&self) -> Vec<InFlightCall> {
        let mut calls: Vec<InFlightCall> = self
            .calls()
            .values()
            .filter_map(|entry| entry.shown.clone())
            .collect();
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

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn scope() -> CallScope {
        CallScope {
            server_id: Uuid::new_v4(),
            deployment_id: Uuid::new_v4(),
            user_id: Uuid::new_v4(),
            grant_id: Uuid::new_v4(),
            client_id: "client".into(),
            tool: None,
        }
    }

    fn start(call_id: &str) -> CallStart {
        CallStart {
            server_id: "server".into(),
            user_id: "user".into(),
            client_id: "client".into(),
            call_id: call_id.into(),
            tool: "greet".into(),
            started_at: SystemTime::now(),
            input: None,
            token: None,
        }
    }

    #[test]
    fn a_call_stays_live_until_the_gateway_lets_it_go_whatever_the_log_does() {
        let table = InFlight::default();
        let scope = scope();
        table.open("c1", scope.clone());
        table.insert(&start("c1"));
        assert_eq!(table.list().len(), 1);
        // The answer was read (the record is queued) while the stream is still open.
        table.remove("c1");
        assert!(table.list().is_empty(), "no longer In Progress");
        assert_eq!(table.live("c1"), Some(scope), "still live");
        table.close("c1");
        assert_eq!(table.live("c1"), None);
        assert!(table.calls().is_empty(), "nothing left behind");
    }

    #[test]
    fn only_a_live_call_is_marked_as_needing_input_and_the_mark_ends_with_it() {
        let table = InFlight::default();
        let needed = NeededInput {
            message: "connect".into(),
            connect_url: "https://p/connections/demo".into(),
        };
        table.mark_needed("gone", needed.clone());
        assert!(
            table.calls().is_empty(),
            "no entry made for a call that is not live"
        );
        let scope = scope();
        table.open("c5", scope.clone());
        assert_eq!(table.needed("c5"), None);
        table.mark_needed("c5", needed.clone());
        assert_eq!(table.needed("c5"), Some((scope, needed)));
        table.close("c5");
        assert_eq!(table.needed("c5"), None);
        assert!(table.calls().is_empty());
    }

    #[test]
    fn a_call_the_log_shows_is_not_live_unless_the_gateway_opened_it() {
        let table = InFlight::default();
        table.insert(&start("c2"));
        assert_eq!(table.live("c2"), None);
        assert_eq!(table.live("never"), None);
        table.remove("c2");
        // Closing or removing what is not there leaves nothing behind either.
        table.close("c3");
        table.remove("c4");
        assert!(table.calls().is_empty());
    }
}
