//! The OAuth provider routes the platform calls (docs/PROTOCOL.md §4): each operation reaches
//! the registered provider and its answer (or error) comes back as the protocol says; calls the
//! platform did not sign for this server, route and body are refused with 401 before any
//! provider code runs.

mod common;

use std::time::Duration;

use common::provider_recorder::{
    EXCHANGE, EXCHANGE_BODY, Recorder, json_of, post, refused, server,
};
use common::{OAUTH_CONFIG, TestServer, local_env};
use gumstack::{
    Config, GumstackHost, HostError,
    auth::{AuthProvider, ProviderError, TokenResponse},
    testing::TestPlatform,
};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

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
