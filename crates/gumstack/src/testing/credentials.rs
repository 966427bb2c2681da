//! The stand-in platform's credentials routes (docs/PROTOCOL.md §3): the answers a test
//! chooses ([`CredentialsReply`]), what the routes record ([`CredentialsRequest`],
//! [`InvalidTokenReport`]) and the handlers.

use std::{
    io,
    pin::Pin,
    sync::Mutex,
    task::{Context, Poll},
};

use axum::{
    body::Body,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use gumstack_protocol::credentials::{ErrorBody, ErrorCode};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::io::ReaderStream;

use super::{CALL_HEADER, IDENTITY_HEADER, PlatformState, lock};

/// What the stand-in platform answers to `GET /internal/v1/credentials` once the request is
/// authenticated (server token and a forwarded identity), per docs/PROTOCOL.md §3.
#[derive(Debug, Clone)]
pub struct CredentialsReply {
    status: StatusCode,
    body: String,
    /// Sends the status line and headers, then drops the connection mid-body.
    broken: bool,
}

impl CredentialsReply {
    /// 204: a report of an invalid token was taken (docs/PROTOCOL.md §3.1).
    pub fn taken() -> Self {
        Self::raw(204, "")
    }

    /// 502 `integration_error`: the provider refused the server's own client; `message` is for
    /// the developer.
    pub fn integration_error(message: &str) -> Self {
        Self::error(ErrorBody::new(ErrorCode::IntegrationError, message))
    }

    /// 200 `{"credentials": values}`: the user's saved values (`cred`) or
    /// `{"access_token": …}` (`oauth`).
    pub fn credentials(values: Value) -> Self {
        Self::json(StatusCode::OK, json!({ "credentials": values }))
    }

    /// 200 `{"credentials": {"access_token": token}, "account": account}`: the token of the
    /// user's account `account` (`oauth`).
    pub fn account_token(token: &str, account: &str) -> Self {
        Self::json(
            StatusCode::OK,
            json!({ "credentials": { "access_token": token }, "account": account }),
        )
    }

    /// 409 `credentials_required`: the user must go to `connect_url` first.
    pub fn required(connect_url: &str, message: &str) -> Self {
        Self::error(ErrorBody::credentials_required(message, connect_url))
    }

    /// 400 `not_supported`: the server's auth type has no per-user credentials.
    pub fn not_supported() -> Self {
        Self::error(ErrorBody::new(
            ErrorCode::NotSupported,
            "servers with auth type none have no per-user credentials",
        ))
    }

    /// 401 with `code` (`invalid_server_token` or `invalid_identity`).
    pub fn unauthorized(code: &str) -> Self {
        Self::json(
            StatusCode::UNAUTHORIZED,
            json!({ "error": { "code": code, "message": "the call is not authenticated" } }),
        )
    }

    /// 503 `retry_later`: a transient failure.
    pub fn retry_later() -> Self {
        Self::error(ErrorBody::new(
            ErrorCode::RetryLater,
            "the vault is unavailable",
        ))
    }

    /// Any `status` with `body` as is (for answers a server must not trust).
    pub fn raw(status: u16, body: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).expect("a valid HTTP status"),
            body: body.into(),
            broken: false,
        }
    }

    /// A 200 whose body never arrives: the connection is dropped after the headers (a
    /// transport failure).
    pub fn broken_connection() -> Self {
        Self {
            broken: true,
            ..Self::raw(200, "")
        }
    }

    fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body: body.to_string(),
            broken: false,
        }
    }

    /// The error answer `body`, with the status of its code.
    fn error(body: ErrorBody) -> Self {
        Self {
            status: body.error.code.status(),
            body: serde_json::to_string(&body).expect("an error body serialises"),
            broken: false,
        }
    }
}

/// A request the stand-in platform received on its credentials route, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsRequest {
    /// The `Authorization` header (`Bearer <server token>`).
    pub authorization: Option<String>,
    /// The `Gumstack-Identity` header: it must be the one of the call being served, unchanged.
    pub identity: Option<String>,
    /// The `Gumstack-Call` header: the id of the call being served, unchanged.
    pub call: Option<String>,
    /// The query string (`provider=…` for `get_credentials_for`).
    pub query: Option<String>,
}

