//! A stand-in Gumstack platform for tests (cargo feature `testing`).
//!
//! In production a server accepts only calls carrying an identity the platform signed
//! (docs/PROTOCOL.md §2), and fetches its callers' credentials from the platform (§3).
//! [`TestPlatform`] plays the platform's part on a loopback port: it serves a JWKS and the
//! credentials route, builds the production [`HostEnv`] that points at it, and signs identities
//! with its [`TestKey`]. Send them in the `Gumstack-Identity` header ([`IDENTITY_HEADER`]).
//!
//! The credentials route checks the server token ([`TestPlatform::server_token`], set by
//! [`TestPlatform::env`]) and that an identity was forwarded, records every request
//! ([`TestPlatform::credentials_requests`]) and answers with the [`CredentialsReply`] the test
//! chose ([`TestPlatform::reply_credentials`]; until then: 409 `credentials_required`).
//!
//! The route where tools report an access token the provider rejected (§3.1) checks the same,
//! records every report ([`TestPlatform::invalid_token_reports`]) and answers 204 (or
//! [`TestPlatform::reply_reports`]); like the platform's refresh, a report can switch the
//! credentials to new ones ([`TestPlatform::reply_credentials_after_report`]).
//!
//! It also plays the platform calling the server's OAuth provider routes (§4):
//! [`TestPlatform::provider_call`] sends a call signed for the server, route and body;
//! [`TestPlatform::platform_call_claims`] and [`TestKey::sign_platform_call`] build others.
//!
//! [`TestProvider`] plays a third-party OAuth provider (token, userinfo and revocation
//! endpoints) for the server's provider code and tools to talk to.
//!
//! ```no_run
//! # async fn example() {
//! use gumstack::testing::{CredentialsReply, TestPlatform};
//! use serde_json::json;
//!
//! let platform = TestPlatform::start().await;
//! let env = platform.env(&[("GREETING", "Hello")]);
//! let identity = platform.identity(); // the value of the Gumstack-Identity header
//! platform.reply_credentials(CredentialsReply::credentials(json!({ "api_key": "sk-1" })));
//! # }
//! ```

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Json, Router,
    extract::State,
    http::header,
    routing::{get, post},
};
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};

use crate::env::HostEnv;

mod credentials;
mod key;
mod provider;

pub use credentials::{CredentialsReply, CredentialsRequest, InvalidTokenReport};
use credentials::{CredentialsRoute, connect_url_for, serve_credentials, serve_report};
pub use key::TestKey;
pub use provider::{
    ProviderEndpoint, ProviderReply, ProviderRequest, TEST_ACCESS_TOKEN, TEST_REFRESH_TOKEN,
    TestProvider,
};

/// The header that carries the signed identity (`Gumstack-Identity`; header names are
/// case-insensitive).
pub const IDENTITY_HEADER: &str = crate::identity::IDENTITY_HEADER;

/// The header that names the call being served (`Gumstack-Call`, lower case): the gateway
/// sends it with each call, and the server forwards it with the identity when it fetches the
/// caller's credentials.
pub const CALL_HEADER: &str = crate::identity::CALL_HEADER;

/// The JWS `typ` of an identity.
pub const IDENTITY_TYPE: &str = crate::identity::IDENTITY_TYPE;

/// The header that carries the platform's signature of a call to a provider route
/// (`Gumstack-Platform-Call`).
pub const PLATFORM_CALL_HEADER: &str = crate::identity::platform_call::PLATFORM_CALL_HEADER;

/// The JWS `typ` of a platform call.
pub const PLATFORM_CALL_TYPE: &str = crate::identity::platform_call::PLATFORM_CALL_TYPE;

/// The JWKS the stand-in platform serves, and how often it was asked for.
#[derive(Debug, Default)]
struct Jwks {
    keys: Mutex<Vec<Value>>,
    requests: AtomicUsize,
}

