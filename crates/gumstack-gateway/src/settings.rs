//! What the gateway is configured with: [`GatewaySettings`] (where it is reachable) and
//! [`GatewayLimits`] (sizes and timeouts, with defaults).

use std::time::Duration;

/// Where the gateway is reachable, for the DNS-rebinding checks and the `WWW-Authenticate`
/// challenge.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// The public base URL, e.g. `https://mcp.example.com` (no trailing slash; one is ignored).
    pub public_base: String,
    /// `Host` header values accepted (`host` or `host:port`, compared case-insensitively), e.g.
    /// the public URL's authority and the loopback listen address. An entry with the default
    /// port (80 or 443) also accepts the bare host, and a bare host also accepts those ports.
    pub allowed_hosts: Vec<String>,
    /// `Origin` values accepted when an `Origin` header is present (the public origin). A
    /// request without `Origin` (every non-browser client) is not affected.
    pub allowed_origins: Vec<String>,
}

/// Sizes and timeouts. [`Default`] is what [`router`](crate::router) uses.
#[derive(Debug, Clone)]
pub struct GatewayLimits {
    /// Largest request body forwarded; larger ones are answered 413 (checked against
    /// `Content-Length` up front and counted while streaming).
    pub max_request_body: usize,
    /// How long the upstream may take to send its response headers. Streams may last longer
    /// once they have started. The default, 10 minutes, matches the lifetime of the signed
    /// identity: servers that answer `tools/call` with plain JSON (the SDK does) send their
    /// headers only when the tool has finished.
    pub upstream_header_timeout: Duration,
    /// How long connecting to the upstream may take.
    pub upstream_connect_timeout: Duration,
    /// How long an idle pooled upstream connection is kept.
    pub pool_idle_timeout: Duration,
    /// How much of a `tools/call`'s input and of its answer is reported to the
    /// [`CallLog`](crate::CallLog), each; more is cut and marked truncated.
    pub activity_capture: usize,
}

/// The default [`GatewayLimits::activity_capture`]: the platform keeps 16 KiB of each after
/// redaction, and the 8 KiB more let it find a secret that straddles the 16 KiB whole.
pub const ACTIVITY_CAPTURE: usize = 24 * 1024;

impl Default for GatewayLimits {
    fn default() -> Self {
        Self {
            max_request_body: 4 * 1024 * 1024,
            upstream_header_timeout: Duration::from_secs(600),
            upstream_connect_timeout: Duration::from_secs(5),
            pool_idle_timeout: Duration::from_secs(90),
            activity_capture: ACTIVITY_CAPTURE,
        }
    }
}