/// A report the stand-in platform received on its invalid token route, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidTokenReport {
    /// The `Authorization` header (`Bearer <server token>`).
    pub authorization: Option<String>,
    /// The `Gumstack-Identity` header of the call being served.
    pub identity: Option<String>,
    /// The `Gumstack-Call` header of the call being served.
    pub call: Option<String>,
    /// The JSON body: `{"provider"?, "access_token"}` (`null` if it is not JSON).
    pub body: Value,
}

/// The stand-in platform's credentials routes: their answers and what they received.
#[derive(Debug)]
pub(super) struct CredentialsRoute {
    pub(super) server_token: String,
    pub(super) reply: Mutex<CredentialsReply>,
    pub(super) requests: Mutex<Vec<CredentialsRequest>>,
    pub(super) report_reply: Mutex<CredentialsReply>,
    /// The credentials answer a taken report switches to (as a refresh would).
    pub(super) after_report: Mutex<Option<CredentialsReply>>,
    pub(super) reports: Mutex<Vec<InvalidTokenReport>>,
}

/// `GET /internal/v1/credentials`: records the request, checks the server token and that an
/// identity was forwarded, then answers with the configured reply.
pub(super) async fn serve_credentials(
    State(state): State<PlatformState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let text = |name| {
        headers
            .get(name)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
    };
    let request = CredentialsRequest {
        authorization: text(header::AUTHORIZATION.as_str()),
        identity: text(IDENTITY_HEADER),
        call: text(CALL_HEADER),
        query,
    };
    let route = &state.credentials;
    lock(&route.requests).push(request.clone());
    let reply = if !authorized(request.authorization.as_deref(), &route.server_token) {
        CredentialsReply::unauthorized("invalid_server_token")
    } else if request.identity.is_none() {
        CredentialsReply::unauthorized("invalid_identity")
    } else {
        lock(&route.reply).clone()
    };
    let body = if reply.broken {
        Body::from_stream(ReaderStream::new(DroppedConnection))
    } else {
        Body::from(reply.body)
    };
    (
        reply.status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// `POST /internal/v1/credentials/invalid`: records the report, checks the server token and
/// that an identity was forwarded, then answers with the configured reply; a taken report
/// switches the credentials answer when the test asked for it.
pub(super) async fn serve_report(
    State(state): State<PlatformState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let text = |name| {
        headers
            .get(name)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
    };
    let report = InvalidTokenReport {
        authorization: text(header::AUTHORIZATION.as_str()),
        identity: text(IDENTITY_HEADER),
        call: text(CALL_HEADER),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    let route = &state.credentials;
    lock(&route.reports).push(report.clone());
    let reply = if !authorized(report.authorization.as_deref(), &route.server_token) {
        CredentialsReply::unauthorized("invalid_server_token")
    } else if report.identity.is_none() {
        CredentialsReply::unauthorized("invalid_identity")
    } else {
        lock(&route.report_reply).clone()
    };
    if reply.status.is_success()
        && let Some(next) = lock(&route.after_report).take()
    {
        *lock(&route.reply) = next;
    }
    (
        reply.status,
        [(header::CACHE_CONTROL, "no-store")],
        reply.body,
    )
        .into_response()
}

/// A body that fails as soon as it is read, which makes the server drop the connection.
struct DroppedConnection;

impl AsyncRead for DroppedConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Err(io::Error::other(
            "the stand-in platform drops the connection",
        )))
    }
}

/// Whether `authorization` is `Bearer <server token>` (the scheme in any case, as the platform
/// reads it).
fn authorized(authorization: Option<&str>, server_token: &str) -> bool {
    authorization.and_then(gumstack_protocol::bearer::bearer_of) == Some(server_token)
}

/// The connect URL the default answer (409 `credentials_required`) names.
pub(super) fn connect_url_for(server_id: &str) -> String {
    format!("http://gumstack.test/servers/{server_id}/connect")
}
