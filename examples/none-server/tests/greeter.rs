//! The Greeter's tools, served by `GumstackHost` in-process on a real socket.

use gumstack::{GumstackHost, HostEnv};
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

/// Serves the Greeter with `vars` as its environment; returns a client and a stop switch.
async fn start(vars: &[(&str, &str)]) -> (Client, oneshot::Sender<()>) {
    let env = HostEnv::from_vars(vars.iter().copied()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let host = GumstackHost::new(config(), Greeter).with_env(env);
    tokio::spawn(host.serve_with_listener(listener, async {
        let _ = stopped.await;
    }));
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url),
    );
    (
        ClientConfig::default().serve(transport).await.unwrap(),
        stop,
    )
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
    let vars = [
        ("ENVIRONMENT", "production"),
        ("PORT", "4100"),
        ("GREETING", "Bonjour"),
    ];
    let (client, _stop) = start(&vars).await;
    assert_eq!(
        call(&client, "greet", json!({ "name": "Ada" })).await,
        (false, "Bonjour, Ada!".to_owned())
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn greet_without_the_variable_names_it() {
    let (client, _stop) = start(&[("ENVIRONMENT", "production"), ("PORT", "4100")]).await;
    let (is_error, text) = call(&client, "greet", json!({ "name": "Ada" })).await;
    assert!(is_error, "{text}");
    assert!(text.contains("GREETING"), "{text}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn whoami_in_local_mode_is_the_local_user() {
    let (client, _stop) = start(&[("ENVIRONMENT", "local")]).await;
    let (is_error, text) = call(&client, "whoami", json!({})).await;
    assert!(!is_error, "{text}");
    let caller: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(caller["user_id"], "local");
    assert_eq!(caller["email"], "local@localhost");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn whoami_without_a_verified_identity_is_a_tool_error() {
    let (client, _stop) = start(&[("ENVIRONMENT", "production"), ("PORT", "4100")]).await;
    let (is_error, text) = call(&client, "whoami", json!({})).await;
    assert!(is_error, "{text}");
    assert!(text.contains("no authentication context"), "{text}");
    client.cancel().await.unwrap();
}
