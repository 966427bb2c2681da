//! The waits the platform and the SDK rely on each other to keep, and how they must relate.
//!
//! A credentials fetch (§3) of an `oauth` server can make the platform refresh the token
//! first, which calls the server's own provider route (§4), which calls the provider:
//!
//! ```text
//! tool ── SDK_CREDENTIALS ──▶ platform ── PLATFORM_PROVIDER_CALL ──▶ server ── SDK_PROVIDER ──▶ provider
//!                              └─ answers within PLATFORM_REFRESH_WAIT, whatever it waits for:
//!                                 its own provider call or another process's refresh (whose
//!                                 lease lasts PLATFORM_REFRESH_LEASE at most)
//! ```
//!
//! Each waiter must wait longer than what it waits for, or it gives up while an answer is on
//! its way (and the user sees "retry later" for a refresh that succeeds):
//!
//! 1. [`SDK_PROVIDER`] < [`PLATFORM_PROVIDER_CALL`]: the platform hears the provider's own
//!    (classified) failure rather than timing out on the server.
//! 2. [`PLATFORM_PROVIDER_CALL`] < [`PLATFORM_REFRESH_LEASE`]: a refresh ends while its lease
//!    holds, so no second process refreshes with the same refresh token.
//! 3. [`SDK_PROVIDER`] < [`SDK_CREDENTIALS`]: a refresh through the SDK's standard provider
//!    fits in a fetch.
//! 4. [`PLATFORM_PROVIDER_CALL`] ≤ [`PLATFORM_REFRESH_WAIT`] and [`PLATFORM_REFRESH_WAIT`] +
//!    [`ANSWER_MARGIN`] ≤ [`SDK_CREDENTIALS`]: the platform answers every fetch before the SDK
//!    gives up. A refresh the platform started goes on after it answered "retry later" (the
//!    next fetch gets its token), so bounding the answer loses nothing.

use std::time::Duration;

/// How long the SDK waits for the platform's answer to a credentials fetch or report (§3).
pub const SDK_CREDENTIALS: Duration = Duration::from_secs(20);
/// How long the SDK's standard OAuth provider waits for the provider (the default of
/// `OAUTH_TIMEOUT_SECS`).
pub const SDK_PROVIDER: Duration = Duration::from_secs(15);
/// How long the platform's refresh lease on a connection lasts at most (a holder that is
/// still running; the lease of a process that is gone is taken over sooner).
pub const PLATFORM_REFRESH_LEASE: Duration = Duration::from_secs(60);
/// How long the platform waits for one call to a server's provider route.
pub const PLATFORM_PROVIDER_CALL: Duration = Duration::from_secs(17);
/// How long the platform takes at most to answer a credentials fetch: waiting for a refresh
/// another task or process is making, and its own provider call, included.
pub const PLATFORM_REFRESH_WAIT: Duration = Duration::from_secs(18);
/// What [`SDK_CREDENTIALS`] leaves beyond [`PLATFORM_REFRESH_WAIT`] for the request and the
/// answer to travel (the gateway, loopback HTTP, a busy platform).
pub const ANSWER_MARGIN: Duration = Duration::from_secs(2);

const _: () = {
    assert!(SDK_PROVIDER.as_secs() < PLATFORM_PROVIDER_CALL.as_secs());
    assert!(PLATFORM_PROVIDER_CALL.as_secs() < PLATFORM_REFRESH_LEASE.as_secs());
    assert!(SDK_PROVIDER.as_secs() < SDK_CREDENTIALS.as_secs());
    assert!(PLATFORM_PROVIDER_CALL.as_secs() <= PLATFORM_REFRESH_WAIT.as_secs());
    assert!(PLATFORM_REFRESH_WAIT.as_secs() + ANSWER_MARGIN.as_secs() <= SDK_CREDENTIALS.as_secs());
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_waits_longer_than_the_platform_may_take() {
        assert!(PLATFORM_PROVIDER_CALL < SDK_CREDENTIALS);
        assert!(PLATFORM_REFRESH_WAIT < SDK_CREDENTIALS);
        assert!(PLATFORM_REFRESH_WAIT + ANSWER_MARGIN <= SDK_CREDENTIALS);
    }
}
