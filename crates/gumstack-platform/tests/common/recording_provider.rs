//! A recording provider and a connections service over the harness's store, with an
//! injected clock: what the connect-flow and refresh tests share.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use gumstack_platform::clock::ManualClock;
use gumstack_platform::connections::flow::CallbackQuery;
use gumstack_platform::connections::provider::{
    Operation, ProviderCalls, ProviderFailure, ProviderReply, ProviderRequest,
};
use gumstack_platform::connections::{Connections, RefreshSettings, TokenError};
use gumstack_platform::crypto::random_token;
use gumstack_platform::store::{Server, User};
use gumstack_platform::urls::PublicUrls;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use uuid::Uuid;

use super::Harness;

pub const CONFIG: &str = "name: Tracker\nauth:\n  type: oauth\n  provider: tracker\n";
pub const REDIRECT: &str = "http://127.0.0.1:8080/auth/callback";
/// The nickname of the account the recorder signs in unless told otherwise.
pub const ANN: &str = "<b>ann</b>@tracker";

/// A provider that issues numbered tokens, rotates refresh tokens, refuses a reused one like
/// real providers do, and records every call.
#[derive(Debug, Default)]
pub struct Recorder {
    pub state: Mutex<Recorded>,
}

#[derive(Debug, Default)]
pub struct Recorded {
    pub calls: Vec<(Operation, Value)>,
    pub issued: u32,
    pub valid_refresh: HashSet<String>,
    pub reused: u32,
    pub expires_in: Option<i64>,
    pub no_refresh_token_in_refresh: bool,
    pub delay: Duration,
    /// Outcomes for the next refreshes, before normal service.
    pub failures: VecDeque<ProviderFailure>,
    pub bad_url: Option<String>,
    pub not_configured: bool,
    /// How `revoke` fails, if it does.
    pub revoke_failure: Option<ProviderFailure>,
    /// The nickname of the account signing in (default `<b>ann</b>@tracker`).
    pub nickname: Option<String>,
    /// The stable id of the account signing in, if the provider gives one.
    pub subject: Option<String>,
    /// The `scope` parameter of the authorization URLs it builds, if any.
    pub url_scope: Option<String>,
    /// Token responses name no scope (the provider granted what was asked).
    pub no_scope_in_tokens: bool,
}

impl Recorder {
    pub fn new(expires_in: Option<i64>) -> Arc<Self> {
        let recorder = Self::default();
        recorder.state.lock().unwrap().expires_in = expires_in;
        Arc::new(recorder)
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut Recorded) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    pub fn refreshes(&self) -> Vec<String> {
        self.with(|r| {
            r.calls
                .iter()
                .filter(|(op, _)| *op == Operation::Refresh)
                .map(|(_, body)| body["refresh_token"].as_str().unwrap().to_owned())
                .collect()
        })
    }

    pub fn count(&self, operation: Operation) -> usize {
        self.with(|r| r.calls.iter().filter(|(op, _)| *op == operation).count())
    }

    pub fn tokens(r: &mut Recorded, with_refresh: bool) -> Value {
        let n = r.issued;
        r.issued += 1;
        let refresh = format!("refresh-{n}");
        if with_refresh {
            r.valid_refresh.insert(refresh.clone());
        }
        json!({
            "access_token": format!("access-{n}"),
            "refresh_token": with_refresh.then_some(refresh),
            "expires_in": r.expires_in,
            "token_type": "Bearer",
            "scope": (!r.no_scope_in_tokens).then_some("read"),
        })
    }
}

