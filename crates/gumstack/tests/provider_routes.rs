//! The OAuth provider routes the platform calls (docs/PROTOCOL.md §4): each operation reaches
//! the registered provider and its answer (or error) comes back as the protocol says; calls the
//! platform did not sign for this server, route and body are refused with 401 before any
//! provider code runs.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use common::{OAUTH_CONFIG, TestServer, local_env};
use gumstack::{
    Config, GumstackHost, HostError,
    auth::{AuthProvider, ProviderError, TokenResponse},
    testing::{PLATFORM_CALL_HEADER, TestKey, TestPlatform},
};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

/// A provider named `linear` (the provider of [`OAUTH_CONFIG`]) that records what it was asked
/// and answers fixed values, or `fail` when set.
#[derive(Debug, Clone, Default)]
struct Recorder {
    calls: Arc<Mutex<Vec<Value>>>,
    fail: Arc<Mutex<Option<ProviderError>>>,
}

impl Recorder {
    fn record(&self, call: Value) -> Result<(), ProviderError> {
        self.calls.lock().unwrap().push(call);
        match self.fail.lock().unwrap().clone() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn calls(&self) -> Vec<Value> {
        self.calls.lock().unwrap().clone()
    }

    fn fail_with(&self, error: ProviderError) {
        *self.fail.lock().unwrap() = Some(error);
    }
}

#[async_trait::async_trait]
impl AuthProvider for Recorder {
    fn name(&self) -> &str {
        "linear"
    }

    fn get_url(&self, redirect_uri: &str, state: &str) -> String {
        format!("https://idp.example/authorize?redirect_uri={redirect_uri}&state={state}")
    }

    fn get_url_with_pkce(
        &self,
        redirect_uri: &str,
        state: &str,
        code_verifier: &str,
    ) -> Result<String, ProviderError> {
        self.record(json!({
            "op": "authorization-url",
            "redirect_uri": redirect_uri,
            "state": state,
            "code_verifier": code_verifier,
        }))?;
        Ok(self.get_url(redirect_uri, state))
    }

    async fn exchange(
        &self,
        _code: &str,
        _redirect_uri: &str,
    ) -> Result<TokenResponse, ProviderError> {
        panic!("the host calls exchange_with_pkce");
    }

    async fn exchange_with_pkce(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<TokenResponse, ProviderError> {
        self.record(json!({
            "op": "exchange",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }))?;
        Ok(TokenResponse::bearer("at-1")
            .with_refresh_token("rt-1")
            .with_expires_in(3600)
            .with_scope("read"))
    }

    async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse, ProviderError> {
        self.record(json!({ "op": "refresh", "refresh_token": refresh_token }))?;
        Ok(TokenResponse::bearer("at-2"))
    }

    async fn get_nickname(&self, access_token: &str) -> Result<String, ProviderError> {
        self.record(json!({ "op": "nickname", "access_token": access_token }))?;
        Ok("<b>Ada</b>".to_owned())
    }

    async fn revoke(&self, access_token: &str) -> Result<bool, ProviderError> {
        self.record(json!({ "op": "revoke", "access_token": access_token }))?;
        Ok(false)
    }
}

/// A production server for `platform` with `recorder` registered.
async fn server(platform: &TestPlatform, recorder: &Recorder) -> TestServer {
    let recorder = recorder.clone();
    TestServer::start_with(OAUTH_CONFIG, platform.env(&[]), |host| {
        host.register_auth(recorder)
    })
    .await
}

/// POSTs `body` to `path` with `signature` in the platform call header; status, JSON body and
/// `Cache-Control`.
async fn post(
    server: &TestServer,
    path: &str,
    signature: Option<&str>,
    body: &str,
) -> (StatusCode, Value, Option<String>) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", server.url))
        .header("content-type", "application/json")
        .timeout(Duration::from_secs(20))
        .body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header(PLATFORM_CALL_HEADER, signature);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let cache_control = response
        .headers()
        .get("cache-control")
        .map(|value| value.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body, cache_control)
}

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

const EXCHANGE: &str = "/gumstack/providers/linear/exchange";
const EXCHANGE_BODY: &str =
    r#"{"code":"code-1","redirect_uri":"https://gumstack.test/auth/callback","code_verifier":"v"}"#;

#[tokio::test]
async fn every_operation_reaches_the_provider_and_answers_as_the_protocol_says() {
    let platform = TestPlatform::start().await;
    let recorder = Recorder::default();
    let server = server(&platform, &recorder).await;
    let redirect_uri = "https://gumstack.test/auth/callback";
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    let call = |operation: &'static str, body: Value| {
        let platform = &platform;
        let url = server.url.clone();
        async move {
            json_of(
                platform
                    .provider_call(&url, "linear", operation, &body)
                    .await,
            )
            .await
        }
    };

