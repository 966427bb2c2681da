//! The seam to the platform: [`Backend`] decides, for one request, whether it may reach a server
//! and where that server lives ([`Grant`]), or why not ([`Refusal`]).

use std::net::SocketAddr;

use crate::access::ToolAccess;
use crate::live::CallHold;

/// What the platform decides for one request.
///
/// Called once per request, after the `Host`/`Origin` checks and before anything is forwarded.
/// The platform validates the token (signature, expiry, audience = this server), enforces
/// RBAC, finds the live deployment and mints the signed identity; the gateway does the HTTP.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug + 'static {
    /// `token` is the bearer token from `Authorization: Bearer …` (None when absent or not a Bearer header).
    async fn authorize(&self, slug: &str, token: Option<&str>) -> Result<Grant, Refusal>;

    /// The live call `call_id` is a `tools/call` of `tool`: told before it is forwarded, for
    /// servers that take per-user credentials, so that the credentials the server fetches
    /// during the call can follow what the tool declares (its scopes, docs/PROTOCOL.md §3).
    fn calls_tool(&self, call_id: &str, tool: &str) {
        let _ = (call_id, tool);
    }

    /// Whether, during the live call `call_id` (a `tools/call` of `tool`), its server was
    /// refused the caller's credentials because the user has not connected the account or
    /// entered them yet (docs/PROTOCOL.md §3, 409 `credentials_required`), and where the user
    /// provides them. The gateway asks when the call's answer arrives, only for clients that
    /// can open a URL for their user (docs/PROTOCOL.md §5); `None` leaves the answer as it is.
    fn input_needed(&self, call_id: &str, tool: &str) -> Option<InputNeeded> {
        let _ = (call_id, tool);
        None
    }

    /// Checks the `requestState` of an [`InputNeeded`] echoed back by a 2026-07-28 client
    /// retrying `tool` under `grant`: made by this platform for this user, MCP client, server
    /// and tool, and not expired. The error is said to the client.
    fn check_request_state(&self, grant: &Grant, tool: &str, state: &str) -> Result<(), String> {
        let _ = (grant, tool, state);
        Err("this requestState was not issued here".to_owned())
    }
}

/// A call that needs its user to connect an account or enter credentials first: what the
/// gateway asks the client to show its user (a URL-mode elicitation).
#[derive(Debug, Clone)]
pub struct InputNeeded {
    /// For the person: what is missing, e.g. "Demo needs your github account, which you have
    /// not connected yet."
    pub message: String,
    /// The platform page where the user connects the account or enters the credentials; it
    /// names the user it was made for and refuses anyone else.
    pub url: String,
    /// Names this elicitation (URL mode's `elicitationId`).
    pub elicitation_id: String,
    /// Signed by the platform: a 2026-07-28 client echoes it back with its retry, which
    /// [`Backend::check_request_state`] checks.
    pub request_state: String,
}

/// The request may go through: to whom, as whom.
#[derive(Debug)]
pub struct Grant {
    /// Stable id of the server; with the session id it keys the session bindings.
    pub server_id: String,
    /// Who is calling: an MCP session opened by this user is usable only by this user.
    pub user_id: String,
    /// The OAuth client (MCP client) the token was issued to; reported with each call.
    pub client_id: String,
    /// An id the platform gave this request, fresh and unguessable: a forwarded `POST` carries
    /// it to the server as `Gumstack-Call` (docs/PROTOCOL.md §2), and the server names the call
    /// with it when it fetches the caller's credentials. Reported with the call's `tools/call`:
    /// the platform files what it hands the server during the call under it.
    pub call_id: String,
    /// Keeps the call `call_id` live on the platform. For a `POST` the gateway forwards, it is
    /// held until the response has streamed whole (an event stream: until it ends) or the
    /// client went away; any other request drops it before it is forwarded, so a `GET`
    /// stream or a `DELETE` is never a live call.
    pub call: CallHold,
    /// The live server process, e.g. `127.0.0.1:41234` (the path is always `/mcp`).
    pub upstream: SocketAddr,
    /// Whether the server takes per-user credentials (auth types `oauth` and `cred`): only
    /// then can a call need its user's input, and only then does the gateway read a call's
    /// answer to ask for it (docs/PROTOCOL.md §5).
    pub user_credentials: bool,
    /// The platform-signed identity sent as `Gumstack-Identity` (docs/PROTOCOL.md §2); it
    /// replaces anything the client sent under that name. The platform may give the same
    /// identity to many requests of the same user, MCP client and server.
    pub identity: http::HeaderValue,
    /// Which tools the caller may call: a denied `tools/call` is answered by the gateway with
    /// a JSON-RPC error, and `tools/list` answers leave the denied tools out.
    pub tools: ToolAccess,
}

/// The request may not go through, and what the client should do about it.
#[derive(Debug, Clone)]
pub enum Refusal {
    /// No or bad token: 401 with `WWW-Authenticate` pointing at the protected resource
    /// metadata, so the client (re-)authorizes. `invalid_token` is `Some(error_description)`
    /// only when a token was sent.
    Unauthorized { invalid_token: Option<String> },
    /// No such server: 404.
    NotFound,
    /// The server exists but cannot take calls now (disabled, not running): 503 with
    /// `Retry-After: 5`. `reason` is shown to the client.
    Unavailable { reason: String },
    /// The caller may not use this server (e.g. permission denied): 403. `reason` is shown to
    /// the client.
    Forbidden { reason: String },
}
