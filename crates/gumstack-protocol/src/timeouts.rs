//! The waits the platform and the SDK rely on each other to keep, and how they must relate.
//!
//! A credentials fetch (§3) of an `oauth` server can make the platform refresh the token
//! first, which calls the server's own provider route (§4), which calls the provider:
//!
//! ```text
//! tool ── SDK_CREDENTIALS ──▶ platform ── PLATFORM_PROVIDER_CALL ──▶ server ── SDK_PROVIDER ──▶ provider
//!                              └─ or waits up to PLATFORM_REFRESH_WAIT for another process's
//!                                 refresh (its lease lasts PLATFORM_REFRESH_LEASE)
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
//! 4. [`PLATFORM_PROVIDER_CALL`] and [`PLATFORM_REFRESH_WAIT`] < [`SDK_CREDENTIALS`]: the SDK
//!    never gives up before the platform answers. **Today's values break this** (30 s and 40 s
//!    against 20 s): a fetch that waits on a slow refresh or on another process's lease is
//!    abandoned by the SDK after 20 s. The test of this relation is ignored until the values
//!    are fixed; the others are asserted at compile time.

use std::time::Duration;

/// How long the SDK waits for the platform's answer to a credentials fetch or report (§3).
pub const SDK_CREDENTIALS: Duration = Duration::from_secs(20);
/// How long the SDK's standard OAuth provider waits for the provider (the default of
/// `OAUTH_TIMEOUT_SECS`).
pub const SDK_PROVIDER: Duration = Duration::from_secs(15);
/// How long the platform's refresh lease on a connection lasts at most.
pub const PLATFORM_REFRESH_LEASE: Duration = Duration::from_secs(60);
/// How long the platform waits for one call to a server's provider route (half the lease).
pub const PLATFORM_PROVIDER_CALL: Duration =
    Duration::from_secs(PLATFORM_REFRESH_LEASE.as_secs() / 2);
/// How long the platform waits for a refresh another task or process is making before it
/// answers a credentials fetch.
pub const PLATFORM_REFRESH_WAIT: Duration = Duration::from_secs(40);

const _: () = {
    assert!(SDK_PROVIDER.as_secs() < PLATFORM_PROVIDER_CALL.as_secs());
    assert!(PLATFORM_PROVIDER_CALL.as_secs() < PLATFORM_REFRESH_LEASE.as_secs());
    assert!(SDK_PROVIDER.as_secs() < SDK_CREDENTIALS.as_secs());
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[ignore = "known defect: the SDK gives up after 20 s while the platform may still answer \
                (30 s provider call, 40 s lease wait); un-ignore when the values are fixed"]
    fn the_sdk_waits_longer_than_the_platform_may_take() {
        assert!(PLATFORM_PROVIDER_CALL < SDK_CREDENTIALS);
        assert!(PLATFORM_REFRESH_WAIT < SDK_CREDENTIALS);
    }
}