#[async_trait]
impl ProviderCalls for Recorder {
    async fn call(
        &self,
        _server_id: Uuid,
        provider: &str,
        request: ProviderRequest,
    ) -> Result<ProviderReply, ProviderFailure> {
        assert_eq!(provider, "tracker");
        // Recorded and answered as the JSON on the wire.
        let operation = request.operation();
        let body: Value = serde_json::from_slice(&request.to_body()).unwrap();
        let (reply, delay) = self.with(|r| {
            r.calls.push((operation, body.clone()));
            let reply = match operation {
                Operation::AuthorizationUrl if r.not_configured => {
                    Err(ProviderFailure::NotConfigured {
                        message: "missing".into(),
                        missing_env: vec!["TRACKER_CLIENT_ID".into()],
                    })
                }
                Operation::AuthorizationUrl => Ok(json!({
                    "url": r.bad_url.clone().unwrap_or_else(|| format!(
                        "https://idp.example/authorize?client_id=c&state={}&redirect_uri={}{}",
                        body["state"].as_str().unwrap(),
                        url::form_urlencoded::byte_serialize(body["redirect_uri"].as_str().unwrap().as_bytes()).collect::<String>(),
                        r.url_scope.as_deref().map(|scope| format!(
                            "&scope={}",
                            url::form_urlencoded::byte_serialize(scope.as_bytes()).collect::<String>()
                        )).unwrap_or_default(),
                    ))
                })),
                Operation::Exchange => {
                    assert_eq!(body["redirect_uri"], REDIRECT);
                    assert_eq!(body["code_verifier"].as_str().unwrap().len(), 43);
                    Ok(Self::tokens(r, true))
                }
                Operation::Refresh => {
                    if let Some(failure) = r.failures.pop_front() {
                        Err(failure)
                    } else {
                        let presented = body["refresh_token"].as_str().unwrap().to_owned();
                        if r.valid_refresh.remove(&presented) {
                            let rotate = !r.no_refresh_token_in_refresh;
                            if !rotate {
                                r.valid_refresh.insert(presented);
                            }
                            Ok(Self::tokens(r, rotate))
                        } else {
                            r.reused += 1;
                            Err(ProviderFailure::Rejected {
                                code: "invalid_grant".into(),
                                description: Some("reused".into()),
                            })
                        }
                    }
                }
                Operation::Nickname => Ok(json!({
                    "nickname": r.nickname.clone().unwrap_or_else(|| ANN.to_owned()),
                    "subject": r.subject,
                })),
                Operation::Revoke => match r.revoke_failure.clone() {
                    Some(failure) => Err(failure),
                    None => Ok(json!({ "revoked": true })),
                },
            };
            (reply, r.delay)
        });
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        reply.map(|reply| {
            ProviderReply::parse(operation, reply.to_string().as_bytes())
                .expect("the recorder answers the operation's reply")
        })
    }
}

pub struct Setup {
    pub h: Harness,
    pub server: Server,
    pub user: User,
    pub session: SecretString,
    pub provider: Arc<Recorder>,
    pub clock: Arc<ManualClock>,
}

pub fn settings() -> RefreshSettings {
    RefreshSettings {
        background_interval: None,
        ..RefreshSettings::default()
    }
}

impl Setup {
    pub async fn new(expires_in: Option<i64>) -> Self {
        let h = Harness::new().await;
        h.create_server(CONFIG, "tracker").await;
        let server = h
            .platform
            .state
            .store
            .server_by_slug("tracker")
            .await
            .unwrap();
        let user = h.admin.clone();
        Self {
            server,
            user,
            session: random_token(""),
            provider: Recorder::new(expires_in),
            clock: Arc::new(ManualClock::at(1_800_000_000)),
            h,
        }
    }

    /// A connections service over the harness's store (another "process" when called twice).
    pub fn instance(&self, settings: RefreshSettings) -> Connections {
        Connections::new(
            Arc::clone(&self.h.platform.state.store),
            Arc::clone(&self.h.platform.state.vault),
            self.provider.clone(),
            self.clock.clone(),
            settings,
            PublicUrls::new("http://127.0.0.1:8080").unwrap(),
        )
    }

    /// Runs the connect flow for `user`; the state sent to the provider.
    pub async fn start(&self, c: &Connections, user: &User, session: &SecretString) -> String {
        let url = c
            .start(user.id, session, &self.server, "tracker", &[])
            .await
            .unwrap();
        state_of(&url)
    }

    pub async fn connect(&self, c: &Connections) {
        let state = self.start(c, &self.user, &self.session).await;
        let connected = c
            .finish(
                self.user.id,
                &self.session,
                callback(&state, Some("the-code")),
            )
            .await
            .unwrap();
        let expected = self.provider.with(|r| r.nickname.clone());
        assert_eq!(connected.nickname, expected.as_deref().unwrap_or(ANN));
    }

    pub async fn token(&self, c: &Connections) -> Result<String, TokenError> {
        c.access_token(self.user.id, self.server.id, "tracker")
            .await
            .map(|t| t.expose_secret().to_owned())
    }

    pub async fn stored(&self) -> gumstack_platform::store::Connection {
        self.h
            .platform
            .state
            .store
            .connection(self.user.id, self.server.id, "tracker", None)
            .await
            .unwrap()
    }
}

/// The `state` of an authorization URL the platform checked.
pub fn state_of(url: &url::Url) -> String {
    url.query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

pub fn callback(state: &str, code: Option<&str>) -> CallbackQuery {
    CallbackQuery {
        state: Some(state.to_owned()),
        code: code.map(str::to_owned),
        ..CallbackQuery::default()
    }
}

/// Waits (bounded) for something background work does.
pub async fn wait_until(done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
