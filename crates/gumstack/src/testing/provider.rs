//! [`TestProvider`]: a stand-in third-party OAuth 2.0 provider on a loopback port, for testing
//! an [`AuthProvider`](crate::auth::AuthProvider) such as a configured
//! [`StandardOAuthProvider`](crate::auth::StandardOAuthProvider), and tools that call a
//! provider's API.
//!
//! It serves a token endpoint (`POST /token`), a userinfo endpoint (`GET /userinfo`) and an
//! RFC 7009 revocation endpoint (`POST /revoke`), records every request as received
//! ([`TestProvider::requests`]) and answers:
//!
//! - `/token`: 200 with [`TEST_ACCESS_TOKEN`] and [`TEST_REFRESH_TOKEN`], unless the test set a
//!   [`ProviderReply`] ([`TestProvider::reply`]);
//! - `/userinfo`: the account registered for the Bearer token ([`TestProvider::account`];
//!   [`TEST_ACCESS_TOKEN`] is `{"sub": "test-user", "email": "ada@provider.example"}`), else
//!   401 `WWW-Authenticate: Bearer error="invalid_token"`; or the test's reply;
//! - `/revoke`: 200, or the test's reply.
//!
//! There is no authorization endpoint: the browser half of a flow is the platform's business.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::{OriginalUri, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};

use super::lock;

/// The access token the stand-in token endpoint issues by default.
pub const TEST_ACCESS_TOKEN: &str = "test-access-token";
/// The refresh token the stand-in token endpoint issues by default.
pub const TEST_REFRESH_TOKEN: &str = "test-refresh-token";

/// An endpoint of the stand-in provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderEndpoint {
    /// `POST /token`
    Token,
    /// `GET /userinfo`
    Userinfo,
    /// `POST /revoke`
    Revocation,
}

/// An answer of the stand-in provider.
#[derive(Debug, Clone)]
pub struct ProviderReply {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: String,
    delay: Duration,
}

impl ProviderReply {
    /// `status` with a JSON `body`.
    pub fn json(status: u16, body: Value) -> Self {
        Self::text(status, body.to_string()).header("content-type", "application/json")
    }

    /// `status` with `body` as is (no content type).
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).expect("a valid HTTP status"),
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    /// An OAuth error answer: `status` with `{"error": code, "error_description": description}`.
    pub fn oauth_error(status: u16, code: &str, description: &str) -> Self {
        Self::json(
            status,
            json!({ "error": code, "error_description": description }),
        )
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((
            HeaderName::from_bytes(name.as_bytes()).expect("a valid header name"),
            HeaderValue::from_str(value).expect("a valid header value"),
        ));
        self
    }

    /// Waits `delay` before answering (a slow provider).
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A request the stand-in provider received, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRequest {
    /// The endpoint that received it.
    pub endpoint: ProviderEndpoint,
    /// The HTTP method (`GET`, `POST`).
    pub method: String,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The `Accept` header.
    pub accept: Option<String>,
    /// The body's form fields, in order (empty unless form-encoded).
    pub form: Vec<(String, String)>,
}

impl ProviderRequest {
    /// The value of form field `name`, if sent (once or more: the first).
    pub fn form_value(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }

    /// The client id and secret of an `Authorization: Basic` header, decoded (RFC 6749
    /// §2.3.1: base64, then form-decoded).
    pub fn basic_credentials(&self) -> Option<(String, String)> {
        let encoded = self.authorization.as_deref()?.strip_prefix("Basic ")?;
        let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        let decode = |value: &str| {
            url::form_urlencoded::parse(format!("v={value}").as_bytes())
                .next()
                .map(|(_, value)| value.into_owned())
        };
        Some((decode(id)?, decode(secret)?))
    }
}

#[derive(Debug, Default)]
struct ProviderState {
    replies: Mutex<HashMap<ProviderEndpoint, ProviderReply>>,
    accounts: Mutex<HashMap<String, Value>>,
    requests: Mutex<Vec<ProviderRequest>>,
}

