//! [`Gateway`]: the `/mcp/{slug}` route and what happens to one request, in order —
//! method, `Host`/`Origin`, authorization, session ownership, forwarding, session bookkeeping.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Router,
    body::Body,
    extract::{Path, Request, State},
    response::{IntoResponse, Response},
    routing::any,
};
use http::{HeaderValue, Method, StatusCode, Version, header, request::Parts};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use hyper::body::Incoming;

use crate::{
    access::{self, ToolAccess},
    activity::{CallLog, CallStart, CallStatus, CallWatch, Captured, SharedLog, TeeBody},
    backend::{Backend, Grant, Refusal},
    challenge::bearer_challenge,
    elicit::{self, Ask, ElicitBody},
    error::GatewayError,
    headers::{self, GUMSTACK_CALL, GUMSTACK_IDENTITY, MCP_PROTOCOL_VERSION, MCP_SESSION_ID},
    jsonrpc,
    live::HeldBody,
    rebinding::{RebindingGuard, Rejection},
    sessions::{ClientCaps, MemorySessionBindings, SessionBindings, SessionCheck},
    settings::{GatewayLimits, GatewaySettings},
    upstream::{Upstream, UpstreamError, mcp_uri, upstream_body},
};

/// Builds the gateway's router; [`router`](crate::router) is the short form with defaults.
#[derive(Debug)]
pub struct Gateway {
    backend: Arc<dyn Backend>,
    settings: GatewaySettings,
    limits: GatewayLimits,
    sessions: Option<Arc<dyn SessionBindings>>,
    activity: Option<SharedLog>,
}

impl Gateway {
    pub fn new(backend: Arc<dyn Backend>, settings: GatewaySettings) -> Self {
        Self {
            backend,
            settings,
            limits: GatewayLimits::default(),
            sessions: None,
            activity: None,
        }
    }

    /// Reports every `tools/call` to `log` (the activity log). Without it, nothing is read
    /// of responses and nothing is reported.
    pub fn with_activity(mut self, log: Arc<dyn CallLog>) -> Self {
        self.activity = Some(log);
        self
    }

    pub fn with_limits(mut self, limits: GatewayLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Where session bindings live; by default a [`MemorySessionBindings::default`].
    pub fn with_sessions(mut self, sessions: Arc<dyn SessionBindings>) -> Self {
        self.sessions = Some(sessions);
        self
    }

    /// The router serving `/mcp/{slug}`. Every instance holds its own upstream connection
    /// pool, so build it once.
    pub fn into_router<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let state = GatewayState {
            guard: RebindingGuard::new(
                &self.settings.allowed_hosts,
                &self.settings.allowed_origins,
            ),
            public_base: self.settings.public_base.trim_end_matches('/').into(),
            backend: self.backend,
            sessions: self
                .sessions
                .unwrap_or_else(|| Arc::new(MemorySessionBindings::default())),
            upstream: Upstream::new(&self.limits),
            max_request_body: self.limits.max_request_body,
            max_tool_list: self.limits.max_request_body * 2,
            tool_list_timeout: self.limits.upstream_header_timeout,
            activity: self.activity,
            activity_capture: self.limits.activity_capture,
            declared: elicit::DeclaredCaps::default(),
        };
        Router::new()
            .route("/mcp/{slug}", any(handle))
            .with_state(Arc::new(state))
    }
}

#[derive(Debug)]
struct GatewayState {
    guard: RebindingGuard,
    public_base: Box<str>,
    backend: Arc<dyn Backend>,
    sessions: Arc<dyn SessionBindings>,
    upstream: Upstream,
    max_request_body: usize,
    /// The largest `tools/list` answer the gateway filters (twice the request limit).
    max_tool_list: usize,
    /// How long a `tools/list` answer being filtered may take to arrive whole.
    tool_list_timeout: std::time::Duration,
    /// Where `tools/call`s are reported, if anywhere.
    activity: Option<SharedLog>,
    /// How much of a call's input and answer is reported.
    activity_capture: usize,
    /// What each caller's `initialize` declared, for servers without sessions.
    declared: elicit::DeclaredCaps,
}

