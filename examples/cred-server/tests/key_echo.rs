//! Key Echo's tools, served by `GumstackHost` in-process on a real socket and called by a real
//! rmcp client. In production the calls carry the identity a stand-in platform
//! (`gumstack::testing`) signed, and the platform answers the credentials fetch.

use std::collections::HashMap;

use gumstack::{
    GumstackHost, HostEnv,
    testing::{CredentialsReply, IDENTITY_HEADER, TestPlatform},
};
use gumstack_example_cred::{KeyEcho, config};
use rmcp::{
    ServiceExt,
    model::{CallToolRequestParams, ClientConfig},
    service::{RoleClient, RunningService},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::oneshot};

type Client = RunningService<RoleClient, ClientConfig>;

/// Serves Key Echo with `env`; returns its MCP URL and a stop switch.
async fn serve(env: HostEnv) -> (String, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let host = GumstackHost::new(config(), KeyEcho).with_env(env);
    tokio::spawn(host.serve_with_listener(listener, async {
        let _ = stopped.await;
    }));
    (url, stop)
}

/// A real rmcp client; with `identity`, sent in the `Gumstack-Identity` header as the gateway does.
async fn connect(url: String, identity: Option<&str>) -> Client {
    let headers = identity
        .map(|identity| (IDENTITY_HEADER.parse().unwrap(), identity.parse().unwrap()))
        .into_iter()
        .collect::<HashMap<_, _>>();
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url).custom_headers(headers),
    );
    ClientConfig::default().serve(transport).await.unwrap()
}

/// Serves Key Echo in local mode with `vars`; a client.
async fn start_local(vars: &[(&str, &str)]) -> (Client, oneshot::Sender<()>) {
    let mut all = vec![("ENVIRONMENT", "local")];
    all.extend_from_slice(vars);
    let (url, stop) = serve(HostEnv::from_vars(all).unwrap()).await;
    (connect(url, None).await, stop)
}

/// Serves Key Echo in production for `platform`; a client calling as its user.
async fn start_production(platform: &TestPlatform) -> (Client, oneshot::Sender<()>) {
    let (url, stop) = serve(platform.env(&[])).await;
    (connect(url, Some(&platform.identity())).await, stop)
}

async fn call(client: &Client, tool: &str) -> (bool, String) {
    let result = client
        .call_tool(CallToolRequestParams::new(tool.to_owned()))
        .await
        .unwrap();
    let text = result.content[0].as_text().unwrap().text.clone();
    (result.is_error == Some(true), text)
}

#[tokio::test]
async fn local_mode_reads_the_local_variables() {
    let (client, _stop) = start_local(&[("LOCAL_API_KEY", "sk-test1234")]).await;
    assert_eq!(
        call(&client, "key_suffix").await,
        (false, "api_key ends in 1234; region not set".to_owned())
    );
    client.cancel().await.unwrap();

    let vars = [("LOCAL_API_KEY", "sk-test5678"), ("LOCAL_REGION", "eu")];
    let (client, _stop) = start_local(&vars).await;
    assert_eq!(
        call(&client, "key_suffix").await,
        (false, "api_key ends in 5678; region eu".to_owned())
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn local_mode_without_the_key_names_its_variable() {
    let (client, _stop) = start_local(&[]).await;
    let (is_error, text) = call(&client, "key_suffix").await;
    assert!(is_error, "{text}");
    assert!(text.contains("LOCAL_API_KEY"), "{text}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn whoami_in_local_mode_is_the_local_user() {
    let (client, _stop) = start_local(&[]).await;
    let (is_error, text) = call(&client, "whoami").await;
    assert!(!is_error, "{text}");
    let caller: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(caller["user_id"], "local");
    assert_eq!(caller["email"], "local@localhost");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn in_production_the_key_is_the_one_the_user_entered_on_the_platform() {
    let platform = TestPlatform::start().await;
    platform.reply_credentials(CredentialsReply::credentials(
        json!({ "api_key": "sk-live-9876", "region": "us" }),
    ));
    let (client, _stop) = start_production(&platform).await;
    assert_eq!(
        call(&client, "key_suffix").await,
        (false, "api_key ends in 9876; region us".to_owned())
    );
    // An optional field the user left empty is simply not set.
    platform.reply_credentials(CredentialsReply::credentials(
        json!({ "api_key": "sk-live-4321" }),
    ));
    assert_eq!(
        call(&client, "key_suffix").await,
        (false, "api_key ends in 4321; region not set".to_owned())
    );
    let requests = platform.credentials_requests();
    assert_eq!(requests.len(), 2);
    let bearer = format!("Bearer {}", platform.server_token());
    assert!(
        requests
            .iter()
            .all(|request| request.authorization.as_deref() == Some(&bearer))
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn in_production_a_user_without_a_key_is_sent_to_the_form() {
    let platform = TestPlatform::start().await;
    let url = format!(
        "http://gumstack.test/servers/{}/connect",
        platform.server_id()
    );
    platform.reply_credentials(CredentialsReply::required(
        &url,
        "Enter your API key for Key Echo first.",
    ));
    let (client, _stop) = start_production(&platform).await;
    let (is_error, text) = call(&client, "key_suffix").await;
    assert!(is_error, "{text}");
    assert!(text.contains(&url), "{text}");
    assert!(
        text.contains("Enter your API key for Key Echo first."),
        "{text}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn whoami_in_production_is_the_user_the_platform_signed_for() {
    let platform = TestPlatform::start().await;
    let (client, _stop) = start_production(&platform).await;
    let (is_error, text) = call(&client, "whoami").await;
    assert!(!is_error, "{text}");
    let caller: Value = serde_json::from_str(&text).unwrap();
    let claims = platform.claims();
    assert_eq!(
        caller,
        json!({
            "user_id": claims["sub"],
            "email": "ada@example.com",
            "org_id": claims["org"],
            "group_id": claims["grp"],
            "server_id": platform.server_id(),
            "client_id": claims["cid"],
        })
    );
    // whoami needs no credentials: nothing was fetched.
    assert!(platform.credentials_requests().is_empty());
    client.cancel().await.unwrap();
}
