//! Production `cred` and `oauth` servers fetch the calling user's credentials from the platform
//! (docs/PROTOCOL.md §3), here the stand-in `TestPlatform`: what the SDK sends, and what each
//! answer becomes in the tool result a real rmcp client receives.

mod common;

use common::{CRED_CONFIG, OAUTH_CONFIG, TWO_PROVIDERS_CONFIG, TestServer, call_text, env, name};
use gumstack::testing::{CredentialsReply, CredentialsRequest, TestPlatform};
use serde_json::json;

/// A `cred` server with a required and an optional field.
const KEY_AND_REGION_CONFIG: &str = "\
name: Test
auth:
  type: cred
  credentials:
    - name: api_key
      label: API key
      secret: true
    - name: region
      label: Region
      required: false
";

/// Serves `config` in production for `platform`, calls `tool` with `arguments` as the
/// platform's test user, and returns the tool's text with whether it is an error.
async fn call_as_user(
    platform: &TestPlatform,
    config: &str,
    tool: &str,
    arguments: serde_json::Value,
) -> (bool, String) {
    let server = TestServer::start(config, platform.env(&[])).await;
    let client = server.client_with_identity(&platform.identity()).await;
    let result = call_text(&client, tool, arguments).await;
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
    result
}

/// Asserts that `text` repeats none of the secrets of `platform`'s calls.
fn assert_no_secrets(platform: &TestPlatform, text: &str) {
    assert!(!text.contains(platform.server_token()), "{text}");
    for request in platform.credentials_requests() {
        if let Some(identity) = request.identity {
            assert!(!text.contains(&identity), "{text}");
        }
    }
}

#[tokio::test]
async fn cred_values_come_from_the_platform_for_the_call_being_served() {
    let platform = TestPlatform::start().await;
    platform.reply_credentials(CredentialsReply::credentials(
        json!({ "api_key": "sk-live-1234", "region": null }),
    ));
    let server = TestServer::start(KEY_AND_REGION_CONFIG, platform.env(&[])).await;
    let identity = platform.identity();
    let client = server.client_with_identity(&identity).await;

    assert_eq!(
        call_text(&client, "async_credential", name("api_key")).await,
        (false, "sk-live-1234".to_owned())
    );
    // The request carried the deployment's token and the call's identity, unchanged.
    assert_eq!(
        platform.credentials_requests(),
        vec![CredentialsRequest {
            authorization: Some(format!("Bearer {}", platform.server_token())),
            identity: Some(identity.clone()),
            call: Some(common::TEST_CALL.to_owned()),
            query: None,
        }]
    );

    // An optional value the user left empty is not set, and says why.
    let (is_error, text) = call_text(&client, "async_credential", name("region")).await;
    assert!(is_error, "{text}");
    assert!(text.contains("credential `region` is not set"), "{text}");
    assert!(
        text.contains("the platform's answer has no value"),
        "{text}"
    );
    // Nothing is cached: every call asks again.
    assert_eq!(platform.credentials_requests().len(), 2);
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
}

