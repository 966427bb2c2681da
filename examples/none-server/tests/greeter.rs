//! The Greeter's tools, served by `GumstackHost` in-process on a real socket. In production the
//! calls carry the identity a stand-in platform (`gumstack::testing`) signed.

use std::collections::HashMap;

use gumstack::{
    GumstackHost, HostEnv,
    testing::{IDENTITY_HEADER, TestPlatform},
};
use gumstack_example_none::{Greeter, config};
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

/// Serves the Greeter with `env`; returns its MCP URL and a stop switch.
async fn serve(env: HostEnv) -> (String, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let host = GumstackHost::new(config(), Greeter).with_env(env);
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

/// Serves the Greeter in production for `platform`, with `vars`; a client calling as its user.
async fn start_production(
    platform: &TestPlatform,
    vars: &[(&str, &str)],
) -> (Client, oneshot::Sender<()>) {
    let (url, stop) = serve(platform.env(vars)).await;
    (connect(url, Some(&platform.identity())).await, stop)
}

async fn call(client: &Client, tool: &str, arguments: Value) -> (bool, String) {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object")
    };
    let result = client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
        .unwrap();
    let text = result.content[0].as_text().unwrap().text.clone();
    (result.is_error == Some(true), text)
}

#[tokio::test]
async fn greet_uses_the_greeting_variable() {
    let platform = TestPlatform::start().await;
    let (client, _stop) = start_production(&platform, &[("GREETING", "Bonjour")]).await;
    assert_eq!(
        call(&client, "greet", json!({ "name": "Ada" })).await,
        (false, "Bonjour, Ada!".to_owned())
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn greet_without_the_variable_names_it() {
    let platform = TestPlatform::start().await;
    let (client, _stop) = start_production(&platform, &[]).await;
    let (is_error, text) = call(&client, "greet", json!({ "name": "Ada" })).await;
    assert!(is_error, "{text}");
    assert!(text.contains("GREETING"), "{text}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn whoami_in_local_mode_is_the_local_user() {
    let env = HostEnv::from_vars([("ENVIRONMENT", "local")]).unwrap();
    let (url, _stop) = serve(env).await;
    let client = connect(url, None).await;
    let (is_error, text) = call(&client, "whoami", json!({})).await;
    assert!(!is_error, "{text}");
    let caller: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(caller["user_id"], "local");
    assert_eq!(caller["email"], "local@localhost");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn whoami_in_production_is_the_user_the_platform_signed_for() {
    let platform = TestPlatform::start().await;
    let (client, _stop) = start_production(&platform, &[]).await;
    let (is_error, text) = call(&client, "whoami", json!({})).await;
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
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn in_production_a_call_without_the_platforms_identity_is_refused() {
    let platform = TestPlatform::start().await;
    let (url, _stop) = serve(platform.env(&[("GREETING", "Bonjour")])).await;
    let response = reqwest::Client::new()
        .post(url)
        .header("Accept", "application/json, text/event-stream")
        .json(&json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": { "name": "greet", "arguments": { "name": "Ada" } },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_identity", "{body}");
}