    let (status, body) = call(
        "authorization-url",
        json!({ "redirect_uri": redirect_uri, "state": "st-1", "code_verifier": verifier }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({ "url": format!("https://idp.example/authorize?redirect_uri={redirect_uri}&state=st-1") })
    );

    let (status, body) = call(
        "exchange",
        json!({ "code": "code-1", "redirect_uri": redirect_uri, "code_verifier": verifier }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "access_token": "at-1",
            "refresh_token": "rt-1",
            "expires_in": 3600,
            "token_type": "Bearer",
            "scope": "read",
        })
    );

    let (status, body) = call("refresh", json!({ "refresh_token": "rt-1" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "access_token": "at-2",
            "refresh_token": null,
            "expires_in": null,
            "token_type": "Bearer",
            "scope": null,
        })
    );

    let (status, body) = call("nickname", json!({ "access_token": "at-2" })).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({ "nickname": "<b>Ada</b>" }))
    );

    let (status, body) = call("revoke", json!({ "access_token": "at-2" })).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({ "revoked": false }))
    );

    assert_eq!(
        recorder.calls(),
        [
            json!({ "op": "authorization-url", "redirect_uri": redirect_uri, "state": "st-1", "code_verifier": verifier }),
            json!({ "op": "exchange", "code": "code-1", "redirect_uri": redirect_uri, "code_verifier": verifier }),
            json!({ "op": "refresh", "refresh_token": "rt-1" }),
            json!({ "op": "nickname", "access_token": "at-2" }),
            json!({ "op": "revoke", "access_token": "at-2" }),
        ]
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn answers_are_never_cached() {
    let platform = TestPlatform::start().await;
    let recorder = Recorder::default();
    let server = server(&platform, &recorder).await;
    let signature = platform.platform_call(EXCHANGE, EXCHANGE_BODY.as_bytes());
    let (status, _, cache_control) = post(&server, EXCHANGE, Some(&signature), EXCHANGE_BODY).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cache_control.as_deref(), Some("no-store"));
    server.stop().await.unwrap();
}