#[tokio::test]
async fn each_call_forwards_its_own_identity() {
    let platform = TestPlatform::start().await;
    platform.reply_credentials(CredentialsReply::credentials(json!({ "api_key": "sk-1" })));
    let server = TestServer::start(CRED_CONFIG, platform.env(&[])).await;
    let mut sent = Vec::new();
    for user in ["ada", "grace"] {
        let mut claims = platform.claims();
        claims["sub"] = json!(user);
        let identity = platform.key().sign(&claims);
        let client = server.client_with_identity(&identity).await;
        let (is_error, text) = call_text(&client, "async_credential", name("api_key")).await;
        assert!(!is_error, "{text}");
        client.cancel().await.unwrap();
        sent.push(Some(identity));
    }
    let forwarded: Vec<_> = platform
        .credentials_requests()
        .into_iter()
        .map(|request| request.identity)
        .collect();
    assert_eq!(forwarded, sent);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn oauth_access_tokens_come_from_the_platform() {
    let platform = TestPlatform::start().await;
    platform.reply_credentials(CredentialsReply::credentials(
        json!({ "access_token": "lin_live" }),
    ));
    let server = TestServer::start(OAUTH_CONFIG, platform.env(&[])).await;
    let client = server.client_with_identity(&platform.identity()).await;
    assert_eq!(
        call_text(&client, "async_credential", name("access_token")).await,
        (false, "lin_live".to_owned())
    );
    let args = json!({ "provider": "linear", "name": "access_token" });
    assert_eq!(
        call_text(&client, "provider_credential", args).await,
        (false, "lin_live".to_owned())
    );
    // get_credentials() lets the platform pick the server's one provider;
    // get_credentials_for() names it.
    let queries: Vec<_> = platform
        .credentials_requests()
        .into_iter()
        .map(|request| request.query)
        .collect();
    assert_eq!(queries, vec![None, Some("provider=linear".to_owned())]);
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
}

#[tokio::test]
async fn several_providers_ask_for_the_named_one() {
    let platform = TestPlatform::start().await;
    platform.reply_credentials(CredentialsReply::credentials(
        json!({ "access_token": "gh" }),
    ));
    let args = json!({ "provider": "github-app", "name": "access_token" });
    assert_eq!(
        call_as_user(&platform, TWO_PROVIDERS_CONFIG, "provider_credential", args).await,
        (false, "gh".to_owned())
    );
    let requests = platform.credentials_requests();
    assert_eq!(requests[0].query.as_deref(), Some("provider=github-app"));
}

#[tokio::test]
async fn missing_credentials_are_a_tool_error_with_the_connect_url() {
    for config in [CRED_CONFIG, OAUTH_CONFIG] {
        // The stand-in platform's default answer: 409 credentials_required.
        let platform = TestPlatform::start().await;
        let (is_error, text) =
            call_as_user(&platform, config, "async_credential", name("api_key")).await;
        assert!(is_error, "{text}");
        assert_eq!(
            text,
            format!(
                "You have not entered your credentials for Test yet. Connect your account at {}",
                platform.connect_url()
            )
        );
    }
    let platform = TestPlatform::start().await;
    let url = "https://gumstack.example/connect/linear?server=1&provider=linear";
    platform.reply_credentials(CredentialsReply::required(url, "Reconnect Linear."));
    let (is_error, text) = call_as_user(
        &platform,
        OAUTH_CONFIG,
        "async_credential",
        name("access_token"),
    )
    .await;
    assert!(is_error, "{text}");
    assert!(text.contains(url), "{text}");
    assert_no_secrets(&platform, &text);
}

#[tokio::test]
async fn not_supported_is_a_misconfiguration() {
    let platform = TestPlatform::start().await;
    platform.reply_credentials(CredentialsReply::not_supported());
    let (is_error, text) =
        call_as_user(&platform, CRED_CONFIG, "async_credential", name("api_key")).await;
    assert!(is_error, "{text}");
    assert!(text.starts_with("server misconfigured: "), "{text}");
    assert!(text.contains("auth type"), "{text}");
}

#[tokio::test]
async fn a_refused_server_token_is_a_misconfiguration_that_says_so() {
    let platform = TestPlatform::start().await;
    platform.reply_credentials(CredentialsReply::credentials(json!({ "api_key": "sk-1" })));
    // The stand-in platform answers 401 invalid_server_token to any other token.
    let server = TestServer::start(
        CRED_CONFIG,
        platform.env(&[("GUMSTACK_SERVER_TOKEN", "gst_stale")]),
    )
    .await;
    let client = server.client_with_identity(&platform.identity()).await;
    let (is_error, text) = call_text(&client, "async_credential", name("api_key")).await;
    assert!(is_error, "{text}");
    assert!(text.starts_with("server misconfigured: "), "{text}");
    assert!(text.contains("GUMSTACK_SERVER_TOKEN"), "{text}");
    assert!(
        !text.contains("gst_stale") && !text.contains("sk-1"),
        "{text}"
    );
    assert_eq!(
        platform.credentials_requests()[0].authorization.as_deref(),
        Some("Bearer gst_stale")
    );
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_refused_identity_is_a_misconfiguration_that_says_so() {
    let platform = TestPlatform::start().await;
    platform.reply_credentials(CredentialsReply::unauthorized("invalid_identity"));
    let (is_error, text) =
        call_as_user(&platform, CRED_CONFIG, "async_credential", name("api_key")).await;
    assert!(is_error, "{text}");
    assert!(text.starts_with("server misconfigured: "), "{text}");
    assert!(text.contains("Gumstack-Identity"), "{text}");
    assert_no_secrets(&platform, &text);
}

#[tokio::test]
async fn without_a_server_token_nothing_is_fetched() {
    let platform = TestPlatform::start().await;
    let vars = [
        ("ENVIRONMENT", "production"),
        ("PORT", "4100"),
        ("GUMSTACK_SERVER_ID", platform.server_id()),
        ("GUMSTACK_BACKEND_URL", platform.backend_url()),
    ];
    let server = TestServer::start(CRED_CONFIG, env(&vars)).await;
    let client = server.client_with_identity(&platform.identity()).await;
    let (is_error, text) = call_text(&client, "async_credential", name("api_key")).await;
    assert!(is_error, "{text}");
    assert!(text.contains("GUMSTACK_SERVER_TOKEN is not set"), "{text}");
    assert!(platform.credentials_requests().is_empty());
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_unavailable_platform_means_retry_later() {
    for (reply, says) in [
        (CredentialsReply::retry_later(), "cannot provide"),
        (CredentialsReply::raw(500, "oops"), "failed to provide"),
        (CredentialsReply::raw(502, ""), "failed to provide"),
        (
            CredentialsReply::broken_connection(),
            "could not be reached",
        ),
    ] {
        let platform = TestPlatform::start().await;
        platform.reply_credentials(reply.clone());
        let (is_error, text) =
            call_as_user(&platform, CRED_CONFIG, "async_credential", name("api_key")).await;
        assert!(is_error, "{reply:?}: {text}");
        assert!(text.contains(says), "{reply:?}: {text}");
        assert!(
            text.ends_with("Please try again later."),
            "{reply:?}: {text}"
        );
    }
}

#[tokio::test]
async fn an_unreadable_answer_means_retry_later() {
    let no_url = json!({ "error": { "code": "credentials_required", "message": "Connect" } });
    let bad_url = json!({ "error": {
        "code": "credentials_required", "message": "Connect", "connect_url": "javascript:alert(1)",
    }});
    for reply in [
        CredentialsReply::raw(200, "<html>sk-leaked</html>"),
        CredentialsReply::raw(200, r#"{"api_key": "sk-leaked"}"#),
        CredentialsReply::raw(200, r#"{"credentials": ["sk-leaked"]}"#),
        CredentialsReply::raw(200, r#"{"credentials": {"api_key": 1234}}"#),
        CredentialsReply::raw(409, no_url.to_string()),
        CredentialsReply::raw(409, bad_url.to_string()),
        CredentialsReply::raw(302, ""),
    ] {
        let platform = TestPlatform::start().await;
        platform.reply_credentials(reply.clone());
        let (is_error, text) =
            call_as_user(&platform, CRED_CONFIG, "async_credential", name("api_key")).await;
        assert!(is_error, "{reply:?}: {text}");
        assert_eq!(
            text,
            "The Gumstack platform's answer with your credentials for this server could not be \
             read. Please try again later.",
            "{reply:?}"
        );
    }
}

#[tokio::test]
async fn the_platforms_own_identity_lists_tools_but_gets_no_credentials() {
    let platform = TestPlatform::start().await;
    let server = TestServer::start(CRED_CONFIG, platform.env(&[])).await;
    // The identity the platform lists tools with at deployment (docs/PROTOCOL.md §2.1).
    let mut claims = platform.claims();
    for claim in ["sub", "grp", "cid"] {
        claims[claim] = json!("gumstack:platform");
    }
    claims["email"] = json!("platform@gumstack.invalid");
    let client = server
        .client_with_identity(&platform.key().sign(&claims))
        .await;
    let tools = client.list_all_tools().await.expect("tools/list answers");
    assert!(tools.iter().any(|tool| tool.name == "async_credential"));

    let (is_error, text) = call_text(&client, "async_credential", name("api_key")).await;
    assert!(is_error, "{text}");
    assert!(
        text.contains("this call comes from the Gumstack platform itself"),
        "{text}"
    );
    assert!(
        platform.credentials_requests().is_empty(),
        "nothing was asked of the platform"
    );
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
}
