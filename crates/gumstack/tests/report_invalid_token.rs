//! `report_invalid_token` tells the platform that the provider rejected a token it handed out
//! (docs/PROTOCOL.md §3.1), here the stand-in `TestPlatform`; and the platform's `oauth`
//! answers `integration_error` / `retry_later` become errors saying what to do.

mod common;

use common::{
    CRED_CONFIG, OAUTH_CONFIG, TWO_PROVIDERS_CONFIG, TestServer, call_text, local_env, name,
};
use gumstack::testing::{CredentialsReply, InvalidTokenReport, TestPlatform};
use serde_json::{Value, json};

/// Serves `config` in production for `platform`, calls `tool` with `arguments` as the
/// platform's test user; the tool's text with whether it is an error, and the identity used.
async fn call_as_user(
    platform: &TestPlatform,
    config: &str,
    tool: &str,
    arguments: Value,
) -> (bool, String, String) {
    let server = TestServer::start(config, platform.env(&[])).await;
    let identity = platform.identity();
    let client = server.client_with_identity(&identity).await;
    let (is_error, text) = call_text(&client, tool, arguments).await;
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
    (is_error, text, identity)
}

#[tokio::test]
async fn the_rejected_token_is_reported_with_the_calls_identity() {
    let platform = TestPlatform::start().await;
    let (is_error, text, identity) = call_as_user(
        &platform,
        OAUTH_CONFIG,
        "report_token",
        json!({ "token": "at-rejected" }),
    )
    .await;
    assert_eq!((is_error, text.as_str()), (false, "reported"));
    assert_eq!(
        platform.invalid_token_reports(),
        [InvalidTokenReport {
            authorization: Some(format!("Bearer {}", platform.server_token())),
            identity: Some(identity),
            call: Some(common::TEST_CALL.to_owned()),
            // One provider: it need not be named.
            body: json!({ "access_token": "at-rejected" }),
        }]
    );
}

#[tokio::test]
async fn a_named_provider_is_sent() {
    let platform = TestPlatform::start().await;
    let (is_error, text, _) = call_as_user(
        &platform,
        TWO_PROVIDERS_CONFIG,
        "report_token",
        json!({ "provider": "github-app", "token": "at-1" }),
    )
    .await;
    assert!(!is_error, "{text}");
    assert_eq!(
        platform.invalid_token_reports()[0].body,
        json!({ "provider": "github-app", "access_token": "at-1" })
    );
}

#[tokio::test]
async fn after_a_report_the_next_fetch_gets_the_refreshed_token() {
    let platform = TestPlatform::start().await;
    platform.reply_credentials(CredentialsReply::credentials(
        json!({ "access_token": "at-old" }),
    ));
    platform.reply_credentials_after_report(CredentialsReply::credentials(
        json!({ "access_token": "at-new" }),
    ));
    let server = TestServer::start(OAUTH_CONFIG, platform.env(&[])).await;
    let client = server.client_with_identity(&platform.identity()).await;
    assert_eq!(
        call_text(&client, "async_credential", name("access_token")).await,
        (false, "at-old".to_owned())
    );
    let (is_error, _) = call_text(&client, "report_token", json!({ "token": "at-old" })).await;
    assert!(!is_error);
    assert_eq!(
        call_text(&client, "async_credential", name("access_token")).await,
        (false, "at-new".to_owned())
    );
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_integration_error_is_misconfiguration_with_the_platforms_message() {
    let platform = TestPlatform::start().await;
    let message =
        "Linear refused this server's client (invalid_client): check LINEAR_CLIENT_SECRET.";
    platform.reply_reports(CredentialsReply::integration_error(message));
    let (is_error, text, _) = call_as_user(
        &platform,
        OAUTH_CONFIG,
        "report_token",
        json!({ "token": "at-1" }),
    )
    .await;
    assert!(is_error, "{text}");
    assert_eq!(text, format!("server misconfigured: {message}"));

    // The same answer to a fetch means the same.
    platform.reply_credentials(CredentialsReply::integration_error(message));
    let (is_error, text, _) = call_as_user(
        &platform,
        OAUTH_CONFIG,
        "async_credential",
        name("access_token"),
    )
    .await;
    assert!(is_error, "{text}");
    assert_eq!(text, format!("server misconfigured: {message}"));
}

#[tokio::test]
async fn retry_later_means_retry_later() {
    let platform = TestPlatform::start().await;
    platform.reply_reports(CredentialsReply::retry_later());
    let (is_error, text, _) = call_as_user(
        &platform,
        OAUTH_CONFIG,
        "report_token",
        json!({ "token": "at-1" }),
    )
    .await;
    assert!(is_error, "{text}");
    assert!(text.ends_with("Please try again later."), "{text}");
    assert!(!text.contains("at-1"), "{text}");
}

#[tokio::test]
async fn what_cannot_be_reported_says_why() {
    let platform = TestPlatform::start().await;
    let cases = [
        (
            TWO_PROVIDERS_CONFIG,
            json!({ "token": "at-1" }),
            "name the provider",
        ),
        (
            OAUTH_CONFIG,
            json!({ "provider": "github", "token": "at-1" }),
            "provider `github` is not declared",
        ),
        (
            CRED_CONFIG,
            json!({ "token": "at-1" }),
            "for servers with auth type `oauth`",
        ),
    ];
    for (config, arguments, expected) in cases {
        let (is_error, text, _) = call_as_user(&platform, config, "report_token", arguments).await;
        assert!(is_error, "{text}");
        assert!(text.contains(expected), "{expected:?} in {text:?}");
    }
    assert!(platform.invalid_token_reports().is_empty());
}

#[tokio::test]
async fn local_mode_says_which_variable_to_renew() {
    let server =
        TestServer::start(OAUTH_CONFIG, local_env(&[("LOCAL_ACCESS_TOKEN", "at-1")])).await;
    let client = server.client().await;
    let (is_error, text) = call_text(&client, "report_token", json!({ "token": "at-1" })).await;
    assert!(is_error, "{text}");
    assert!(text.contains("LOCAL_ACCESS_TOKEN"), "{text}");
    assert!(!text.contains("at-1"), "{text}");
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
}
