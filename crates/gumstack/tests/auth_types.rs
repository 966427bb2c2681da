//! What the credential functions do for `oauth` and `cred` servers in local mode (production:
//! `platform_credentials.rs`).

mod common;

use common::{
    CRED_CONFIG, OAUTH_CONFIG, TWO_PROVIDERS_CONFIG, TestServer, call_text, local_env, name,
};
use serde_json::json;

#[tokio::test]
async fn get_credentials_sync_refuses_oauth_and_cred_servers() {
    for config in [OAUTH_CONFIG, CRED_CONFIG] {
        let server = TestServer::start(config, local_env(&[])).await;
        let client = server.client().await;
        let (is_error, text) = call_text(&client, "sync_credential", name("api_key")).await;
        assert!(is_error, "{text}");
        assert!(text.contains("get_credentials().await"), "{text}");
        client.cancel().await.unwrap();
        server.stop().await.unwrap();
    }
}

#[tokio::test]
async fn local_oauth_reads_local_access_token() {
    let env = local_env(&[("LOCAL_ACCESS_TOKEN", "lin_tok")]);
    let server = TestServer::start(OAUTH_CONFIG, env).await;
    let client = server.client().await;
    assert_eq!(
        call_text(&client, "async_credential", name("access_token")).await,
        (false, "lin_tok".to_owned())
    );
    let args = json!({ "provider": "linear", "name": "access_token" });
    assert_eq!(
        call_text(&client, "provider_credential", args).await,
        (false, "lin_tok".to_owned())
    );
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
}

#[tokio::test]
async fn several_providers_need_get_credentials_for() {
    let env = local_env(&[("LOCAL_GITHUB_APP_ACCESS_TOKEN", "gh_tok")]);
    let server = TestServer::start(TWO_PROVIDERS_CONFIG, env).await;
    let client = server.client().await;
    let (is_error, text) = call_text(&client, "async_credential", name("access_token")).await;
    assert!(is_error, "{text}");
    assert!(text.contains("get_credentials_for(provider)"), "{text}");
    let args = json!({ "provider": "github-app", "name": "access_token" });
    assert_eq!(
        call_text(&client, "provider_credential", args).await,
        (false, "gh_tok".to_owned())
    );
    let args = json!({ "provider": "linear", "name": "access_token" });
    let (is_error, text) = call_text(&client, "provider_credential", args).await;
    assert!(is_error, "{text}");
    assert!(text.contains("LOCAL_LINEAR_ACCESS_TOKEN"), "{text}");
    let args = json!({ "provider": "slack", "name": "access_token" });
    let (is_error, text) = call_text(&client, "provider_credential", args).await;
    assert!(is_error, "{text}");
    assert!(text.contains("not declared"), "{text}");
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
}

#[tokio::test]
async fn local_cred_reads_local_variables() {
    let server = TestServer::start(CRED_CONFIG, local_env(&[("LOCAL_API_KEY", "sk-1")])).await;
    let client = server.client().await;
    assert_eq!(
        call_text(&client, "async_credential", name("api_key")).await,
        (false, "sk-1".to_owned())
    );
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
}
