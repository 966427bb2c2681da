//! A real rmcp server behind the gateway, a real rmcp client in front of it: every protocol
//! version passes, and MCP sessions belong to the user who opened them.

mod common;

use std::{net::SocketAddr, sync::Arc};

use axum::Router;
use common::{FakeBackend, Recorder, TestGateway};
use gumstack_gateway::ToolAccess;
use rmcp::{
    ServerHandler, ServiceExt,
    handler::server::{common::Extension, wrapper::Parameters},
    model::{CallToolRequestParams, ClientConfig, ProtocolVersion},
    schemars,
    service::{ClientLifecycleMode, ClientServiceExt, RoleClient, RunningService},
    tool, tool_handler, tool_router,
    transport::{
        StreamableHttpClientTransport, StreamableHttpServerConfig, StreamableHttpService,
        streamable_http_client::StreamableHttpClientTransportConfig,
        streamable_http_server::session::local::LocalSessionManager,
    },
};
use serde_json::json;

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct AddArgs {
    a: i64,
    b: i64,
}

#[derive(Debug, Clone)]
struct Tools;

#[tool_router]
impl Tools {
    #[tool(description = "Adds two numbers")]
    fn add(&self, Parameters(AddArgs { a, b }): Parameters<AddArgs>) -> String {
        (a + b).to_string()
    }

    #[tool(description = "The Gumstack-Identity header of this call")]
    fn identity(&self, Extension(parts): Extension<http::request::Parts>) -> String {
        parts
            .headers
            .get("gumstack-identity")
            .map_or("none", |value| value.to_str().unwrap())
            .to_owned()
    }
}

#[tool_handler]
impl ServerHandler for Tools {}

/// An rmcp server with sessions (`LocalSessionManager`, legacy session mode) on a real socket.
async fn rmcp_upstream(recorder: &Recorder) -> SocketAddr {
    let service = StreamableHttpService::new(
        || Ok(Tools),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default()
            .with_legacy_session_mode(true)
            .with_sse_keep_alive(None),
    );
    common::serve(recorder.record(Router::new().route_service("/mcp", service))).await
}

/// The gateway in front of one rmcp server, published as `demo` and, with another server id,
/// as `twin`.
async fn setup() -> (TestGateway, Recorder) {
    let recorder = Recorder::default();
    let upstream = rmcp_upstream(&recorder).await;
    let backend = FakeBackend::default().with_server("demo", upstream);
    backend.add(
        "twin",
        common::FakeServer {
            id: "server-twin".to_owned(),
            upstream,
            disabled: false,
            denied: Vec::new(),
            tools: ToolAccess::allow_all(),
            user_credentials: true,
        },
    );
    backend.add(
        "guarded",
        common::FakeServer {
            id: "server-guarded".to_owned(),
            upstream,
            disabled: false,
            denied: Vec::new(),
            tools: ToolAccess::new(true, ["add".to_owned()]),
            user_credentials: true,
        },
    );
    (TestGateway::start(backend).await, recorder)
}

fn transport(gateway: &TestGateway, user: &str) -> StreamableHttpClientTransport<reqwest::Client> {
    transport_to(gateway, "demo", user)
}

fn transport_to(
    gateway: &TestGateway,
    slug: &str,
    user: &str,
) -> StreamableHttpClientTransport<reqwest::Client> {
    StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(gateway.url(slug))
            .auth_header(format!("token-{user}")),
    )
}

async fn client(
    gateway: &TestGateway,
    user: &str,
    version: ProtocolVersion,
) -> RunningService<RoleClient, ClientConfig> {
    ClientConfig::default()
        .with_protocol_version(version)
        .serve(transport(gateway, user))
        .await
        .expect("the client initializes through the gateway")
}

async fn call(
    client: &RunningService<RoleClient, ClientConfig>,
    tool: &str,
    args: serde_json::Value,
) -> String {
    let serde_json::Value::Object(args) = args else {
        panic!("arguments are an object")
    };
    let result = client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
        .await
        .expect("the tool call gets a result");
    assert_ne!(result.is_error, Some(true), "{result:?}");
    result.content[0]
        .as_text()
        .expect("text content")
        .text
        .clone()
}

/// A JSON-RPC POST sent by hand, as `user`, optionally in a session.
async fn post(
    gateway: &TestGateway,
    slug: &str,
    user: &str,
    session: Option<&str>,
    body: serde_json::Value,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(gateway.url(slug))
        .bearer_auth(format!("token-{user}"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(&body);
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    request.send().await.unwrap()
}

fn tools_list() -> serde_json::Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
}

const SESSION_NOT_FOUND: &str =
    r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}"#;

async fn assert_session_not_found(response: reqwest::Response) {
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.text().await.unwrap(), SESSION_NOT_FOUND);
}

#[tokio::test]
async fn session_protocol_versions_work_through_the_gateway() {
    let (gateway, recorder) = setup().await;
    for version in [ProtocolVersion::V_2025_06_18, ProtocolVersion::V_2025_11_25] {
        let client = client(&gateway, "alice", version.clone()).await;
        let info = client.peer_info().expect("initialized");
        assert_eq!(info.protocol_version, version);
        assert_eq!(call(&client, "add", json!({"a": 2, "b": 3})).await, "5");
        assert_eq!(
            call(&client, "identity", json!({})).await,
            FakeBackend::identity("alice", "demo")
        );
        client.cancel().await.unwrap();
    }
    assert!(
        !recorder.values("mcp-session-id").is_empty(),
        "the server ran sessions"
    );
    assert!(recorder.values("authorization").is_empty());
}

