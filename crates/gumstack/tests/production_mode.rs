//! A host in production mode (`ENVIRONMENT=production`), as the platform runs it: calls carry
//! the identity a (stand-in) platform signed, sent by a real rmcp client.

mod common;

use common::{NONE_CONFIG, TestServer, call_text, name};
use gumstack::testing::TestPlatform;
use serde_json::json;

#[tokio::test]
async fn the_verified_identity_is_the_tools_caller() {
    let platform = TestPlatform::start().await;
    let server = TestServer::start(NONE_CONFIG, platform.env(&[])).await;
    let claims = platform.claims();
    let client = server
        .client_with_identity(&platform.key().sign(&claims))
        .await;
    let user_id = claims["sub"].as_str().unwrap();
    assert_eq!(
        call_text(&client, "whoami", json!({})).await,
        (false, format!("{user_id} <ada@example.com>"))
    );
    assert_eq!(
        call_text(&client, "whoami_in_gumstack_spawn", json!({})).await,
        (false, user_id.to_owned())
    );
    let (is_error, text) = call_text(&client, "whoami_in_tokio_spawn", json!({})).await;
    assert!(is_error, "{text}");
    assert!(text.contains("no authentication context"), "{text}");
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
}

#[tokio::test]
async fn credentials_come_from_the_developers_variables() {
    let platform = TestPlatform::start().await;
    let env = platform.env(&[("GREETING", "Bonjour"), ("LOCAL_GREETING", "local value")]);
    let server = TestServer::start(NONE_CONFIG, env).await;
    let client = server.client_with_identity(&platform.identity()).await;
    for tool in ["sync_credential", "async_credential"] {
        assert_eq!(
            call_text(&client, tool, name("greeting")).await,
            (false, "Bonjour".to_owned()),
            "{tool}"
        );
    }
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_missing_required_credential_says_to_set_it_on_the_platform() {
    let platform = TestPlatform::start().await;
    let server = TestServer::start(NONE_CONFIG, platform.env(&[])).await;
    let client = server.client_with_identity(&platform.identity()).await;
    let (is_error, text) = call_text(&client, "async_credential", name("greeting")).await;
    assert!(is_error, "{text}");
    assert!(text.contains("GREETING"), "{text}");
    assert!(!text.contains("LOCAL_GREETING"), "{text}");
    assert!(text.contains("Gumstack platform"), "{text}");
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
}

#[tokio::test]
async fn the_server_token_is_not_a_credential() {
    let config = "\
name: Test
auth:
  type: none
  credentials:
    - name: gumstack_server_token
      label: Token
";
    let platform = TestPlatform::start().await;
    let env = platform.env(&[("GUMSTACK_SERVER_TOKEN", "tok-secret")]);
    let server = TestServer::start(config, env).await;
    let client = server.client_with_identity(&platform.identity()).await;
    let (is_error, text) =
        call_text(&client, "sync_credential", name("gumstack_server_token")).await;
    assert!(is_error, "{text}");
    assert!(!text.contains("tok-secret"), "{text}");
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
}