async fn handle(
    State(gateway): State<Arc<GatewayState>>,
    Path(slug): Path<String>,
    request: Request,
) -> Response {
    gateway
        .serve(&slug, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

impl GatewayState {
    async fn serve(&self, slug: &str, request: Request) -> Result<Response, GatewayError> {
        // Split first: the body is not `Sync`, so only the parts may be borrowed across awaits.
        let (mut parts, body) = request.into_parts();
        let grant = self.admit(slug, &parts).await?;
        let session = parts.headers.get(&MCP_SESSION_ID).cloned();
        let session_caps = match &session {
            Some(session) => self.check_session(&grant, session).await?,
            None => ClientCaps::default(),
        };
        let mut filter_tools = false;
        let mut watch = None;
        // What an `initialize` declares, kept with the session it opens.
        let mut opening_caps = ClientCaps::default();
        // How the call's answer is replaced if it needs the user's input (`elicit`).
        let mut ask = None;
        let body = if parts.method == Method::POST {
            let mut bytes = self.read_body(body).await?;
            let mut stripped = None;
            let message = jsonrpc::inspect(&bytes, &parts.headers).map_err(GatewayError::from)?;
            if message.method.as_deref() == Some("initialize") {
                opening_caps = elicit::initialize_caps(message.params);
                self.declared.record(
                    &grant.server_id,
                    &grant.user_id,
                    &grant.client_id,
                    opening_caps,
                );
            }
            if let Some(tool) = message.tool() {
                if let Some(log) = &self.activity {
                    let call = self.call_start(&grant, &parts, tool, &message);
                    watch = Some(CallWatch::begin(&**log, call).await);
                }
                if !grant.tools.allows(tool) {
                    tracing::debug!(server_id = %grant.server_id, user_id = %grant.user_id, tool, "tool call denied");
                    let denied = GatewayError::ToolDenied {
                        tool: tool.to_owned(),
                        id: message.id.map(|id| id.get().to_owned()),
                    };
                    if let Some(watch) = &mut watch {
                        watch.end(CallStatus::Denied, None, Some(denied.to_string()));
                    }
                    return Err(denied);
                }
                let version = parts
                    .headers
                    .get(&MCP_PROTOCOL_VERSION)
                    .and_then(|v| v.to_str().ok());
                let call = elicit::call_params(version, message.params);
                if let Some(state) = &call.own_state
                    && let Err(why) = self.backend.check_request_state(&grant, tool, state)
                {
                    tracing::debug!(server_id = %grant.server_id, user_id = %grant.user_id, tool, why, "requestState refused");
                    let refused = GatewayError::InvalidMessage {
                        code: jsonrpc::INVALID_PARAMS,
                        message: format!("the requestState was refused: {why}"),
                        id: message.id.map(|id| id.get().to_owned()),
                    };
                    if let Some(watch) = &mut watch {
                        watch.fail(refused.to_string());
                    }
                    return Err(refused);
                }
                if grant.user_credentials {
                    self.backend.calls_tool(&grant.call_id, tool);
                }
                let declared = match (&session, version) {
                    (None, Some(elicit::URL_ERROR_REVISION)) => {
                        self.declared
                            .get(&grant.server_id, &grant.user_id, &grant.client_id)
                    }
                    _ => session_caps,
                };
                if grant.user_credentials
                    && let Some(reply) = elicit::reply_for(version, &call, declared)
                {
                    ask = Some(Ask {
                        backend: Arc::clone(&self.backend),
                        call_id: grant.call_id.clone(),
                        tool: tool.to_owned(),
                        id: message.id.map_or("null", |id| id.get()).to_owned(),
                        reply,
                    });
                    // The answer is read to be replaced: it must come uncompressed.
                    parts.headers.remove(header::ACCEPT_ENCODING);
                }
                if call.carries_own() {
                    // Not the server's to see (a retry of a call the gateway asked input for).
                    stripped =
                        Some(elicit::without_own(&bytes).ok_or(GatewayError::MalformedBody)?);
                }
            }
            filter_tools =
                message.method.as_deref() == Some("tools/list") && !grant.tools.allows_everything();
            if let Some(stripped) = stripped {
                parts
                    .headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(stripped.len()));
                bytes = stripped.into();
            }
            if filter_tools {
                // The answer is read to be filtered: it must come uncompressed.
                parts.headers.remove(header::ACCEPT_ENCODING);
            }
            Body::from(bytes)
        } else {
            // Only a POST carries a message; a GET or DELETE body would reach a server that
            // reads it without the inspection above.
            let declares_body = parts.headers.contains_key(header::TRANSFER_ENCODING)
                || parts
                    .headers
                    .get(header::CONTENT_LENGTH)
                    .is_some_and(|length| length.as_bytes() != b"0");
            if declares_body {
                return Err(GatewayError::InvalidMessage {
                    code: jsonrpc::INVALID_REQUEST,
                    message: format!("a {} request carries no body", parts.method),
                    id: None,
                });
            }
            body
        };
        let method = parts.method.clone();
        let Grant {
            server_id,
            user_id,
            upstream,
            identity,
            tools,
            call,
            call_id,
            ..
        } = grant;
        // Only a POST is a call of the user; a GET stream (the server's own messages) or a
        // DELETE never keeps one live.
        let call = (method == Method::POST).then_some(call);
        let call_header = call.as_ref().map(|_| call_id.as_str());
        let response = self
            .forward(parts, body, upstream, identity, call_header)
            .await
            .map_err(|error| {
                let error = self.upstream_failed(&server_id, upstream, error);
                if let Some(watch) = &mut watch {
                    watch.fail(error.to_string());
                }
                error
            })?;

        let (mut parts, body) = response.into_parts();
        headers::scrub_response(&mut parts.headers);
        if let Some(session) = &session {
            let ended = (method == Method::DELETE && parts.status.is_success())
                || parts.status == StatusCode::NOT_FOUND;
            if ended && let Ok(session) = session.to_str() {
                self.sessions.unbind(&server_id, session).await;
            }
        }
        if let Some(opened) = parts.headers.get(&MCP_SESSION_ID)
            && session.as_ref() != Some(opened)
        {
            self.bind_session(&server_id, &user_id, opened, opening_caps)
                .await?;
        }
        if filter_tools && parts.status.is_success() {
            // Read whole before it is answered: the call ends with this function.
            return self.filter_tool_list(parts, body, &tools, &server_id).await;
        }
        let event_stream = is_event_stream(&parts.headers);
        // The call's answer is replaced (`elicit`) only in a successful response; the activity
        // log reads the answer the client gets.
        let body = match ask.filter(|_| parts.status.is_success()) {
            Some(ask) => {
                parts.headers.remove(header::CONTENT_LENGTH);
                let body = ElicitBody::new(body, ask, event_stream, self.max_tool_list);
                self.watched(body, watch, &parts, event_stream, call)
            }
            None => self.watched(body, watch, &parts, event_stream, call),
        };
        Ok(Response::from_parts(parts, body))
    }

    /// A response body read by the activity log as it streams (when the call is watched),
    /// holding its call until it ends.
    fn watched<B>(
        &self,
        body: B,
        watch: Option<CallWatch>,
        parts: &http::response::Parts,
        event_stream: bool,
        call: Option<crate::live::CallHold>,
    ) -> Body
    where
        B: hyper::body::Body<Data = axum::body::Bytes> + Send + Unpin + 'static,
        B::Error: Into<axum::BoxError> + std::fmt::Display,
    {
        match watch {
            Some(watch) => {
                let tee = TeeBody::new(body, watch, event_stream, self.activity_capture);
                let tee = if parts.status.is_success() {
                    tee
                } else {
                    tee.http_error(parts.status.as_u16())
                };
                held(tee, call)
            }
            None => held(body, call),
        }
    }

    /// What the activity log is told when a `tools/call` starts.
    fn call_start(
        &self,
        grant: &Grant,
        parts: &Parts,
        tool: &str,
        message: &jsonrpc::Message<'_>,
    ) -> CallStart {
        CallStart {
            server_id: grant.server_id.clone(),
            user_id: grant.user_id.clone(),
            client_id: grant.client_id.clone(),
            call_id: grant.call_id.clone(),
            tool: tool.to_owned(),
            started_at: std::time::SystemTime::now(),
            input: message
                .arguments
                .map(|raw| Captured::cut(raw.get().as_bytes(), self.activity_capture)),
            token: headers::bearer_token(&parts.headers)
                .map(|token| secrecy::SecretString::from(token.to_owned())),
        }
    }

    /// A `tools/list` answer without the tools the caller may not call; read whole, bounded.
    async fn filter_tool_list(
        &self,
        mut parts: http::response::Parts,
        body: Incoming,
        tools: &ToolAccess,
        server_id: &str,
    ) -> Result<Response, GatewayError> {
        let read = tokio::time::timeout(
            self.tool_list_timeout,
            Limited::new(body, self.max_tool_list).collect(),
        )
        .await;
        let bytes = match read {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(error)) => {
                tracing::warn!(%server_id, error = %error, "MCP server's tools/list answer could not be read");
                return Err(GatewayError::BadGateway);
            }
            Err(_) => {
                tracing::warn!(%server_id, "MCP server's tools/list answer did not end in time");
                return Err(GatewayError::GatewayTimeout);
            }
        };
        let filtered = if is_event_stream(&parts.headers) {
            access::filter_sse(&bytes, tools)
        } else {
            access::filter_json(&bytes, tools)
        };
        let Some(filtered) = filtered else {
            tracing::warn!(%server_id, "MCP server's tools/list answer is not readable; refused");
            return Err(GatewayError::BadGateway);
        };
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.remove(header::TRANSFER_ENCODING);
        Ok(Response::from_parts(parts, Body::from(filtered)))
    }

    /// Everything that happens before the request may go upstream, except the session check.
    async fn admit(&self, slug: &str, request: &Parts) -> Result<Grant, GatewayError> {
        let method = &request.method;
        if method != Method::POST && method != Method::GET && method != Method::DELETE {
            return Err(GatewayError::MethodNotAllowed);
        }
        self.guard
            .check(&request.headers, &request.uri)
            .map_err(|rejection| match rejection {
                Rejection::Host => GatewayError::HostNotAllowed,
                Rejection::Origin => GatewayError::OriginNotAllowed,
            })?;
        let token = headers::bearer_token(&request.headers);
        let grant = self
            .backend
            .authorize(slug, token)
            .await
            .map_err(|refusal| self.refused(slug, refusal))?;
        let declared_too_large = request
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|length| length.to_str().ok()?.parse::<u64>().ok())
            .is_some_and(|length| length > self.max_request_body as u64);
        if declared_too_large {
            return Err(self.payload_too_large());
        }
        Ok(grant)
    }

    /// The whole body of a `POST` (one JSON-RPC message), up to the size limit.
    async fn read_body(&self, body: Body) -> Result<axum::body::Bytes, GatewayError> {
        match Limited::new(body, self.max_request_body).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(error) if error.is::<LengthLimitError>() => Err(self.payload_too_large()),
            Err(error) => {
                tracing::debug!(error = %error, "unreadable request body");
                Err(GatewayError::MalformedBody)
            }
        }
    }

    /// Rewrites the client's request for the server process and sends it, body streaming.
    /// `call_id`: the id of the live call this request is (a `POST`), sent as `Gumstack-Call`.
    async fn forward(
        &self,
        mut parts: Parts,
        body: Body,
        upstream: SocketAddr,
        identity: HeaderValue,
        call_id: Option<&str>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        headers::scrub_request(&mut parts.headers);
        parts.headers.insert(&GUMSTACK_IDENTITY, identity);
        if let Some(call_id) = call_id.and_then(|id| HeaderValue::from_str(id).ok()) {
            parts.headers.insert(&GUMSTACK_CALL, call_id);
        }
        parts.uri = mcp_uri(upstream, parts.uri.query()).map_err(UpstreamError::Uri)?;
        parts.version = Version::HTTP_11;
        parts.extensions = http::Extensions::new();
        let body = upstream_body(body, self.max_request_body);
        self.upstream.send(Request::from_parts(parts, body)).await
    }

    fn upstream_failed(
        &self,
        server_id: &str,
        upstream: SocketAddr,
        error: UpstreamError,
    ) -> GatewayError {
        match error {
            UpstreamError::BodyTooLarge => self.payload_too_large(),
            UpstreamError::ClientBody(error) => {
                tracing::debug!(%server_id, error = %ErrorChain(&error), "unreadable request body");
                GatewayError::MalformedBody
            }
            UpstreamError::Timeout => {
                tracing::warn!(%server_id, %upstream, "MCP server sent no response headers in time");
                GatewayError::GatewayTimeout
            }
            UpstreamError::Uri(error) => {
                tracing::error!(%server_id, %upstream, %error, "cannot build the upstream URI");
                GatewayError::BadGateway
            }
            UpstreamError::Failed(error) => {
                tracing::warn!(%server_id, %upstream, error = %ErrorChain(&error), "MCP server unreachable");
                GatewayError::BadGateway
            }
        }
    }

    fn refused(&self, slug: &str, refusal: Refusal) -> GatewayError {
        tracing::debug!(slug, ?refusal, "MCP request refused");
        match refusal {
            Refusal::Unauthorized { invalid_token } => GatewayError::Unauthorized {
                challenge: bearer_challenge(&self.public_base, slug, invalid_token.as_deref()),
                message: invalid_token.unwrap_or_else(|| {
                    "authentication required: send `Authorization: Bearer <token>`".to_owned()
                }),
            },
            Refusal::NotFound => GatewayError::NotFound,
            Refusal::Unavailable { reason } => GatewayError::Unavailable(reason),
            Refusal::Forbidden { reason } => GatewayError::Forbidden(reason),
        }
    }

    /// A request may use a session only if its user opened it on this server; then, what the
    /// session's client declared when it opened it.
    async fn check_session(
        &self,
        grant: &Grant,
        session: &HeaderValue,
    ) -> Result<ClientCaps, GatewayError> {
        let Ok(session) = session.to_str() else {
            return Err(GatewayError::SessionNotFound);
        };
        match self
            .sessions
            .check(&grant.server_id, session, &grant.user_id)
            .await
        {
            SessionCheck::Owned(caps) => Ok(caps),
            SessionCheck::Unknown => Err(GatewayError::SessionNotFound),
            SessionCheck::OwnedByAnother => {
                tracing::warn!(
                    server_id = %grant.server_id,
                    user_id = %grant.user_id,
                    "refused an MCP session opened by another user"
                );
                Err(GatewayError::SessionNotFound)
            }
        }
    }

    async fn bind_session(
        &self,
        server_id: &str,
        user_id: &str,
        opened: &HeaderValue,
        caps: ClientCaps,
    ) -> Result<(), GatewayError> {
        let Ok(opened) = opened.to_str() else {
            tracing::warn!(%server_id, "MCP server sent a session id that is not visible ASCII");
            return Err(GatewayError::BadGateway);
        };
        self.sessions
            .bind(server_id, opened, user_id, caps)
            .await
            .map_err(|conflict| {
                tracing::warn!(%server_id, %user_id, %conflict, "MCP server reused another user's session id");
                GatewayError::BadGateway
            })
    }

    fn payload_too_large(&self) -> GatewayError {
        GatewayError::PayloadTooLarge {
            limit: self.max_request_body,
        }
    }
}

/// A response body holding its call (if any) until the body ends.
fn held<B>(body: B, call: Option<crate::live::CallHold>) -> Body
where
    B: hyper::body::Body<Data = axum::body::Bytes> + Send + Unpin + 'static,
    B::Error: Into<axum::BoxError>,
{
    match call {
        Some(call) => Body::new(HeldBody::new(body, call)),
        None => Body::new(body),
    }
}

/// Whether a response is an SSE stream (otherwise it is one JSON message).
fn is_event_stream(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().starts_with("text/event-stream"))
}

/// Displays an error with its causes (`a: b: c`), for the log.
struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}
