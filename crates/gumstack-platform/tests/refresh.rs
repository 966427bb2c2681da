//! The connect flow and the refresh of OAuth connections, against a recording provider with an
//! injected clock: no test sleeps for time to pass, the clock moves when the test says so.
//! Assertions are on what the provider received, as well as on what callers got.

mod common;

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::Harness;
use gumstack_platform::clock::{Clock, ManualClock};
use gumstack_platform::connections::flow::CallbackQuery;
use gumstack_platform::connections::provider::{
    Operation, ProviderCalls, ProviderFailure, ProviderReply, ProviderRequest,
};
use gumstack_platform::connections::{
    CallbackError, ConnectError, Connections, RefreshSettings, TokenError,
};
use gumstack_platform::crypto::random_token;
use gumstack_platform::store::{ConnectionStatus, FailureKind, Server, User};
use gumstack_platform::urls::PublicUrls;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use uuid::Uuid;

const CONFIG: &str = "name: Tracker\nauth:\n  type: oauth\n  provider: tracker\n";
const REDIRECT: &str = "http://127.0.0.1:8080/auth/callback";

/// A provider that issues numbered tokens, rotates refresh tokens, refuses a reused one like
/// real providers do, and records every call.
#[derive(Debug, Default)]
struct Recorder {
    state: Mutex<Recorded>,
}

#[derive(Debug, Default)]
struct Recorded {
    calls: Vec<(Operation, Value)>,
    issued: u32,
    valid_refresh: HashSet<String>,
    reused: u32,
    expires_in: Option<i64>,
    no_refresh_token_in_refresh: bool,
    delay: Duration,
    /// Outcomes for the next refreshes, before normal service.
    failures: VecDeque<ProviderFailure>,
    bad_url: Option<String>,
    not_configured: bool,
}

impl Recorder {
    fn new(expires_in: Option<i64>) -> Arc<Self> {
        let recorder = Self::default();
        recorder.state.lock().unwrap().expires_in = expires_in;
        Arc::new(recorder)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Recorded) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    fn refreshes(&self) -> Vec<String> {
        self.with(|r| {
            r.calls
                .iter()
                .filter(|(op, _)| *op == Operation::Refresh)
                .map(|(_, body)| body["refresh_token"].as_str().unwrap().to_owned())
                .collect()
        })
    }

    fn count(&self, operation: Operation) -> usize {
        self.with(|r| r.calls.iter().filter(|(op, _)| *op == operation).count())
    }

