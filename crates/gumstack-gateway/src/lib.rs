//! The Gumstack MCP gateway: the one door through which MCP clients reach hosted servers.
//!
//! [`router`] serves `POST`, `GET` and `DELETE /mcp/{slug}` (anything else: 405 with `Allow`).
//! For each request, in order:
//!
//! 1. **DNS-rebinding protection**: the `Host` must be one of
//!    [`GatewaySettings::allowed_hosts`] and an `Origin`, when present, one of
//!    [`GatewaySettings::allowed_origins`]; otherwise 403. There is no CORS: MCP clients are
//!    not browsers.
//! 2. **Authorization** by the platform's [`Backend`]: a [`Grant`] says which server process
//!    to call and as whom; a [`Refusal`] becomes 401 (with the RFC 9728 `WWW-Authenticate`
//!    challenge), 404, 503 (`Retry-After: 5`) or 403.
//! 3. **Session ownership**: an `Mcp-Session-Id` handed out by a server is bound to the user
//!    who opened it; anyone else (or an id the gateway never saw) gets a JSON-RPC 404
//!    "Session not found" and nothing is forwarded. A successful `DELETE` ends the binding.
//! 4. **Inspection** of a `POST` body (read whole, up to the size limit): it must be one
//!    JSON-RPC message — no batch, no key given twice — and the 2026-07-28 routing headers
//!    (`Mcp-Method`, `Mcp-Name`), when present, must agree with it; otherwise HTTP 400 with a
//!    JSON-RPC error (`-32700`, `-32600`, `-32602`, `-32020`) and nothing is forwarded.
//!    A `tools/call` of a tool the grant's [`ToolAccess`] denies is answered with the JSON-RPC
//!    error `-32003` "permission denied" and not forwarded either.
//! 5. **Forwarding** to `http://{upstream}/mcp` over pooled HTTP/1.1 connections, with the
//!    client's credentials and hop-by-hop headers removed and the platform-signed
//!    `Gumstack-Identity` added; responses stream, so SSE events reach the client as the
//!    server sends them. A forwarded `POST` carries its call's id ([`Grant::call_id`]) as
//!    `Gumstack-Call` and holds the grant's [`CallHold`] until its response has streamed
//!    whole or the client went away: while it is held, the platform counts the call as live
//!    and releases the caller's credentials to the server for that id. Every protocol version (2025-06-18, 2025-11-25, the stateless
//!    2026-07-28) passes through unchanged, except that a `tools/list` answer leaves out the
//!    tools the caller may not call (read whole, bounded, only when something is denied).
//! 6. **Reporting**, when a [`CallLog`] is given ([`Gateway::with_activity`]): each
//!    `tools/call` — denied or forwarded — is reported with its input and its answer (read by
//!    a tee of the response body while it streams, capped) and how it ended.
//!
//! Errors the gateway produces itself are `{"error": {"code", "message"}}` JSON; upstream
//! failures are 502 (504 when no response headers arrive in time), with the cause in the log
//! only.
//!
//! # Layout
//!
//! - [`access`]: [`ToolAccess`], and the filtering of `tools/list` answers.
//! - [`activity`]: [`CallLog`], where each `tools/call` is reported (the activity log), and
//!   the tee that reads a call's answer while it streams.
//! - [`backend`]: the platform seam — [`Backend`], [`Grant`], [`Refusal`].
//! - [`live`]: [`CallHold`], which keeps a forwarded call live on the platform, and the
//!   response body that holds it until the response ends.
//! - [`settings`]: [`GatewaySettings`] and [`GatewayLimits`].
//! - [`gateway`]: [`Gateway`] (builder, route) and the steps of one request.
//! - [`sessions`]: [`SessionBindings`] and the bounded in-memory [`MemorySessionBindings`].
//! - `rebinding`: the `Host`/`Origin` checks.
//! - `headers`: what headers cross the gateway in each direction; the bearer token.
//! - `jsonrpc`: what the gateway reads of a request body, and its refusals.
//! - `upstream`: the pooled HTTP client towards server processes, timeouts, body limit.
//! - `challenge`: the `WWW-Authenticate` header of a 401.
//! - `error`: the responses the gateway gives itself.

pub mod access;
pub mod activity;
pub mod backend;
mod challenge;
mod elicit;
mod error;
pub mod gateway;
mod headers;
mod jsonrpc;
pub mod live;
mod rebinding;
pub mod sessions;
pub mod settings;
mod upstream;

use std::sync::Arc;

pub use access::ToolAccess;
pub use activity::{CallEnd, CallLog, CallRecord, CallStart, CallStatus, Captured};
pub use backend::{Backend, Grant, InputNeeded, Refusal};
pub use gateway::Gateway;
pub use live::CallHold;
pub use sessions::{
    ClientCaps, MemorySessionBindings, SessionBindings, SessionCheck, SessionConflict,
};
pub use settings::{ACTIVITY_CAPTURE, GatewayLimits, GatewaySettings};

/// The gateway's routes with default limits and in-memory session bindings.
///
/// Build it once: it owns the connection pool towards the server processes.
pub fn router<S>(backend: Arc<dyn Backend>, settings: GatewaySettings) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Gateway::new(backend, settings).into_router()
}
