//! A host in production mode (`ENVIRONMENT=production`), as the platform runs it.

mod common;

use common::{NONE_CONFIG, TestServer, call_text, name, production_env};
use serde_json::json;

#[tokio::test]
async fn credentials_come_from_the_developers_variables() {
    let env = production_env(&[("GREETING", "Bonjour"), ("LOCAL_GREETING", "local value")]);
    let server = TestServer::start(NONE_CONFIG, env).await;
    let client = server.client().await;
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
    let server = TestServer::start(NONE_CONFIG, production_env(&[])).await;
    let client = server.client().await;
    let (is_error, text) = call_text(&client, "async_credential", name("greeting")).await;
    assert!(is_error, "{text}");
    assert!(text.contains("GREETING"), "{text}");
    assert!(!text.contains("LOCAL_GREETING"), "{text}");
    assert!(text.contains("Gumstack platform"), "{text}");
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
}

#[tokio::test]
async fn without_a_verified_identity_there_is_no_caller() {
    let server = TestServer::start(NONE_CONFIG, production_env(&[])).await;
    let client = server.client().await;
    for tool in ["whoami", "whoami_in_gumstack_spawn"] {
        let (is_error, text) = call_text(&client, tool, json!({})).await;
        assert!(is_error, "{tool}: {text}");
        assert!(text.contains("no verified user identity"), "{text}");
    }
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
    let env = production_env(&[("GUMSTACK_SERVER_TOKEN", "tok-secret")]);
    let server = TestServer::start(config, env).await;
    let client = server.client().await;
    let (is_error, text) =
        call_text(&client, "sync_credential", name("gumstack_server_token")).await;
    assert!(is_error, "{text}");
    assert!(!text.contains("tok-secret"), "{text}");
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
}
