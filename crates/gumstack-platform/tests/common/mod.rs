//! Shared harness: a platform on a temporary SQLite file, driven in-process with `oneshot`.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod calls;
pub mod dashboard;
pub mod fake_server;
pub mod oauth;
pub mod recording_provider;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use gumstack_platform::crypto::{random_token, token_hash};
use gumstack_platform::store::sqlite::SqliteStore;
use gumstack_platform::store::{Connection, ConnectionStatus, Role, Store, Timestamp, User};
use gumstack_platform::vault::Vault;
use gumstack_platform::{Platform, PlatformOptions};
use gumstack_runtime::ProcessRuntime;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tower::ServiceExt as _;

pub const NONE_CONFIG: &str = "name: Greeter\ndescription: Says hello\nauth:\n  type: none\n  credentials:\n    - name: greeting\n      label: Greeting\n";
pub const CRED_CONFIG: &str = "name: Keys\nauth:\n  type: cred\n  credentials:\n    - name: api_key\n      label: API key\n      secret: true\n";
pub const OAUTH_CONFIG: &str = "name: Linear\nauth:\n  type: oauth\n  provider: linear\n";

pub struct Harness {
    pub platform: Platform,
    pub store: Arc<SqliteStore>,
    pub router: Router,
    pub admin: User,
    pub admin_password: SecretString,
    pub admin_token: String,
    _dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// Asserts an API error: status, `error.code`, and a fragment of `error.message`.
    pub fn assert_error(&self, status: StatusCode, code: &str, fragment: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        let json = self.json();
        assert_eq!(json["error"]["code"], code, "{}", self.text);
        let message = json["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(fragment),
            "message {message:?} lacks {fragment:?}"
        );
    }
}

impl Harness {
    pub async fn new() -> Self {
        Self::build(false).await
    }

    /// A harness that accepts client ID metadata documents on loopback http URLs (test only).
    pub async fn with_loopback_documents() -> Self {
        Self::build(true).await
    }

    /// A harness behind a reverse proxy at 127.0.0.1 (the address every request comes from).
    pub async fn behind_trusted_proxy() -> Self {
        Self::build_with(|options| options.trusted_proxies = vec![[127, 0, 0, 1].into()]).await
    }

    async fn build(loopback_documents: bool) -> Self {
        Self::build_with(|options| {
            options.allow_loopback_metadata_documents = loopback_documents;
        })
        .await
    }

    /// A harness with options of its own (e.g. an injected clock).
    pub async fn build_with(configure: impl FnOnce(&mut PlatformOptions)) -> Self {
        Self::build_with_runtime(Arc::new(ProcessRuntime::default()), configure).await
    }

    /// A harness whose server processes `runtime` starts (e.g. a [`fake_server::FakeRuntime`]).
    pub async fn build_with_runtime(
        runtime: Arc<dyn gumstack_runtime::Runtime>,
        configure: impl FnOnce(&mut PlatformOptions),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("gumstack.db"))
                .await
                .unwrap(),
        );
        let dyn_store: Arc<dyn Store> = store.clone();
        let addr: SocketAddr = ([127, 0, 0, 1], 8080).into();
        let mut options = PlatformOptions::new(dir.path());
        configure(&mut options);
        let platform = Platform::assemble(
            dyn_store,
            Arc::new(Vault::generate()),
            runtime,
            &options,
            addr,
        )
        .await
        .unwrap();
        let created = platform.ensure_first_admin().await.unwrap().unwrap();
        let admin_token = Self::token_for(&platform, &created.user).await;
        let router = platform
            .router()
            .layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        Self {
            router,
            store,
            admin: created.user,
            admin_password: created.generated_password.unwrap(),
            admin_token,
            platform,
            _dir: dir,
        }
    }

    pub async fn token_for(platform: &Platform, user: &User) -> String {
        let created = platform
            .state
            .api_tokens
            .create(user, "test", None)
            .await
            .unwrap();
        created.token.expose_secret().to_owned()
    }

    /// A user with `role` and an API token for them.
    pub async fn user_with_token(&self, email: &str, role: Role) -> (User, String) {
        let created = self
            .platform
            .state
            .accounts
            .create(email, role, None)
            .await
            .unwrap();
        let token = Self::token_for(&self.platform, &created.user).await;
        (created.user, token)
    }

    pub async fn request(&self, req: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        Reply {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// A JSON API call with a bearer token (`None`: no Authorization header).
    pub async fn api(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = match body {
            Some(body) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => req.body(Body::empty()),
        };
        self.request(req.unwrap()).await
    }

    pub async fn admin_api(&self, method: Method, uri: &str, body: Option<Value>) -> Reply {
        self.api(method, uri, Some(&self.admin_token.clone()), body)
            .await
    }

    /// Creates a server through the API; returns its JSON.
    pub async fn create_server(&self, config_yaml: &str, slug: &str) -> Value {
        let reply = self
            .admin_api(
                Method::POST,
                "/api/servers",
                Some(serde_json::json!({
                    "config_yaml": config_yaml,
                    "slug": slug,
                    "runtime": { "command": "/bin/true" }
                })),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.json()
    }

    /// A logged-in browser session for `user`: (Cookie header value, CSRF token).
    pub async fn session_for(&self, user: &User) -> (String, String) {
        let token = random_token("");
        self.platform
            .state
            .store
            .insert_session(
                user.id,
                &token_hash(&token),
                self.platform.state.clock.now() + 3600,
            )
            .await
            .unwrap();
        let csrf = gumstack_platform::auth::csrf_token_for(token.expose_secret());
        (format!("gumstack_session={}", token.expose_secret()), csrf)
    }

    /// A form POST (urlencoded) with optional cookie and headers.
    pub async fn form(
        &self,
        uri: &str,
        cookie: Option<&str>,
        pairs: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Reply {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(cookie) = cookie {
            req = req.header(header::COOKIE, cookie);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.request(req.body(Body::from(body)).unwrap()).await
    }

    /// A GET with an optional cookie.
    pub async fn get(&self, uri: &str, cookie: Option<&str>) -> Reply {
        let mut req = Request::builder().uri(uri);
        if let Some(cookie) = cookie {
            req = req.header(header::COOKIE, cookie);
        }
        self.request(req.body(Body::empty()).unwrap()).await
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(self.store.pool())
            .await
            .unwrap()
    }
}

/// An active connection of `user_id`'s account `nickname` at `provider` of `server_id`, made
/// at `at`, as a test stores it directly: no expiry, no refresh token, no scope, and
/// `access_ciphertext` that is no sealed token (set a sealed one when the test reads it).
pub fn connection_row(
    user_id: uuid::Uuid,
    server_id: uuid::Uuid,
    provider: &str,
    nickname: &str,
    at: Timestamp,
) -> Connection {
    Connection {
        id: uuid::Uuid::new_v4(),
        user_id,
        server_id,
        provider: provider.to_owned(),
        nickname: nickname.to_owned(),
        subject: None,
        label: None,
        is_default: false,
        access_ciphertext: b"sealed access token".to_vec(),
        access_hash: vec![0; 32],
        refresh_ciphertext: None,
        expires_at: None,
        scope: None,
        status: ConnectionStatus::Active,
        failure_kind: None,
        failure_message: None,
        failures: 0,
        retry_at: None,
        version: 0,
        lease_holder: None,
        lease_until: None,
        obtained_at: at,
        created_at: at,
        updated_at: at,
    }
}
