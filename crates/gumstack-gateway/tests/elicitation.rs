//! A call whose server was refused the caller's credentials, asked for inside the call
//! (docs/PROTOCOL.md §5): a real rmcp server behind the gateway, real rmcp clients of both
//! revisions in front of it, and a fake platform that marks the calls the server says need
//! the user's account.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::{self, Next};
use common::{FakeBackend, NeededCalls, TestGateway};
use http_body_util::BodyExt as _;
use rmcp::{
    ServerHandler, ServiceExt,
    handler::server::common::Extension,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
        ContentBlock, ProtocolVersion,
    },
    service::{ClientLifecycleMode, ClientServiceExt, RoleClient, RunningService, ServiceError},
    tool, tool_handler, tool_router,
    transport::{
        StreamableHttpClientTransport, StreamableHttpServerConfig, StreamableHttpService,
        streamable_http_client::StreamableHttpClientTransportConfig,
        streamable_http_server::session::{local::LocalSessionManager, never::NeverSessionManager},
    },
};
use serde_json::{Value, json};

/// The key of the gateway's input request.
const INPUT_KEY: &str = "gumstack/credentials";

/// A server with one tool that needs the caller's account: until `connected`, it answers a
/// tool error and the platform marks its call (as `/internal` does on a 409).
#[derive(Clone)]
struct Tools {
    needed: NeededCalls,
    connected: Arc<AtomicBool>,
}

#[tool_router]
impl Tools {
    #[tool(description = "The caller's profile at the provider")]
    fn profile(&self, Extension(parts): Extension<http::request::Parts>) -> CallToolResult {
        if self.connected.load(Ordering::SeqCst) {
            return CallToolResult::success(vec![ContentBlock::text("profile of alice")]);
        }
        let call = parts.headers["gumstack-call"].to_str().unwrap();
        self.needed.mark(call);
        CallToolResult::error(vec![ContentBlock::text(
            "Connect your account at https://mcp.example.com/connections/demo",
        )])
    }
}

#[tool_handler]
impl ServerHandler for Tools {}

/// The request bodies the server received.
#[derive(Clone, Default)]
struct Bodies(Arc<Mutex<Vec<Value>>>);

impl Bodies {
    fn calls(&self) -> Vec<Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|body| body["method"] == "tools/call")
            .cloned()
            .collect()
    }
}

async fn keep_body(bodies: Bodies, request: Request, next: Next) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    if let Ok(value) = serde_json::from_slice(&bytes) {
        bodies.0.lock().unwrap().push(value);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

struct Setup {
    gateway: TestGateway,
    connected: Arc<AtomicBool>,
    bodies: Bodies,
    needed: common::NeededCalls,
}

/// The gateway in front of the server, stateless (JSON answers) or with sessions (SSE).
async fn setup(sessions: bool) -> Setup {
    let backend = FakeBackend::default();
    let needed = backend.needed();
    let tools = Tools {
        needed: backend.needed(),
        connected: Arc::default(),
    };
    let connected = Arc::clone(&tools.connected);
    let bodies = Bodies::default();
    let router = if sessions {
        let service = StreamableHttpService::new(
            move || Ok(tools.clone()),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default()
                .with_legacy_session_mode(true)
                .with_sse_keep_alive(None),
        );
        Router::new().route_service("/mcp", service)
    } else {
        let service = StreamableHttpService::new(
            move || Ok(tools.clone()),
            Arc::new(NeverSessionManager::default()),
            StreamableHttpServerConfig::default()
                .with_legacy_session_mode(false)
                .with_json_response(true),
        );
        Router::new().route_service("/mcp", service)
    };
    let kept = bodies.clone();
    let router = router.layer(middleware::from_fn(move |request, next| {
        keep_body(kept.clone(), request, next)
    }));
    let upstream = common::serve(router).await;
    let backend = backend.with_server("demo", upstream);
    // The same process as a server without per-user credentials (auth type `none`).
    backend.add(
        "plain",
        common::FakeServer {
            id: "server-plain".to_owned(),
            upstream,
            disabled: false,
            denied: Vec::new(),
            tools: gumstack_gateway::ToolAccess::allow_all(),
            user_credentials: false,
        },
    );
    let gateway = TestGateway::start(backend).await;
    Setup {
        gateway,
        connected,
        bodies,
        needed,
    }
}

fn capabilities(url: bool) -> ClientCapabilities {
    let declared = if url {
        json!({"elicitation": {"url": {}}})
    } else {
        json!({"elicitation": {"form": {}}})
    };
    serde_json::from_value(declared).unwrap()
}

fn transport(gateway: &TestGateway) -> StreamableHttpClientTransport<reqwest::Client> {
    transport_to(gateway, "demo")
}

fn transport_to(
    gateway: &TestGateway,
    slug: &str,
) -> StreamableHttpClientTransport<reqwest::Client> {
    StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(gateway.url(slug)).auth_header("token-alice"),
    )
}