#[tokio::test]
async fn stateless_2026_07_28_passes_through() {
    let (gateway, recorder) = setup().await;
    let client = ClientConfig::default()
        .serve_with_lifecycle(
            transport(&gateway, "alice"),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("discovery works through the gateway");
    assert_eq!(
        client.peer_info().expect("discovered").protocol_version,
        ProtocolVersion::V_2026_07_28
    );
    assert_eq!(call(&client, "add", json!({"a": 40, "b": 2})).await, "42");
    assert_eq!(
        call(&client, "identity", json!({})).await,
        FakeBackend::identity("alice", "demo")
    );
    client.cancel().await.unwrap();
    assert!(recorder.values("mcp-session-id").is_empty());
    assert!(
        recorder
            .values("mcp-protocol-version")
            .iter()
            .any(|version| version == "2026-07-28")
    );
}

#[tokio::test]
async fn a_session_is_usable_only_by_its_user_on_its_server() {
    let (gateway, recorder) = setup().await;
    let alice = client(&gateway, "alice", ProtocolVersion::V_2025_11_25).await;
    assert_eq!(call(&alice, "add", json!({"a": 1, "b": 1})).await, "2");
    let session = recorder
        .values("mcp-session-id")
        .pop()
        .expect("the client uses its session");

    let before = recorder.count();
    assert_session_not_found(post(&gateway, "demo", "bob", Some(&session), tools_list()).await)
        .await;
    assert_session_not_found(post(&gateway, "twin", "alice", Some(&session), tools_list()).await)
        .await;
    assert_session_not_found(
        post(
            &gateway,
            "demo",
            "alice",
            Some("made-up-session"),
            tools_list(),
        )
        .await,
    )
    .await;
    assert_eq!(recorder.count(), before, "nothing reached the server");

    // The owner is unaffected.
    let response = post(&gateway, "demo", "alice", Some(&session), tools_list()).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("\"add\""));
    assert_eq!(call(&alice, "add", json!({"a": 2, "b": 2})).await, "4");
    alice.cancel().await.unwrap();
}

#[tokio::test]
async fn delete_ends_the_binding() {
    let (gateway, recorder) = setup().await;
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}
        }
    });
    let response = post(&gateway, "demo", "alice", None, initialize).await;
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(response.text().await.unwrap().contains("protocolVersion"));
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = post(&gateway, "demo", "alice", Some(&session), initialized).await;
    assert!(response.status().is_success(), "{}", response.status());
    let response = post(&gateway, "demo", "alice", Some(&session), tools_list()).await;
    assert_eq!(response.status(), 200);

    // Someone else cannot end it.
    let delete = |user: &str| {
        reqwest::Client::new()
            .delete(gateway.url("demo"))
            .bearer_auth(format!("token-{user}"))
            .header("mcp-session-id", &session)
            .send()
    };
    assert_session_not_found(delete("bob").await.unwrap()).await;
    let response = delete("alice").await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());

    let before = recorder.count();
    assert_session_not_found(post(&gateway, "demo", "alice", Some(&session), tools_list()).await)
        .await;
    assert_session_not_found(delete("alice").await.unwrap()).await;
    assert_eq!(
        recorder.count(),
        before,
        "an ended session is not forwarded"
    );
}

/// `guarded` denies `add`: it is not listed, and calling it anyway is a JSON-RPC error the
/// server never sees, on the session revisions and on the stateless one.
#[tokio::test]
async fn a_denied_tool_is_not_listed_and_its_calls_never_reach_the_server() {
    let (gateway, recorder) = setup().await;
    for stateless in [false, true] {
        let transport = transport_to(&gateway, "guarded", "alice");
        let client = if stateless {
            ClientConfig::default()
                .serve_with_lifecycle(
                    transport,
                    ClientLifecycleMode::Discover {
                        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                    },
                )
                .await
                .unwrap()
        } else {
            ClientConfig::default()
                .with_protocol_version(ProtocolVersion::V_2025_11_25)
                .serve(transport)
                .await
                .unwrap()
        };
        let tools = client.list_all_tools().await.expect("tools/list answers");
        let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
        assert_eq!(names, ["identity"], "stateless: {stateless}");

        let before = recorder.count();
        let denied = client
            .call_tool(
                CallToolRequestParams::new("add")
                    .with_arguments(json!({"a": 1, "b": 2}).as_object().unwrap().clone()),
            )
            .await
            .expect_err("a denied call is an error");
        let text = denied.to_string();
        assert!(text.contains("-32003"), "{text}");
        assert!(text.contains("permission denied"), "{text}");
        assert_eq!(recorder.count(), before, "the server never saw the call");

        // Allowed tools work as before.
        assert_eq!(
            call(&client, "identity", json!({})).await,
            FakeBackend::identity("alice", "guarded")
        );
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn a_denied_call_sent_by_hand_answers_its_id_with_http_200() {
    let (gateway, recorder) = setup().await;
    let before = recorder.count();
    let call = json!({
        "jsonrpc": "2.0", "id": "call-9", "method": "tools/call",
        "params": {"name": "add", "arguments": {"a": 1, "b": 2}}
    });
    let response = post(&gateway, "guarded", "alice", None, call).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["id"], "call-9");
    assert_eq!(body["error"]["code"], -32003);
    assert_eq!(recorder.count(), before);
}
