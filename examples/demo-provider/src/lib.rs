//! A **demo** OAuth 2.0 provider with an OpenID-style userinfo endpoint, for `gumstackd demo`
//! only: it lets someone try an `oauth` server (examples/oauth-server) with no account anywhere.
//! It is not part of `gumstackd serve` and must never stand in for a real provider: its two
//! accounts are made up, anyone who can reach it may sign in as either, and it keeps
//! everything in memory.
//!
//! What it does, as a real provider would:
//!
//! - `GET /authorize` (authorization code, PKCE S256 required, one registered client and
//!   redirect URI): a page to pick an account (or cancel); `POST /authorize` sends the browser
//!   back with `code` and `state` (or `error=access_denied`).
//! - `POST /token` (`client_secret_basic` or `client_secret_post`): `authorization_code`
//!   (single-use codes, 60 s) and `refresh_token` (rotated: each refresh token works once).
//!   Access tokens live [`Settings::token_lifetime`], short, so a refresh shows up soon.
//! - `GET /userinfo` (Bearer): `sub`, `email`, `name`; 401 for an unknown or expired token.
//! - `POST /revoke` (RFC 7009): forgets the token (a refresh token takes its access tokens).
//! - `GET /.well-known/openid-configuration`: where the endpoints are.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;
use tokio::net::TcpListener;

/// A made-up account of the demo provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub sub: &'static str,
    pub email: &'static str,
    pub name: &'static str,
}

/// The accounts anyone may sign in as.
pub const ACCOUNTS: [Account; 2] = [
    Account {
        sub: "demo-ada",
        email: "ada@demo-provider.test",
        name: "Ada Lovelace",
    },
    Account {
        sub: "demo-grace",
        email: "grace@demo-provider.test",
        name: "Grace Hopper",
    },
];

/// How long a code may wait for its exchange.
const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// At most this many live codes and tokens of each kind; the oldest go first.
const MAX_ENTRIES: usize = 10_000;

/// The one client the provider knows.
#[derive(Debug, Clone)]
pub struct Settings {
    pub client_id: String,
    pub client_secret: String,
    /// The only redirect URI codes are sent to.
    pub redirect_uri: String,
    /// How long an access token works.
    pub token_lifetime: Duration,
}

impl Settings {
    /// A client `gumstack-demo` with a fresh random secret, redirecting to `redirect_uri`.
    pub fn new(redirect_uri: &str, token_lifetime: Duration) -> Self {
        Self {
            client_id: "gumstack-demo".to_owned(),
            client_secret: random_token(),
            redirect_uri: redirect_uri.to_owned(),
            token_lifetime,
        }
    }
}

#[derive(Debug)]
struct Code {
    account: Account,
    challenge: String,
    scope: String,
    issued: Instant,
}

#[derive(Debug, Clone)]
struct Token {
    account: Account,
    scope: String,
    /// Access tokens: when it stops working. Refresh tokens: `None`.
    expires: Option<Instant>,
    /// For an access token, the refresh token it came with.
    family: String,
}

#[derive(Debug, Default)]
struct Store {
    codes: HashMap<String, Code>,
    access: HashMap<String, Token>,
    refresh: HashMap<String, Token>,
}

#[derive(Debug)]
struct Provider {
    settings: Settings,
    store: Mutex<Store>,
}

/// A running demo provider.
#[derive(Debug)]
pub struct Running {
    /// Its base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    pub settings: Settings,
}

impl Running {
    pub fn authorize_url(&self) -> String {
        format!("{}/authorize", self.url)
    }

    pub fn token_url(&self) -> String {
        format!("{}/token", self.url)
    }

    pub fn userinfo_url(&self) -> String {
        format!("{}/userinfo", self.url)
    }

    pub fn revocation_url(&self) -> String {
        format!("{}/revoke", self.url)
    }
}