async fn stateless_client(
    gateway: &TestGateway,
    url: bool,
) -> RunningService<RoleClient, ClientConfig> {
    ClientConfig::new(capabilities(url), Default::default())
        .serve_with_lifecycle(
            transport(gateway),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("discovery works through the gateway")
}

async fn session_client(
    gateway: &TestGateway,
    url: bool,
) -> RunningService<RoleClient, ClientConfig> {
    ClientConfig::new(capabilities(url), Default::default())
        .with_protocol_version(ProtocolVersion::V_2025_11_25)
        .serve(transport(gateway))
        .await
        .expect("the client initializes through the gateway")
}

fn profile() -> CallToolRequestParams {
    CallToolRequestParams::new("profile")
}

#[tokio::test]
async fn a_2026_07_28_call_gets_input_required_and_its_retry_completes_without_the_gateways_fields()
{
    let s = setup(false).await;
    let client = stateless_client(&s.gateway, true).await;
    let CallToolResponse::InputRequired(asked) = client.call_tool_once(profile()).await.unwrap()
    else {
        panic!("the call did not ask for input")
    };
    let asked = serde_json::to_value(&asked).unwrap();
    let request = &asked["inputRequests"][INPUT_KEY];
    assert_eq!(request["method"], "elicitation/create", "{asked}");
    assert_eq!(request["params"]["mode"], "url", "{asked}");
    assert_eq!(
        request["params"]["url"], "https://mcp.example.com/connections/demo?for=alice",
        "{asked}"
    );
    let state = asked["requestState"].as_str().unwrap().to_owned();
    assert!(state.starts_with("gumstack."), "{asked}");

    // The person connects; the client retries with the state and its answer.
    s.connected.store(true, Ordering::SeqCst);
    let mut responses = std::collections::BTreeMap::new();
    responses.insert(INPUT_KEY.to_owned(), json!({"action": "accept"}));
    let retry = profile()
        .with_request_state(state.clone())
        .with_input_responses(responses.clone());
    let CallToolResponse::Complete(done) = client.call_tool_once(retry).await.unwrap() else {
        panic!("the retry did not complete")
    };
    assert_eq!(done.content[0].as_text().unwrap().text, "profile of alice");
    let seen = s.bodies.calls();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let params = seen[1]["params"].as_object().unwrap();
    assert!(
        !params.contains_key("requestState") && !params.contains_key("inputResponses"),
        "the server never sees the gateway's fields: {params:?}"
    );

    // A state the platform refuses (here: made for another tool) is refused, not forwarded.
    let forged = CallToolRequestParams::new("other")
        .with_request_state(state)
        .with_input_responses(responses);
    let refused = client.call_tool_once(forged).await.unwrap_err();
    let ServiceError::McpError(error) = refused else {
        panic!("{refused:?}")
    };
    assert_eq!(error.code.0, -32602, "{error:?}");
    assert!(error.message.contains("requestState"), "{error:?}");
    assert_eq!(s.bodies.calls().len(), 2, "nothing more reached the server");
    // The platform was told the tool of each call it forwarded (for the scopes the tool
    // declares), not of the refused one.
    assert_eq!(s.needed.named_tools(), ["profile", "profile"]);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_2026_07_28_client_without_url_elicitation_gets_the_servers_tool_error() {
    let s = setup(false).await;
    let client = stateless_client(&s.gateway, false).await;
    let CallToolResponse::Complete(result) = client.call_tool_once(profile()).await.unwrap() else {
        panic!("asked a client that cannot open a URL")
    };
    assert_eq!(result.is_error, Some(true));
    assert!(
        result.content[0]
            .as_text()
            .unwrap()
            .text
            .contains("/connections/demo")
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_2025_11_25_session_that_declared_url_elicitation_gets_minus_32042_over_sse() {
    let s = setup(true).await;
    let client = session_client(&s.gateway, true).await;
    let error = client.call_tool(profile()).await.unwrap_err();
    let ServiceError::McpError(error) = error else {
        panic!("{error:?}")
    };
    assert_eq!(error.code.0, -32042, "{error:?}");
    let data = error.data.unwrap();
    assert_eq!(data["elicitations"][0]["mode"], "url");
    assert_eq!(
        data["elicitations"][0]["url"],
        "https://mcp.example.com/connections/demo?for=alice"
    );
    // Once connected, the same call on the same session completes.
    s.connected.store(true, Ordering::SeqCst);
    let done = client.call_tool(profile()).await.unwrap();
    assert_eq!(done.content[0].as_text().unwrap().text, "profile of alice");
    client.cancel().await.unwrap();

    // A session whose client declared no URL elicitation gets the server's own answer.
    s.connected.store(false, Ordering::SeqCst);
    let plain = session_client(&s.gateway, false).await;
    let result = plain.call_tool(profile()).await.unwrap();
    assert_eq!(result.is_error, Some(true));
    plain.cancel().await.unwrap();
}

#[tokio::test]
async fn a_server_without_per_user_credentials_never_gets_its_answers_replaced() {
    let s = setup(false).await;
    let client = ClientConfig::new(capabilities(true), Default::default())
        .serve_with_lifecycle(
            transport_to(&s.gateway, "plain"),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .unwrap();
    let CallToolResponse::Complete(result) = client.call_tool_once(profile()).await.unwrap() else {
        panic!("a server of auth type none asked for input")
    };
    assert_eq!(result.is_error, Some(true));
    // Nor is the platform told which tool its calls call.
    assert!(s.needed.named_tools().is_empty());
    client.cancel().await.unwrap();
}