    fn tokens(r: &mut Recorded, with_refresh: bool) -> Value {
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
            "scope": "read",
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
                        "https://idp.example/authorize?client_id=c&state={}&redirect_uri={}",
                        body["state"].as_str().unwrap(),
                        url::form_urlencoded::byte_serialize(body["redirect_uri"].as_str().unwrap().as_bytes()).collect::<String>(),
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
                Operation::Nickname => Ok(json!({ "nickname": "<b>ann</b>@tracker" })),
                Operation::Revoke => Ok(json!({ "revoked": true })),
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

struct Setup {
    h: Harness,
    server: Server,
    user: User,
    session: SecretString,
    provider: Arc<Recorder>,
    clock: Arc<ManualClock>,
}

fn settings() -> RefreshSettings {
    RefreshSettings {
        background_interval: None,
        ..RefreshSettings::default()
    }
}

impl Setup {
    async fn new(expires_in: Option<i64>) -> Self {
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
    fn instance(&self, settings: RefreshSettings) -> Connections {
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
    async fn start(&self, c: &Connections, user: &User, session: &SecretString) -> String {
        let url = c
            .start(user.id, session, &self.server, "tracker")
            .await
            .unwrap();
        url.query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .unwrap()
    }

    async fn connect(&self, c: &Connections) {
        let state = self.start(c, &self.user, &self.session).await;
        let connected = c
            .finish(
                self.user.id,
                &self.session,
                callback(&state, Some("the-code")),
            )
            .await
            .unwrap();
        assert_eq!(connected.nickname, "<b>ann</b>@tracker");
    }

    async fn token(&self, c: &Connections) -> Result<String, TokenError> {
        c.access_token(self.user.id, self.server.id, "tracker")
            .await
            .map(|t| t.expose_secret().to_owned())
    }

    async fn stored(&self) -> gumstack_platform::store::Connection {
        self.h
            .platform
            .state
            .store
            .connection(self.user.id, self.server.id, "tracker")
            .await
            .unwrap()
    }
}

fn callback(state: &str, code: Option<&str>) -> CallbackQuery {
    CallbackQuery {
        state: Some(state.to_owned()),
        code: code.map(str::to_owned),
        ..CallbackQuery::default()
    }
}

#[tokio::test]
async fn a_fresh_token_is_handed_out_without_calling_the_provider() {
    let s = Setup::new(Some(3600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    for _ in 0..5 {
        assert_eq!(s.token(&c).await.unwrap(), "access-0");
    }
    assert_eq!(s.provider.count(Operation::Refresh), 0);
    let stored = s.stored().await;
    assert_eq!(stored.status, ConnectionStatus::Active);
    assert_eq!(stored.scope.as_deref(), Some("read"));
    // Sealed: the token is not in the row in the clear.
    assert!(
        !stored
            .access_ciphertext
            .windows(8)
            .any(|w| w == b"access-0")
    );
}

#[tokio::test]
async fn many_callers_of_an_expired_token_cause_one_refresh() {
    let s = Setup::new(Some(3600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    s.provider.with(|r| r.delay = Duration::from_millis(300));
    s.clock.advance(3601);
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let c = c.clone();
            let (user, server) = (s.user.id, s.server.id);
            tokio::spawn(async move { c.access_token(user, server, "tracker").await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().expose_secret(), "access-1");
    }
    assert_eq!(s.provider.refreshes(), ["refresh-0"]);
}

#[tokio::test]
async fn two_platform_instances_on_one_store_refresh_once() {
    let s = Setup::new(Some(3600)).await;
    let a = s.instance(settings());
    let b = s.instance(settings());
    s.connect(&a).await;
    s.provider.with(|r| r.delay = Duration::from_millis(500));
    s.clock.advance(3601);
    let calls: Vec<_> = (0..40)
        .map(|i| {
            let c = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (user, server) = (s.user.id, s.server.id);
            tokio::spawn(async move { c.access_token(user, server, "tracker").await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().expose_secret(), "access-1");
    }
    assert_eq!(s.provider.refreshes(), ["refresh-0"]);
    assert_eq!(s.provider.with(|r| r.reused), 0);
}

#[tokio::test]
async fn a_rotated_refresh_token_is_used_next_time_and_the_old_one_never_again() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    for expected in ["access-1", "access-2", "access-3"] {
        s.clock.advance(601);
        assert_eq!(s.token(&c).await.unwrap(), expected);
    }
    assert_eq!(
        s.provider.refreshes(),
        ["refresh-0", "refresh-1", "refresh-2"]
    );
    assert_eq!(s.provider.with(|r| r.reused), 0);
}

#[tokio::test]
async fn a_refresh_reply_without_a_refresh_token_keeps_the_old_one() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    s.provider.with(|r| r.no_refresh_token_in_refresh = true);
    for expected in ["access-1", "access-2"] {
        s.clock.advance(601);
        assert_eq!(s.token(&c).await.unwrap(), expected);
    }
    assert_eq!(s.provider.refreshes(), ["refresh-0", "refresh-0"]);
}

#[tokio::test]
async fn a_token_expiring_within_the_margin_is_refreshed_before_it_is_handed_out() {
    let s = Setup::new(Some(3600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    // 3600 s token, 60 s margin: at 3530 s it is still handed out, at 3545 s refreshed first.
    s.clock.advance(3530);
    assert_eq!(s.token(&c).await.unwrap(), "access-0");
    s.clock.advance(15);
    assert_eq!(s.token(&c).await.unwrap(), "access-1");
    // A short-lived token is refreshed within half its lifetime, not at once.
    let s = Setup::new(Some(10)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    assert_eq!(s.token(&c).await.unwrap(), "access-0");
    s.clock.advance(6);
    assert_eq!(s.token(&c).await.unwrap(), "access-1");
}

#[tokio::test]
async fn invalid_grant_means_the_user_must_connect_again() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    s.provider.with(|r| {
        r.failures.push_back(ProviderFailure::Rejected {
            code: "invalid_grant".into(),
            description: None,
        })
    });
    s.clock.advance(601);
    assert!(matches!(s.token(&c).await, Err(TokenError::NeedsReauth)));
    assert_eq!(s.stored().await.status, ConnectionStatus::NeedsReauth);
    // No more attempts with a refused refresh token.
    assert!(matches!(s.token(&c).await, Err(TokenError::NeedsReauth)));
    assert_eq!(s.provider.count(Operation::Refresh), 1);
    // Connecting again replaces the tokens and the status.
    s.connect(&c).await;
    assert_eq!(s.token(&c).await.unwrap(), "access-1");
    assert_eq!(s.stored().await.status, ConnectionStatus::Active);
}

#[tokio::test]
async fn invalid_client_is_an_integration_error_and_keeps_the_tokens() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    let before = s.stored().await;
    s.provider.with(|r| {
        r.failures.push_back(ProviderFailure::Rejected {
            code: "invalid_client".into(),
            description: Some("client authentication failed".into()),
        })
    });
    s.clock.advance(601);
    let Err(TokenError::Integration { message }) = s.token(&c).await else {
        panic!("expected an integration error");
    };
    assert!(message.contains("invalid_client"), "{message}");
    assert!(message.contains("developer"), "{message}");
    let after = s.stored().await;
    assert_eq!(after.status, ConnectionStatus::Active);
    assert_eq!(after.failure_kind, Some(FailureKind::Integration));
    assert_eq!(after.access_ciphertext, before.access_ciphertext);
    assert_eq!(after.refresh_ciphertext, before.refresh_ciphertext);
    // Backing off: the next call does not hammer the provider…
    assert!(matches!(
        s.token(&c).await,
        Err(TokenError::Integration { .. })
    ));
    assert_eq!(s.provider.count(Operation::Refresh), 1);
    // …and once the developer fixed it, the kept refresh token works.
    s.clock.advance(61);
    assert_eq!(s.token(&c).await.unwrap(), "access-1");
    assert_eq!(s.provider.refreshes(), ["refresh-0", "refresh-0"]);
    assert_eq!(s.stored().await.failure_kind, None);
}

#[tokio::test]
async fn transient_failures_back_off_exponentially_and_keep_the_tokens() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    let unavailable = || ProviderFailure::Transport {
        status: Some(503),
        retry_after: None,
        message: "503".into(),
    };
    s.provider.with(|r| {
        r.failures.push_back(unavailable());
        r.failures.push_back(unavailable());
    });
    s.clock.advance(601);
    let Err(TokenError::Transient { retry_after, .. }) = s.token(&c).await else {
        panic!("expected a transient error");
    };
    assert_eq!(retry_after, Some(2));
    // Within the backoff: no provider call.
    assert!(matches!(
        s.token(&c).await,
        Err(TokenError::Transient { .. })
    ));
    assert_eq!(s.provider.count(Operation::Refresh), 1);
    s.clock.advance(2);
    let Err(TokenError::Transient { retry_after, .. }) = s.token(&c).await else {
        panic!("expected a transient error");
    };
    assert_eq!(retry_after, Some(4), "the backoff doubles");
    s.clock.advance(4);
    assert_eq!(s.token(&c).await.unwrap(), "access-1");
    assert_eq!(
        s.provider.refreshes(),
        ["refresh-0", "refresh-0", "refresh-0"]
    );
    assert_eq!(s.stored().await.failures, 0);
}

#[tokio::test]
async fn a_rate_limit_is_waited_out_as_long_as_the_provider_asked() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    s.provider.with(|r| {
        r.failures.push_back(ProviderFailure::Transport {
            status: Some(429),
            retry_after: Some(30),
            message: "429".into(),
        })
    });
    s.clock.advance(601);
    let Err(TokenError::Transient { retry_after, .. }) = s.token(&c).await else {
        panic!("expected a transient error");
    };
    assert_eq!(retry_after, Some(30));
    s.clock.advance(29);
    assert!(s.token(&c).await.is_err());
    assert_eq!(s.provider.count(Operation::Refresh), 1);
    s.clock.advance(1);
    assert_eq!(s.token(&c).await.unwrap(), "access-1");
}

#[tokio::test]
async fn a_failed_early_refresh_still_hands_out_the_valid_token() {
    let s = Setup::new(Some(3600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    s.provider.with(|r| {
        r.failures.push_back(ProviderFailure::Transport {
            status: None,
            retry_after: None,
            message: "timeout".into(),
        })
    });
    s.clock.advance(3570); // within the margin, not expired
    assert_eq!(s.token(&c).await.unwrap(), "access-0");
    assert_eq!(s.provider.count(Operation::Refresh), 1);
}

#[tokio::test]
async fn an_expired_token_without_a_refresh_token_needs_the_user() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    // The provider gave no refresh token: forget ours the way such a connection looks.
    sqlx::query("UPDATE connections SET refresh_ciphertext = NULL")
        .execute(s.h.store.pool())
        .await
        .unwrap();
    s.clock.advance(601);
    assert!(matches!(s.token(&c).await, Err(TokenError::NeedsReauth)));
    assert_eq!(s.stored().await.status, ConnectionStatus::NeedsReauth);
    assert_eq!(s.provider.count(Operation::Refresh), 0);
}

#[tokio::test]
async fn a_reported_token_is_refreshed_once_and_only_if_it_is_still_current() {
    let s = Setup::new(None).await; // no expires_in: refreshed only when reported
    let c = s.instance(settings());
    s.connect(&c).await;
    s.clock.advance(100_000);
    assert_eq!(s.token(&c).await.unwrap(), "access-0");
    let report = |token: &str| {
        let c = c.clone();
        let token = SecretString::from(token.to_owned());
        let (user, server) = (s.user.id, s.server.id);
        async move {
            c.report_invalid(user, server, "tracker", &token)
                .await
                .unwrap()
        }
    };
    assert!(!report("some-other-token").await);
    assert_eq!(s.token(&c).await.unwrap(), "access-0");
    assert!(report("access-0").await);
    assert!(!report("access-0").await, "a second report changes nothing");
    assert_eq!(s.token(&c).await.unwrap(), "access-1");
    assert!(!report("access-0").await, "a stale report changes nothing");
    assert_eq!(s.token(&c).await.unwrap(), "access-1");
    assert_eq!(s.provider.refreshes(), ["refresh-0"]);
}

#[tokio::test]
async fn the_background_refresher_renews_tokens_ahead_of_expiry() {
    let s = Setup::new(Some(3600)).await;
    let c = s.instance(RefreshSettings {
        background_interval: Some(Duration::from_secs(30)),
        ..RefreshSettings::default()
    });
    s.connect(&c).await;
    // Within the 300 s window only after 3300 s.
    s.clock.advance(3200);
    assert_eq!(c.refresh_expiring().await.unwrap(), 0);
    assert_eq!(s.provider.count(Operation::Refresh), 0);
    s.clock.advance(101);
    assert_eq!(c.refresh_expiring().await.unwrap(), 1);
    assert_eq!(s.provider.refreshes(), ["refresh-0"]);
    // The next caller gets the renewed token without waiting for a refresh.
    assert_eq!(s.token(&c).await.unwrap(), "access-1");
    assert_eq!(s.provider.count(Operation::Refresh), 1);

    // Run as a task (looking every 20 ms here): it keeps an idle connection fresh with one
    // refresh per token.
    let c = s.instance(RefreshSettings {
        background_interval: Some(Duration::from_millis(20)),
        ..RefreshSettings::default()
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(c.clone().run_refresher(async move {
        let _ = stopped.await;
    }));
    for round in 2..=4 {
        s.clock.advance(3301);
        wait_until(|| s.provider.count(Operation::Refresh) == round).await;
        // The provider answered; the renewed token is stored right after.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = s.stored().await.expires_at.unwrap() - s.clock.now();
            if left > 3000 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not renewed ({left} s left)"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    stop.send(()).unwrap();
    task.await.unwrap();
    assert_eq!(
        s.provider.refreshes(),
        ["refresh-0", "refresh-1", "refresh-2", "refresh-3"]
    );
    assert_eq!(s.provider.with(|r| r.reused), 0);
}

/// Waits (bounded) for something background work does.
async fn wait_until(done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---- The connect flow ----

#[tokio::test]
async fn a_state_is_single_use() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    let state = s.start(&c, &s.user, &s.session).await;
    c.finish(s.user.id, &s.session, callback(&state, Some("code")))
        .await
        .unwrap();
    let replay = c
        .finish(s.user.id, &s.session, callback(&state, Some("code")))
        .await;
    assert!(matches!(replay, Err(CallbackError::UnknownState)));
    assert_eq!(s.provider.count(Operation::Exchange), 1);
}

#[tokio::test]
async fn a_state_from_another_user_or_session_connects_nothing_and_is_burned() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    let (mallory, _) =
        s.h.user_with_token(
            "mallory@example.com",
            gumstack_platform::store::Role::Member,
        )
        .await;
    // Mallory's state, presented in the victim's session (login CSRF on the callback).
    let mallory_session = random_token("");
    let state = s.start(&c, &mallory, &mallory_session).await;
    let wrong_user = c
        .finish(s.user.id, &s.session, callback(&state, Some("code")))
        .await;
    assert!(matches!(wrong_user, Err(CallbackError::WrongSession)));
    // Same user, another browser session.
    let state = s.start(&c, &s.user, &s.session).await;
    let other_session = random_token("");
    let wrong_session = c
        .finish(s.user.id, &other_session, callback(&state, Some("code")))
        .await;
    assert!(matches!(wrong_session, Err(CallbackError::WrongSession)));
    // Both states are spent.
    let retry = c
        .finish(s.user.id, &s.session, callback(&state, Some("code")))
        .await;
    assert!(matches!(retry, Err(CallbackError::UnknownState)));
    assert_eq!(s.provider.count(Operation::Exchange), 0);
    assert!(c.views(s.user.id).await.unwrap().is_empty());
    assert!(c.views(mallory.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_state_expires_after_ten_minutes() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    let state = s.start(&c, &s.user, &s.session).await;
    s.clock.advance(601);
    let late = c
        .finish(s.user.id, &s.session, callback(&state, Some("code")))
        .await;
    assert!(matches!(late, Err(CallbackError::UnknownState)));
    assert_eq!(s.provider.count(Operation::Exchange), 0);
}

#[tokio::test]
async fn callbacks_without_state_or_code_or_with_an_error_connect_nothing() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    let no_state = c
        .finish(
            s.user.id,
            &s.session,
            CallbackQuery {
                code: Some("code".into()),
                ..CallbackQuery::default()
            },
        )
        .await;
    assert!(matches!(no_state, Err(CallbackError::MissingState)));
    let state = s.start(&c, &s.user, &s.session).await;
    let no_code = c
        .finish(s.user.id, &s.session, callback(&state, None))
        .await;
    assert!(matches!(no_code, Err(CallbackError::MissingCode { .. })));
    let state = s.start(&c, &s.user, &s.session).await;
    let denied = c
        .finish(
            s.user.id,
            &s.session,
            CallbackQuery {
                state: Some(state),
                error: Some("access_denied".into()),
                error_description: Some("<script>alert(1)</script>".into()),
                ..CallbackQuery::default()
            },
        )
        .await;
    let Err(error @ CallbackError::Denied { .. }) = denied else {
        panic!("expected the provider's refusal");
    };
    assert!(error.to_string().contains("access_denied"));
    assert_eq!(s.provider.count(Operation::Exchange), 0);
    assert!(c.views(s.user.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_bad_authorization_url_from_the_server_is_refused_and_starts_no_flow() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    for bad in [
        "javascript:alert(1)".to_owned(),
        "https://idp.example/authorize?state=not-ours&redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fauth%2Fcallback".to_owned(),
        "https://idp.example/authorize?redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fauth%2Fcallback".to_owned(),
    ] {
        s.provider.with(|r| r.bad_url = Some(bad.clone()));
        let refused = c.start(s.user.id, &s.session, &s.server, "tracker").await;
        assert!(matches!(refused, Err(ConnectError::Integration(_))), "{bad}");
    }
    let flows: i64 = s.h.count("SELECT COUNT(*) FROM oauth_flows").await;
    assert_eq!(flows, 0);
    // An unknown provider is refused before the server is asked.
    let asked = s.provider.count(Operation::AuthorizationUrl);
    let unknown = c.start(s.user.id, &s.session, &s.server, "other").await;
    assert!(matches!(unknown, Err(ConnectError::UnknownProvider { .. })));
    assert_eq!(s.provider.count(Operation::AuthorizationUrl), asked);
}

#[tokio::test]
async fn a_provider_without_settings_says_which_env_vars_to_set() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.provider.with(|r| r.not_configured = true);
    let Err(ConnectError::NotConfigured { missing_env, .. }) =
        c.start(s.user.id, &s.session, &s.server, "tracker").await
    else {
        panic!("expected not configured");
    };
    assert_eq!(missing_env, ["TRACKER_CLIENT_ID"]);
}

#[tokio::test]
async fn disconnect_revokes_then_deletes_the_tokens() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    assert_eq!(
        c.disconnect(s.user.id, s.server.id, "tracker")
            .await
            .unwrap(),
        Some(true)
    );
    let revoked = s.provider.with(|r| {
        r.calls
            .iter()
            .filter(|(op, _)| *op == Operation::Revoke)
            .map(|(_, body)| body.clone())
            .collect::<Vec<_>>()
    });
    assert_eq!(
        revoked,
        [json!({ "access_token": "access-0", "refresh_token": "refresh-0" })]
    );
    assert_eq!(s.h.count("SELECT COUNT(*) FROM connections").await, 0);
    assert!(matches!(s.token(&c).await, Err(TokenError::NotConnected)));
    assert_eq!(
        c.disconnect(s.user.id, s.server.id, "tracker")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_token_moved_to_another_users_row_does_not_decrypt() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    let (bob, _) =
        s.h.user_with_token("bob@example.com", gumstack_platform::store::Role::Member)
            .await;
    let bob_session = random_token("");
    let state = s.start(&c, &bob, &bob_session).await;
    c.finish(bob.id, &bob_session, callback(&state, Some("code")))
        .await
        .unwrap();
    // Copy the admin's sealed access token into Bob's row.
    sqlx::query(
        "UPDATE connections SET access_ciphertext =
             (SELECT access_ciphertext FROM connections WHERE user_id = ?)
         WHERE user_id = ?",
    )
    .bind(s.user.id.to_string())
    .bind(bob.id.to_string())
    .execute(s.h.store.pool())
    .await
    .unwrap();
    let moved = c.access_token(bob.id, s.server.id, "tracker").await;
    assert!(matches!(moved, Err(TokenError::Internal(_))), "{moved:?}");
    assert_eq!(s.token(&c).await.unwrap(), "access-0");
}

#[tokio::test]
async fn a_state_connects_only_the_server_it_was_made_for() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.h.create_server(&CONFIG.replace("Tracker", "Other Tracker"), "other")
        .await;
    let other =
        s.h.platform
            .state
            .store
            .server_by_slug("other")
            .await
            .unwrap();
    let url = c
        .start(s.user.id, &s.session, &other, "tracker")
        .await
        .unwrap();
    let state = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let connected = c
        .finish(s.user.id, &s.session, callback(&state, Some("code")))
        .await
        .unwrap();
    assert_eq!(connected.server.id, other.id);
    assert!(matches!(s.token(&c).await, Err(TokenError::NotConnected)));
    let token = c
        .access_token(s.user.id, other.id, "tracker")
        .await
        .unwrap();
    assert_eq!(token.expose_secret(), "access-0");
}

#[tokio::test]
async fn a_caller_that_goes_away_mid_refresh_does_not_lose_the_rotated_token() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    s.provider.with(|r| r.delay = Duration::from_millis(300));
    s.clock.advance(601);
    let (user, server) = (s.user.id, s.server.id);
    let caller = {
        let c = c.clone();
        tokio::spawn(async move { c.access_token(user, server, "tracker").await })
    };
    wait_until(|| s.provider.count(Operation::Refresh) == 1).await;
    caller.abort(); // the tool's request is gone while the provider is rotating the token
    assert!(caller.await.unwrap_err().is_cancelled());
    assert_eq!(s.token(&c).await.unwrap(), "access-1");
    s.clock.advance(601);
    assert_eq!(s.token(&c).await.unwrap(), "access-2");
    assert_eq!(s.provider.refreshes(), ["refresh-0", "refresh-1"]);
    assert_eq!(s.provider.with(|r| r.reused), 0);
}

#[tokio::test]
async fn a_user_cannot_pile_up_connect_flows() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    for _ in 0..20 {
        s.start(&c, &s.user, &s.session).await;
    }
    let refused = c.start(s.user.id, &s.session, &s.server, "tracker").await;
    assert!(
        matches!(refused, Err(ConnectError::Unavailable(_))),
        "{refused:?}"
    );
    assert_eq!(s.h.count("SELECT COUNT(*) FROM oauth_flows").await, 20);
    // Expired flows make room again.
    s.clock.advance(601);
    s.start(&c, &s.user, &s.session).await;
    assert_eq!(s.h.count("SELECT COUNT(*) FROM oauth_flows").await, 1);
}
