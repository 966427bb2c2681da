//! Every answer the gateway gives itself (rather than the upstream): [`GatewayError`], with
//! `{"error": {"code", "message"}}` bodies, except "session not found", which is a JSON-RPC
//! error as MCP clients expect.

use axum::{
    Json,
    body::Body,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::jsonrpc;

/// The JSON-RPC body of a 404 for an unknown (or someone else's) MCP session. MCP clients
/// react to it by starting a new session.
const SESSION_NOT_FOUND: &str =
    r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}"#;

/// Why the gateway answered a request itself. Each variant's doc says what the caller should do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GatewayError {
    /// Use POST, GET or DELETE.
    #[error("method not allowed; use POST, GET or DELETE")]
    MethodNotAllowed,
    /// Fix the URL: the `Host` is not one of the gateway's names.
    #[error("this host name is not served here")]
    HostNotAllowed,
    /// Browsers on other sites may not call the gateway.
    #[error("requests from this origin are not allowed")]
    OriginNotAllowed,
    /// (Re-)authorize, following `WWW-Authenticate`.
    #[error("{message}")]
    Unauthorized {
        challenge: HeaderValue,
        message: String,
    },
    /// Fix the URL.
    #[error("no MCP server at this URL")]
    NotFound,
    /// Retry later.
    #[error("{0}")]
    Unavailable(String),
    /// Ask an administrator for access.
    #[error("{0}")]
    Forbidden(String),
    /// Start a new MCP session.
    #[error("session not found")]
    SessionNotFound,
    /// Fix the request: its body could not be read (e.g. a malformed chunk).
    #[error("the request body is malformed or incomplete")]
    MalformedBody,
    /// Fix the request: it is not one JSON-RPC message, or its routing headers disagree with
    /// it. Answered as a JSON-RPC error.
    #[error("{message}")]
    InvalidMessage {
        code: i64,
        message: String,
        /// The request's id as JSON text, when it could be read.
        id: Option<String>,
    },
    /// Ask an administrator for access to the tool. Answered as a JSON-RPC error with HTTP
    /// 200: the request was understood and refused, and a 401/403 would make MCP clients
    /// re-authorize in a loop.
    #[error(
        "permission denied: you may not call the tool `{tool}` of this server; ask an administrator for access"
    )]
    ToolDenied { tool: String, id: Option<String> },
    /// Send a smaller request.
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// Retry later; the cause is logged, never sent.
    #[error("the MCP server could not be reached")]
    BadGateway,
    /// Retry later.
    #[error("the MCP server did not answer in time")]
    GatewayTimeout,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'static str,
    message: &'a str,
}

impl GatewayError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::HostNotAllowed | Self::OriginNotAllowed | Self::Forbidden(_) => {
                StatusCode::FORBIDDEN
            }
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::NotFound | Self::SessionNotFound => StatusCode::NOT_FOUND,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MalformedBody | Self::InvalidMessage { .. } => StatusCode::BAD_REQUEST,
            Self::ToolDenied { .. } => StatusCode::OK,
            Self::BadGateway => StatusCode::BAD_GATEWAY,
            Self::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::MethodNotAllowed => "method_not_allowed",
            Self::HostNotAllowed => "host_not_allowed",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::Unauthorized { .. } => "unauthorized",
            Self::NotFound => "not_found",
            Self::Unavailable(_) => "unavailable",
            Self::Forbidden(_) => "forbidden",
            Self::SessionNotFound => "session_not_found",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::MalformedBody => "malformed_body",
            Self::InvalidMessage { .. } => "invalid_message",
            Self::ToolDenied { .. } => "permission_denied",
            Self::BadGateway => "bad_gateway",
            Self::GatewayTimeout => "gateway_timeout",
        }
    }
}

impl From<jsonrpc::Refused<'_>> for GatewayError {
    fn from(refused: jsonrpc::Refused<'_>) -> Self {
        Self::InvalidMessage {
            code: refused.code,
            id: refused.id.map(|id| id.get().to_owned()),
            message: refused.message,
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Self::SessionNotFound = self {
            return (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                Body::from(SESSION_NOT_FOUND),
            )
                .into_response();
        }
        let rpc_error = match &self {
            Self::InvalidMessage { code, message, id } => {
                Some(jsonrpc::error_body(id.as_deref(), *code, message))
            }
            Self::ToolDenied { id, .. } => Some(jsonrpc::error_body(
                id.as_deref(),
                jsonrpc::PERMISSION_DENIED,
                &self.to_string(),
            )),
            _ => None,
        };
        if let Some(body) = rpc_error {
            return (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        }
        let message = self.to_string();
        let mut response = (
            status,
            Json(ErrorBody {
                error: ErrorDetail {
                    code: self.code(),
                    message: &message,
                },
            }),
        )
            .into_response();
        let headers = response.headers_mut();
        match self {
            Self::Unauthorized { challenge, .. } => {
                headers.insert(header::WWW_AUTHENTICATE, challenge);
            }
            Self::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            Self::MethodNotAllowed => {
                headers.insert(header::ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
            }
            _ => {}
        }
        response
    }
}