/// A stand-in OAuth 2.0 provider on `127.0.0.1`. Stops when dropped.
#[derive(Debug)]
pub struct TestProvider {
    url: String,
    state: Arc<ProviderState>,
    task: JoinHandle<()>,
}

impl TestProvider {
    /// Starts serving `/token`, `/userinfo` and `/revoke` on a free loopback port.
    pub async fn start() -> Self {
        let state = Arc::new(ProviderState::default());
        lock(&state.accounts).insert(
            TEST_ACCESS_TOKEN.to_owned(),
            json!({ "sub": "test-user", "email": "ada@provider.example" }),
        );
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("a free loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let app = Router::new()
            .route("/token", post(serve))
            .route("/userinfo", get(serve))
            .route("/revoke", post(serve))
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}"),
            state,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// An authorization endpoint URL for the provider's settings (not served).
    pub fn authorize_url(&self) -> String {
        format!("{}/authorize", self.url)
    }

    /// The token endpoint URL (`POST /token`), for the provider's settings.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.url)
    }

    /// The userinfo endpoint URL (`GET /userinfo`), for the provider's settings.
    pub fn userinfo_url(&self) -> String {
        format!("{}/userinfo", self.url)
    }

    /// The revocation endpoint URL (`POST /revoke`), for the provider's settings.
    pub fn revocation_url(&self) -> String {
        format!("{}/revoke", self.url)
    }

    /// Answers every request to `endpoint` with `reply` from now on.
    pub fn reply(&self, endpoint: ProviderEndpoint, reply: ProviderReply) {
        lock(&self.state.replies).insert(endpoint, reply);
    }

    /// Serves `userinfo` for the Bearer token `access_token` from now on (when no reply is set
    /// for the userinfo endpoint).
    pub fn account(&self, access_token: &str, userinfo: Value) {
        lock(&self.state.accounts).insert(access_token.to_owned(), userinfo);
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<ProviderRequest> {
        lock(&self.state.requests).clone()
    }

    /// The requests received by `endpoint`, in order.
    pub fn requests_to(&self, endpoint: ProviderEndpoint) -> Vec<ProviderRequest> {
        self.requests()
            .into_iter()
            .filter(|request| request.endpoint == endpoint)
            .collect()
    }
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    State(state): State<Arc<ProviderState>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let endpoint = match uri.path() {
        "/token" => ProviderEndpoint::Token,
        "/userinfo" => ProviderEndpoint::Userinfo,
        _ => ProviderEndpoint::Revocation,
    };
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
    };
    let content_type = text(header::CONTENT_TYPE);
    let form = if content_type
        .as_deref()
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"))
    {
        url::form_urlencoded::parse(&body).into_owned().collect()
    } else {
        Vec::new()
    };
    let request = ProviderRequest {
        endpoint,
        method: method.to_string(),
        authorization: text(header::AUTHORIZATION),
        content_type,
        accept: text(header::ACCEPT),
        form,
    };
    lock(&state.requests).push(request.clone());
    let reply = lock(&state.replies)
        .get(&endpoint)
        .cloned()
        .unwrap_or_else(|| default_reply(&state, &request));
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = (reply.status, reply.body).into_response();
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value);
    }
    response
}

fn default_reply(state: &ProviderState, request: &ProviderRequest) -> ProviderReply {
    match request.endpoint {
        ProviderEndpoint::Token => ProviderReply::json(
            200,
            json!({
                "access_token": TEST_ACCESS_TOKEN,
                "refresh_token": TEST_REFRESH_TOKEN,
                "expires_in": 3600,
                "token_type": "bearer",
                "scope": "openid email",
            }),
        ),
        ProviderEndpoint::Userinfo => {
            let token = request
                .authorization
                .as_deref()
                .and_then(gumstack_protocol::bearer::bearer_of);
            match token.and_then(|token| lock(&state.accounts).get(token).cloned()) {
                Some(userinfo) => ProviderReply::json(200, userinfo),
                None => ProviderReply::json(401, json!({ "message": "Bad credentials" }))
                    .header("www-authenticate", r#"Bearer error="invalid_token""#),
            }
        }
        ProviderEndpoint::Revocation => ProviderReply::text(200, ""),
    }
}
