//! What the SDK costs one tool call on top of the bare rmcp server it wraps, the identity check
//! first (docs/BENCHMARKS.md, "The SDK's identity check"; target: ≤ 10 µs per call).
//!
//! The same `greet` tool, called in-process (a `tower` oneshot of a stateless JSON
//! `tools/call`, no sockets), three ways:
//!
//! - `bare rmcp`: rmcp's `StreamableHttpService` with the handler, as the SDK configures it,
//!   and nothing else;
//! - `sdk, identity remembered`: `GumstackHost::router()` in production mode with the same
//!   `Gumstack-Identity` at every call, as the gateway forwards it (one per user for minutes):
//!   after the first call the check is a lookup;
//! - `sdk, new identity each call`: a different identity every call (signed beforehand, not
//!   timed), so every call verifies an Ed25519 signature: the cost before identities were
//!   reused.
//!
//! `cargo bench -p gumstack --bench identity`

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gumstack::testing::{CALL_HEADER, IDENTITY_HEADER, TestPlatform};
use gumstack::{Config, GumstackHost};
use http::{Request, StatusCode};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, tool, tool_handler, tool_router};
use tower::ServiceExt as _;

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct GreetArgs {
    name: String,
}

#[derive(Debug, Clone, Default)]
struct Greeter;

#[tool_router]
impl Greeter {
    #[tool(description = "Greets `name`")]
    fn greet(&self, Parameters(GreetArgs { name }): Parameters<GreetArgs>) -> String {
        format!("Hello, {name}!")
    }
}

#[tool_handler]
impl ServerHandler for Greeter {}

const CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greet","arguments":{"name":"Ada"}}}"#;

fn call(identity: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/mcp")
        .header(http::header::HOST, "127.0.0.1")
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18");
    if let Some(identity) = identity {
        request = request
            .header(IDENTITY_HEADER, identity)
            .header(CALL_HEADER, "3f0c1f0e-9a51-4d4e-8f44-5a3c2b8d1e77");
    }
    request.body(Body::from(CALL)).expect("a valid request")
}

async fn answer(router: &Router, request: Request<Body>) -> String {
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("a body");
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, StatusCode::OK, "{text}");
    text
}

fn bare_rmcp() -> Router {
    let service = StreamableHttpService::new(
        || Ok(Greeter),
        Arc::new(NeverSessionManager::default()),
        StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_sse_keep_alive(None),
    );
    Router::new().route_service("/mcp", service)
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let platform = runtime.block_on(TestPlatform::start());
    let config = Config::parse("name: Bench\nauth:\n  type: none\n").expect("a valid config");
    let sdk = GumstackHost::new(config, Greeter)
        .with_env(platform.env(&[]))
        .router()
        .expect("a router");
    let bare = bare_rmcp();
    let identity = platform.identity();
    for (router, identity) in [(&bare, None), (&sdk, Some(identity.as_str()))] {
        let text = runtime.block_on(answer(router, call(identity)));
        assert!(text.contains("Hello, Ada!"), "{text}");
    }

    let mut group = c.benchmark_group("tools/call greet");
    group.bench_function("bare rmcp", |b| {
        b.to_async(&runtime).iter(|| answer(&bare, call(None)));
    });
    group.bench_function("sdk, identity remembered", |b| {
        b.to_async(&runtime)
            .iter(|| answer(&sdk, call(Some(&identity))));
    });
    group.bench_function("sdk, new identity each call", |b| {
        let mut n = 0_u64;
        b.to_async(&runtime).iter_batched(
            || {
                n += 1;
                let mut claims = platform.claims();
                claims["jti"] = serde_json::json!(format!("bench-{n}"));
                call(Some(&platform.key().sign(&claims)))
            },
            |request| answer(&sdk, request),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