/// Serves the provider on `listener` until the process ends.
pub fn start(listener: TcpListener, settings: Settings) -> std::io::Result<Running> {
    let addr: SocketAddr = listener.local_addr()?;
    let url = format!("http://{addr}");
    let provider = Arc::new(Provider {
        settings: settings.clone(),
        store: Mutex::default(),
    });
    let router = Router::new()
        .route("/authorize", get(authorize_page).post(authorize_decision))
        .route("/token", post(token))
        .route("/userinfo", get(userinfo))
        .route("/revoke", post(revoke))
        .route("/.well-known/openid-configuration", get(discovery))
        .with_state(provider);
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "the demo provider stopped");
        }
    });
    Ok(Running { url, settings })
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the system's random source works");
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Provider {
    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Drops the entries a map may no longer hold: expired ones, then the oldest beyond the bound.
fn bound<V>(map: &mut HashMap<String, V>, expired: impl Fn(&V) -> bool) {
    map.retain(|_, value| !expired(value));
    while map.len() >= MAX_ENTRIES {
        let Some(key) = map.keys().next().cloned() else {
            break;
        };
        map.remove(&key);
    }
}

#[derive(Debug, Deserialize)]
struct AuthorizeParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    scope: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Gumstack demo provider" }
                style { "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#1f2933}"
                        ".banner{background:#fff4d6;border:1px solid #e0b84a;padding:.75rem;border-radius:.4rem}"
                        "button{font-size:1rem;padding:.6rem 1rem;margin:.25rem 0;width:100%;cursor:pointer}"
                        ".cancel{background:none;border:1px solid #9aa5b1}" }
            }
            body {
                p.banner role="note" {
                    strong { "Demo provider." } " It comes with " code { "gumstackd demo" }
                    " so you can try connecting an account. Its accounts are made up and anyone can sign in as them: never use it for anything real."
                }
                (body)
            }
        }
    }
}

fn refuse_page(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        page(
            "Request refused",
            html! { h1 { "Request refused" } p role="alert" { (message) } },
        ),
    )
        .into_response()
}

impl AuthorizeParams {
    /// What is wrong with the request, if anything; nothing is sent to an unknown redirect URI.
    fn problem(&self, settings: &Settings) -> Option<&'static str> {
        if self.client_id.as_deref() != Some(&settings.client_id) {
            return Some("unknown client_id");
        }
        if self.redirect_uri.as_deref() != Some(&settings.redirect_uri) {
            return Some("redirect_uri is not the one registered for this client");
        }
        if self.response_type.as_deref() != Some("code") {
            return Some("response_type must be code");
        }
        if self.code_challenge_method.as_deref() != Some("S256")
            || self
                .code_challenge
                .as_deref()
                .is_none_or(|c| c.len() < 43 || c.len() > 128)
        {
            return Some("PKCE with code_challenge_method=S256 is required");
        }
        None
    }
}

async fn authorize_page(
    State(provider): State<Arc<Provider>>,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    if let Some(problem) = params.problem(&provider.settings) {
        return refuse_page(problem);
    }
    let hidden = [
        ("response_type", params.response_type.as_deref()),
        ("client_id", params.client_id.as_deref()),
        ("redirect_uri", params.redirect_uri.as_deref()),
        ("state", params.state.as_deref()),
        ("scope", params.scope.as_deref()),
        ("code_challenge", params.code_challenge.as_deref()),
        (
            "code_challenge_method",
            params.code_challenge_method.as_deref(),
        ),
    ];
    page(
        "Sign in",
        html! {
            h1 { "Sign in to the demo provider" }
            p { "Gumstack asks to connect one of these made-up accounts" @if let Some(scope) = &params.scope { " (" code { (scope) } ")" } "." }
            form method="post" action="/authorize" {
                @for (name, value) in hidden {
                    @if let Some(value) = value { input type="hidden" name=(name) value=(value); }
                }
                @for account in ACCOUNTS {
                    button type="submit" name="account" value=(account.sub) id={ "as-" (account.sub) } {
                        "Continue as " (account.name) " (" (account.email) ")"
                    }
                }
                button.cancel type="submit" name="account" value="" id="cancel" { "Cancel" }
            }
        },
    )
    .into_response()
}

#[derive(Debug, Deserialize)]
struct Decision {
    #[serde(flatten)]
    params: AuthorizeParams,
    account: Option<String>,
}

async fn authorize_decision(
    State(provider): State<Arc<Provider>>,
    Form(decision): Form<Decision>,
) -> Response {
    let params = &decision.params;
    if let Some(problem) = params.problem(&provider.settings) {
        return refuse_page(problem);
    }
    let mut back = url::Url::parse(&provider.settings.redirect_uri).expect("a registered URL");
    let account = ACCOUNTS
        .into_iter()
        .find(|a| Some(a.sub) == decision.account.as_deref());
    {
        let mut query = back.query_pairs_mut();
        match account {
            Some(account) => {
                let code = random_token();
                let mut store = provider.store();
                bound(&mut store.codes, |c| c.issued.elapsed() > CODE_LIFETIME);
                store.codes.insert(
                    code.clone(),
                    Code {
                        account,
                        challenge: params.code_challenge.clone().unwrap_or_default(),
                        scope: params.scope.clone().unwrap_or_default(),
                        issued: Instant::now(),
                    },
                );
                query.append_pair("code", &code);
            }
            None => {
                query.append_pair("error", "access_denied");
            }
        }
        if let Some(state) = &params.state {
            query.append_pair("state", state);
        }
    }
    Redirect::to(back.as_str()).into_response()
}