/// Asserts that the call is refused with 401 `invalid_platform_call` and that no provider code
/// ran; the message.
async fn refused(
    server: &TestServer,
    recorder: &Recorder,
    path: &str,
    signature: Option<&str>,
    body: &str,
) -> String {
    let before = recorder.calls().len();
    let (status, answer, _) = post(server, path, signature, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_platform_call", "{answer}");
    assert_eq!(recorder.calls().len(), before, "the provider ran");
    if let Some(signature) = signature {
        assert!(!answer.to_string().contains(signature), "{answer}");
    }
    answer["error"]["message"].as_str().unwrap().to_owned()
}

/// `platform`'s valid claims for the exchange call with `changes` applied.
fn exchange_claims(platform: &TestPlatform, changes: Value) -> Value {
    let mut claims = platform.platform_call_claims(EXCHANGE, EXCHANGE_BODY.as_bytes());
    for (name, value) in changes.as_object().unwrap() {
        match value {
            Value::Null => claims.as_object_mut().unwrap().remove(name),
            value => claims
                .as_object_mut()
                .unwrap()
                .insert(name.clone(), value.clone()),
        };
    }
    claims
}

#[tokio::test]
async fn unsigned_calls_are_refused() {
    let platform = TestPlatform::start().await;
    let recorder = Recorder::default();
    let server = server(&platform, &recorder).await;
    let message = refused(&server, &recorder, EXCHANGE, None, EXCHANGE_BODY).await;
    assert_eq!(
        message,
        "no Gumstack-Platform-Call header: only the Gumstack platform may call the provider routes"
    );
    let message = refused(
        &server,
        &recorder,
        EXCHANGE,
        Some("not-a-jws"),
        EXCHANGE_BODY,
    )
    .await;
    assert!(message.contains("not a JWS"), "{message}");
    // A caller's identity is not a platform call, even signed by the platform's key.
    let identity = platform.identity();
    let message = refused(&server, &recorder, EXCHANGE, Some(&identity), EXCHANGE_BODY).await;
    assert_eq!(
        message,
        "the platform call's typ must be gumstack-platform-call+jwt"
    );
    // Claims of a platform call signed as an identity: the typ still decides.
    let as_identity = platform.key().sign(&exchange_claims(&platform, json!({})));
    let message = refused(
        &server,
        &recorder,
        EXCHANGE,
        Some(&as_identity),
        EXCHANGE_BODY,
    )
    .await;
    assert_eq!(
        message,
        "the platform call's typ must be gumstack-platform-call+jwt"
    );
    assert!(recorder.calls().is_empty());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn calls_signed_by_another_key_or_for_another_server_are_refused() {
    let platform = TestPlatform::start().await;
    let recorder = Recorder::default();
    let server = server(&platform, &recorder).await;

    let impostor = TestKey::generate(platform.key().kid());
    let forged = impostor.sign_platform_call(&exchange_claims(&platform, json!({})));
    let message = refused(&server, &recorder, EXCHANGE, Some(&forged), EXCHANGE_BODY).await;
    assert_eq!(message, "the platform call's signature does not verify");

    let other = json!({ "aud": "gumstack:server:0b6e2f0c-3f4a-4d5e-9a7b-1c2d3e4f5a6b" });
    let signature = platform
        .key()
        .sign_platform_call(&exchange_claims(&platform, other));
    let message = refused(
        &server,
        &recorder,
        EXCHANGE,
        Some(&signature),
        EXCHANGE_BODY,
    )
    .await;
    assert_eq!(message, "the platform call was signed for another server");

    for claim in ["iss", "aud", "htm", "htu", "bh", "jti", "iat", "exp"] {
        let signature = platform
            .key()
            .sign_platform_call(&exchange_claims(&platform, json!({ claim: null })));
        let message = refused(
            &server,
            &recorder,
            EXCHANGE,
            Some(&signature),
            EXCHANGE_BODY,
        )
        .await;
        assert!(
            message.contains("incomplete or malformed"),
            "{claim}: {message}"
        );
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_call_signed_for_another_route_or_method_is_refused() {
    let platform = TestPlatform::start().await;
    let recorder = Recorder::default();
    let server = server(&platform, &recorder).await;
    let expected = "the platform call was signed for another method or route (htm, htu)";

    let signed_for_path = |path: &str| platform.platform_call(path, EXCHANGE_BODY.as_bytes());
    let signed_with = |claims: serde_json::Value| {
        platform
            .key()
            .sign_platform_call(&exchange_claims(&platform, claims))
    };
    let mis_signed = [
        // Signed for the refresh route, sent to the exchange route.
        (
            "another route",
            signed_for_path("/gumstack/providers/linear/refresh"),
        ),
        // Signed for another provider's exchange.
        (
            "another provider",
            signed_for_path("/gumstack/providers/github/exchange"),
        ),
        // htu is the path only: a query in it does not match.
        (
            "a query in htu",
            signed_with(json!({ "htu": format!("{EXCHANGE}?x=1") })),
        ),
        ("another method", signed_with(json!({ "htm": "GET" }))),
    ];
    for (case, signature) in mis_signed {
        let message = refused(
            &server,
            &recorder,
            EXCHANGE,
            Some(&signature),
            EXCHANGE_BODY,
        )
        .await;
        assert_eq!(message, expected, "{case}");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_tampered_body_is_refused_and_does_not_burn_the_call() {
    let platform = TestPlatform::start().await;
    let recorder = Recorder::default();
    let server = server(&platform, &recorder).await;
    let signature = platform.platform_call(EXCHANGE, EXCHANGE_BODY.as_bytes());
    let tampered = EXCHANGE_BODY.replace("code-1", "code-2");
    let message = refused(&server, &recorder, EXCHANGE, Some(&signature), &tampered).await;
    assert_eq!(
        message,
        "the request body is not the one the platform signed (bh)"
    );
    // Even whitespace counts: the hash is of the exact bytes.
    let reformatted = format!("{EXCHANGE_BODY} ");
    refused(&server, &recorder, EXCHANGE, Some(&signature), &reformatted).await;

    // The genuine call, sent afterwards, still goes through.
    let (status, body, _) = post(&server, EXCHANGE, Some(&signature), EXCHANGE_BODY).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(recorder.calls().len(), 1);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_replayed_call_is_refused() {
    let platform = TestPlatform::start().await;
    let recorder = Recorder::default();
    let server = server(&platform, &recorder).await;
    let signature = platform.platform_call(EXCHANGE, EXCHANGE_BODY.as_bytes());
    let (status, body, _) = post(&server, EXCHANGE, Some(&signature), EXCHANGE_BODY).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let message = refused(
        &server,
        &recorder,
        EXCHANGE,
        Some(&signature),
        EXCHANGE_BODY,
    )
    .await;
    assert_eq!(
        message,
        "the platform call was already accepted once (jti replayed)"
    );
    // The same jti signed again (other claims, another signature) is still the same call.
    let claims = exchange_claims(&platform, json!({}));
    let first = platform.key().sign_platform_call(&claims);
    assert_eq!(
        post(&server, EXCHANGE, Some(&first), EXCHANGE_BODY).await.0,
        StatusCode::OK
    );
    let mut again = claims.clone();
    again["iat"] = json!(now() - 1);
    let again = platform.key().sign_platform_call(&again);
    assert_ne!(again, first);
    refused(&server, &recorder, EXCHANGE, Some(&again), EXCHANGE_BODY).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn expired_calls_are_refused_after_the_leeway() {
    let platform = TestPlatform::start().await;
    let recorder = Recorder::default();
    let server = server(&platform, &recorder).await;
    let expired = json!({ "iat": now() - 200, "exp": now() - 100 });
    let signature = platform
        .key()
        .sign_platform_call(&exchange_claims(&platform, expired));
    let message = refused(
        &server,
        &recorder,
        EXCHANGE,
        Some(&signature),
        EXCHANGE_BODY,
    )
    .await;
    assert_eq!(message, "the platform call has expired");

    let future = json!({ "iat": now() + 300, "exp": now() + 360 });
    let signature = platform
        .key()
        .sign_platform_call(&exchange_claims(&platform, future));
    let message = refused(
        &server,
        &recorder,
        EXCHANGE,
        Some(&signature),
        EXCHANGE_BODY,
    )
    .await;
    assert!(message.contains("issued in the future"), "{message}");

    let long_lived = json!({ "iat": now(), "exp": now() + 3600 });
    let signature = platform
        .key()
        .sign_platform_call(&exchange_claims(&platform, long_lived));
    let message = refused(
        &server,
        &recorder,
        EXCHANGE,
        Some(&signature),
        EXCHANGE_BODY,
    )
    .await;
    assert!(message.contains("valid for longer"), "{message}");

    // Within the 60 s leeway a call just past its expiry is accepted.
    let skewed = json!({ "iat": now() - 90, "exp": now() - 30 });
    let signature = platform
        .key()
        .sign_platform_call(&exchange_claims(&platform, skewed));
    let (status, body, _) = post(&server, EXCHANGE, Some(&signature), EXCHANGE_BODY).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn provider_errors_are_502_with_their_kind() {
    let platform = TestPlatform::start().await;
    let recorder = Recorder::default();
    let server = server(&platform, &recorder).await;
    let cases = [
        (
            ProviderError::rejected("invalid_grant", Some("code expired".to_owned()), 400),
            json!({
                "kind": "provider",
                "code": "invalid_grant",
                "description": "code expired",
                "status": 400,
                "message": "the provider refused the request: invalid_grant (code expired) (HTTP 400)",
            }),
        ),
        (
            ProviderError::Transport {
                status: Some(429),
                retry_after: Some(Duration::from_secs(30)),
                message: "rate limited".to_owned(),
            },
            json!({ "kind": "transport", "status": 429, "retry_after": 30, "message": "rate limited" }),
        ),
        (
            ProviderError::transport("timed out"),
            json!({ "kind": "transport", "status": null, "retry_after": null, "message": "timed out" }),
        ),
        (
            ProviderError::invalid_response("no access_token"),
            json!({ "kind": "invalid_response", "message": "no access_token" }),
        ),
        (
            ProviderError::not_configured(
                "set LINEAR_CLIENT_ID",
                vec!["LINEAR_CLIENT_ID".to_owned()],
            ),
            json!({
                "kind": "not_configured",
                "message": "set LINEAR_CLIENT_ID",
                "missing_env": ["LINEAR_CLIENT_ID"],
            }),
        ),
    ];
    for (error, expected) in cases {
        recorder.fail_with(error);
        let (status, body) = json_of(
            platform
                .provider_call(
                    &server.url,
                    "linear",
                    "refresh",
                    &json!({ "refresh_token": "rt" }),
                )
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        assert_eq!(body, json!({ "error": expected }));
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_providers_operations_and_bodies_are_answered_after_the_signature() {
    let platform = TestPlatform::start().await;
    let recorder = Recorder::default();
    let server = server(&platform, &recorder).await;

    let (status, body) = json_of(
        platform
            .provider_call(
                &server.url,
                "github",
                "refresh",
                &json!({ "refresh_token": "rt" }),
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["kind"], "unknown_provider");

    let (status, body) = json_of(
        platform
            .provider_call(&server.url, "linear", "introspect", &json!({}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["kind"], "unknown_operation");

    let (status, body) = json_of(
        platform
            .provider_call(&server.url, "linear", "refresh", &json!({ "token": "rt" }))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["kind"], "invalid_request");

    // Unsigned, an unknown provider is refused like any other call: nothing is revealed.
    let path = "/gumstack/providers/github/refresh";
    refused(&server, &recorder, path, None, "{}").await;
    assert!(recorder.calls().is_empty());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn bodies_over_64_kib_are_refused() {
    let platform = TestPlatform::start().await;
    let recorder = Recorder::default();
    let server = server(&platform, &recorder).await;
    let body = json!({ "refresh_token": "r".repeat(64 * 1024) }).to_string();
    let path = "/gumstack/providers/linear/refresh";
    let signature = platform.platform_call(path, body.as_bytes());
    let (status, answer, _) = post(&server, path, Some(&signature), &body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert!(recorder.calls().is_empty());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn local_mode_does_not_serve_the_provider_routes() {
    let platform = TestPlatform::start().await;
    let recorder = Recorder::default();
    let provider = recorder.clone();
    let server = TestServer::start_with(OAUTH_CONFIG, local_env(&[]), |host| {
        host.register_auth(provider)
    })
    .await;
    let response = platform
        .provider_call(
            &server.url,
            "linear",
            "refresh",
            &json!({ "refresh_token": "rt" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(recorder.calls().is_empty());
    server.stop().await.unwrap();
}

#[test]
fn two_providers_with_one_name_or_a_bad_name_do_not_start() {
    let config = Config::parse(OAUTH_CONFIG).unwrap();
    let error = GumstackHost::new(config.clone(), common::Probe::default())
        .with_env(local_env(&[]))
        .register_auth(Recorder::default())
        .register_auth(Recorder::default())
        .router()
        .unwrap_err();
    assert!(
        matches!(&error, HostError::DuplicateProvider { name } if name == "linear"),
        "{error:?}"
    );
    assert!(error.to_string().contains("\"linear\""), "{error}");

    #[derive(Debug)]
    struct BadName;
    #[async_trait::async_trait]
    impl AuthProvider for BadName {
        fn name(&self) -> &str {
            "Linear/EU"
        }
        fn get_url(&self, _: &str, _: &str) -> String {
            String::new()
        }
        async fn exchange(&self, _: &str, _: &str) -> Result<TokenResponse, ProviderError> {
            Err(ProviderError::transport("unused"))
        }
        async fn refresh(&self, _: &str) -> Result<TokenResponse, ProviderError> {
            Err(ProviderError::transport("unused"))
        }
        async fn get_nickname(&self, _: &str) -> Result<String, ProviderError> {
            Err(ProviderError::transport("unused"))
        }
    }
    let error = GumstackHost::new(config, common::Probe::default())
        .with_env(local_env(&[]))
        .register_auth(BadName)
        .router()
        .unwrap_err();
    assert!(
        matches!(error, HostError::InvalidProviderName { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_default_pkce_methods_ignore_the_verifier() {
    /// A provider written before PKCE: only the original methods.
    struct Legacy;
    #[async_trait::async_trait]
    impl AuthProvider for Legacy {
        fn name(&self) -> &str {
            "legacy"
        }
        fn get_url(&self, redirect_uri: &str, state: &str) -> String {
            format!("https://idp.example/a?redirect_uri={redirect_uri}&state={state}")
        }
        async fn exchange(&self, code: &str, _: &str) -> Result<TokenResponse, ProviderError> {
            Ok(TokenResponse::bearer(format!("for-{code}")))
        }
        async fn refresh(&self, _: &str) -> Result<TokenResponse, ProviderError> {
            Err(ProviderError::transport("unused"))
        }
        async fn get_nickname(&self, _: &str) -> Result<String, ProviderError> {
            Err(ProviderError::transport("unused"))
        }
    }
    let provider: Box<dyn AuthProvider> = Box::new(Legacy);
    assert_eq!(
        provider
            .get_url_with_pkce("https://cb", "s", "verifier")
            .unwrap(),
        "https://idp.example/a?redirect_uri=https://cb&state=s"
    );
    let tokens = provider
        .exchange_with_pkce("c1", "https://cb", "verifier")
        .await
        .unwrap();
    assert_eq!(tokens.access_token.expose_secret(), "for-c1");
    assert!(provider.revoke("at").await.unwrap());
}