#[derive(Debug, Clone)]
struct PlatformState {
    jwks: Arc<Jwks>,
    credentials: Arc<CredentialsRoute>,
}

/// A stand-in platform: a JWKS and credentials server on `127.0.0.1`, a server id and a server
/// token. Stops when dropped.
#[derive(Debug)]
pub struct TestPlatform {
    backend_url: String,
    server_id: String,
    key: TestKey,
    state: PlatformState,
    task: JoinHandle<()>,
}

impl TestPlatform {
    /// Starts serving `GET /.well-known/jwks.json` with one key, [`key`](Self::key), and
    /// `GET /internal/v1/credentials`, for a new random server id and server token.
    pub async fn start() -> Self {
        let key = TestKey::generate("test-key-1");
        let server_id = random_uuid();
        let state = PlatformState {
            jwks: Arc::new(Jwks::default()),
            credentials: Arc::new(CredentialsRoute {
                server_token: format!("gst_{}", random_uuid()),
                reply: Mutex::new(CredentialsReply::required(
                    &connect_url_for(&server_id),
                    "You have not entered your credentials for Test yet.",
                )),
                requests: Mutex::default(),
                report_reply: Mutex::new(CredentialsReply::taken()),
                after_report: Mutex::default(),
                reports: Mutex::default(),
            }),
        };
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("a free loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let app = Router::new()
            .route("/.well-known/jwks.json", get(serve_jwks))
            .route("/internal/v1/credentials", get(serve_credentials))
            .route("/internal/v1/credentials/invalid", post(serve_report))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let platform = Self {
            backend_url: format!("http://{addr}"),
            server_id,
            key,
            state,
            task,
        };
        platform.publish(&[&platform.key]);
        platform
    }

    /// The `GUMSTACK_BACKEND_URL` of this platform.
    pub fn backend_url(&self) -> &str {
        &self.backend_url
    }

    /// The `GUMSTACK_SERVER_ID` the identities are minted for.
    pub fn server_id(&self) -> &str {
        &self.server_id
    }

    /// The `GUMSTACK_SERVER_TOKEN` the credentials route accepts.
    pub fn server_token(&self) -> &str {
        &self.state.credentials.server_token
    }

    /// The key [`identity`](Self::identity) signs with, published from the start.
    pub fn key(&self) -> &TestKey {
        &self.key
    }

    /// Serves exactly `keys` from now on (key rotation).
    pub fn publish(&self, keys: &[&TestKey]) {
        let jwks = keys.iter().map(|key| key.jwk()).collect();
        *lock(&self.state.jwks.keys) = jwks;
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_requests(&self) -> usize {
        self.state.jwks.requests.load(Ordering::SeqCst)
    }

    /// Answers every authenticated credentials request with `reply` from now on.
    pub fn reply_credentials(&self, reply: CredentialsReply) {
        *lock(&self.state.credentials.reply) = reply;
    }

    /// The connect URL of the default answer (409 `credentials_required`).
    pub fn connect_url(&self) -> String {
        connect_url_for(&self.server_id)
    }

    /// Every request the credentials route received, in order.
    pub fn credentials_requests(&self) -> Vec<CredentialsRequest> {
        lock(&self.state.credentials.requests).clone()
    }

    /// Answers every authenticated report of an invalid token with `reply` from now on
    /// (default: 204, [`CredentialsReply::taken`]).
    pub fn reply_reports(&self, reply: CredentialsReply) {
        *lock(&self.state.credentials.report_reply) = reply;
    }

    /// When the next report is taken (2xx), answers credentials requests with `reply` from then
    /// on, as the platform's refresh of the connection would.
    pub fn reply_credentials_after_report(&self, reply: CredentialsReply) {
        *lock(&self.state.credentials.after_report) = Some(reply);
    }

    /// Every report of an invalid token the platform received, in order.
    pub fn invalid_token_reports(&self) -> Vec<InvalidTokenReport> {
        lock(&self.state.credentials.reports).clone()
    }

    /// Valid claims of a platform call to this server's route `path` (e.g.
    /// `/gumstack/providers/linear/exchange`) with `body`, issued now for 60 s; change them
    /// and sign them with [`TestKey::sign_platform_call`] to test other cases.
    pub fn platform_call_claims(&self, path: &str, body: &[u8]) -> Value {
        let now = unix_now();
        json!({
            "iss": "http://gumstack.test",
            "aud": format!("gumstack:server:{}", self.server_id),
            "htm": "POST",
            "htu": path,
            "bh": crate::identity::platform_call::body_hash(body),
            "jti": random_uuid(),
            "iat": now,
            "exp": now + 60,
        })
    }

    /// A valid `Gumstack-Platform-Call` header for `path` and `body`, signed with
    /// [`key`](Self::key).
    pub fn platform_call(&self, path: &str, body: &[u8]) -> String {
        self.key
            .sign_platform_call(&self.platform_call_claims(path, body))
    }

    /// Calls `operation` of `provider` on the server at `base_url` (`http://127.0.0.1:…`, no
    /// trailing slash) as the platform does: `POST /gumstack/providers/{provider}/{operation}`
    /// with `body` as JSON and a valid signature.
    pub async fn provider_call(
        &self,
        base_url: &str,
        provider: &str,
        operation: &str,
        body: &Value,
    ) -> reqwest::Response {
        let path = format!("/gumstack/providers/{provider}/{operation}");
        let body = body.to_string();
        let signature = self.platform_call(&path, body.as_bytes());
        reqwest::Client::new()
            .post(format!("{base_url}{path}"))
            .header(PLATFORM_CALL_HEADER, signature)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .expect("the server answers")
    }

    /// A production environment (`ENVIRONMENT=production`, `PORT=4100`, `GUMSTACK_SERVER_ID`,
    /// `GUMSTACK_BACKEND_URL`, `GUMSTACK_SERVER_TOKEN`) plus `vars` (which win), as the
    /// platform would start the server.
    pub fn env(&self, vars: &[(&str, &str)]) -> HostEnv {
        let mut all = vec![
            ("ENVIRONMENT", "production"),
            ("PORT", "4100"),
            ("GUMSTACK_SERVER_ID", self.server_id.as_str()),
            ("GUMSTACK_BACKEND_URL", self.backend_url.as_str()),
            ("GUMSTACK_SERVER_TOKEN", self.server_token()),
        ];
        all.extend_from_slice(vars);
        HostEnv::from_vars(all).expect("a valid production environment")
    }

    /// Valid claims of a call by a fixed test user to this server, issued now; change them and
    /// sign them with [`TestKey::sign`] to test other cases.
    pub fn claims(&self) -> Value {
        let now = unix_now();
        json!({
            "iss": "http://gumstack.test",
            "aud": format!("gumstack:server:{}", self.server_id),
            "sub": "7d6f4a52-8f3e-4c1b-9e2a-5b8c0d1e2f3a",
            "email": "ada@example.com",
            "org": "2a4c6e80-1b3d-4f5a-8c7e-9d0f1a2b3c4d",
            "grp": "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
            "cid": "https://client.example/metadata.json",
            "jti": random_uuid(),
            "iat": now,
            "exp": now + 600,
        })
    }

    /// A valid identity: [`claims`](Self::claims) signed with [`key`](Self::key).
    pub fn identity(&self) -> String {
        self.key.sign(&self.claims())
    }
}

impl Drop for TestPlatform {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_jwks(State(state): State<PlatformState>) -> Json<Value> {
    state.jwks.requests.fetch_add(1, Ordering::SeqCst);
    let keys = lock(&state.jwks.keys).clone();
    Json(json!({ "keys": keys }))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0; N];
    getrandom::fill(&mut bytes).expect("the OS has randomness");
    bytes
}

/// A random (version 4) UUID in its canonical form.
fn random_uuid() -> String {
    let mut bytes: [u8; 16] = random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