#[derive(Debug, Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// The client's credentials: HTTP Basic, or the form's `client_id` and `client_secret`.
fn client_authenticated(settings: &Settings, headers: &HeaderMap, form: &TokenRequest) -> bool {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            let decode = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((decode(id)?, decode(secret)?))
        });
    let (id, secret) = match basic {
        Some(pair) => pair,
        None => match (&form.client_id, &form.client_secret) {
            (Some(id), Some(secret)) => (id.clone(), secret.clone()),
            _ => return false,
        },
    };
    id == settings.client_id
        && bool::from(secret.as_bytes().ct_eq(settings.client_secret.as_bytes()))
}

async fn token(
    State(provider): State<Arc<Provider>>,
    headers: HeaderMap,
    Form(form): Form<TokenRequest>,
) -> Response {
    let settings = &provider.settings;
    if !client_authenticated(settings, &headers, &form) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        );
    }
    let mut store = provider.store();
    let (account, scope) = match form.grant_type.as_deref() {
        Some("authorization_code") => {
            let Some(code) = form.code.as_deref().and_then(|c| store.codes.remove(c)) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "unknown or used code",
                );
            };
            if code.issued.elapsed() > CODE_LIFETIME {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the code expired");
            }
            if form.redirect_uri.as_deref() != Some(&settings.redirect_uri) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "redirect_uri does not match",
                );
            }
            let verified = form.code_verifier.as_deref().is_some_and(|verifier| {
                URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == code.challenge
            });
            if !verified {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the PKCE code_verifier does not match",
                );
            }
            (code.account, code.scope)
        }
        Some("refresh_token") => {
            let Some(old) = form
                .refresh_token
                .as_deref()
                .and_then(|t| store.refresh.remove(t))
            else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "unknown, used or revoked refresh token",
                );
            };
            (old.account, old.scope)
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "authorization_code or refresh_token",
            );
        }
    };
    let access = random_token();
    let refresh = random_token();
    bound(&mut store.access, |t| {
        t.expires.is_some_and(|at| at <= Instant::now())
    });
    bound(&mut store.refresh, |_| false);
    store.access.insert(
        access.clone(),
        Token {
            account,
            scope: scope.clone(),
            expires: Some(Instant::now() + settings.token_lifetime),
            family: refresh.clone(),
        },
    );
    store.refresh.insert(
        refresh.clone(),
        Token {
            account,
            scope: scope.clone(),
            expires: None,
            family: refresh.clone(),
        },
    );
    tracing::info!(account = account.email, "demo provider issued tokens");
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": settings.token_lifetime.as_secs(),
            "refresh_token": refresh,
            "scope": scope,
        })),
    )
        .into_response()
}

async fn userinfo(State(provider): State<Arc<Provider>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let account = token.and_then(|token| {
        let store = provider.store();
        let entry = store.access.get(token)?;
        entry
            .expires
            .is_some_and(|at| at > Instant::now())
            .then_some(entry.account)
    });
    match account {
        Some(account) => Json(json!({
            "sub": account.sub,
            "email": account.email,
            "email_verified": true,
            "name": account.name,
        }))
        .into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                r#"Bearer error="invalid_token", error_description="unknown or expired token""#,
            )],
        )
            .into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct RevokeRequest {
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

async fn revoke(
    State(provider): State<Arc<Provider>>,
    headers: HeaderMap,
    Form(form): Form<RevokeRequest>,
) -> Response {
    let as_token_request = TokenRequest {
        grant_type: None,
        code: None,
        redirect_uri: None,
        code_verifier: None,
        refresh_token: None,
        client_id: form.client_id,
        client_secret: form.client_secret,
    };
    if !client_authenticated(&provider.settings, &headers, &as_token_request) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        );
    }
    if let Some(token) = form.token {
        let mut store = provider.store();
        store.access.remove(&token);
        // A refresh token takes the access tokens issued with it along.
        if store.refresh.remove(&token).is_some() {
            store.access.retain(|_, t| t.family != token);
        }
    }
    StatusCode::OK.into_response()
}

async fn discovery(headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    let base = format!("http://{host}");
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "revocation_endpoint": format!("{base}/revoke"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }))
    .into_response()
}
