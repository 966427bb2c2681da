//! What reaches the upstream and what comes back: header hygiene, the signed identity,
//! unbuffered SSE, upstream failures and the body limit.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Body,
    extract::{Request, State},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use common::{FakeBackend, TestGateway};
use futures_util::{StreamExt as _, stream};
use gumstack_gateway::GatewayLimits;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::oneshot,
};

/// Answers with what it received: method, URI, headers (name → values) and body length; sets
/// a cookie and a custom header on the way back.
async fn echo(request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let mut headers = serde_json::Map::new();
    for name in parts.headers.keys() {
        let values: Vec<Value> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|value| Value::from(value.to_str().unwrap()))
            .collect();
        headers.insert(name.to_string(), Value::Array(values));
    }
    let reply = json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "headers": headers,
        "body_len": body.len(),
    });
    (
        [("set-cookie", "upstream=1"), ("x-upstream", "echo")],
        Json(reply),
    )
        .into_response()
}

const ADD: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add"}}"#;
const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;

/// A JSON-RPC ping of exactly `size` bytes.
fn padded_ping(size: usize) -> String {
    let frame = r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":""}}"#;
    let pad = "x".repeat(size - frame.len());
    format!(r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{pad}"}}}}"#)
}

async fn echo_gateway() -> TestGateway {
    let upstream = common::serve(Router::new().route("/mcp", any(echo))).await;
    TestGateway::start(FakeBackend::default().with_server("echo", upstream)).await
}

#[tokio::test]
async fn the_upstream_sees_the_grants_identity_and_none_of_the_clients_credentials() {
    let gateway = echo_gateway().await;
    let response = reqwest::Client::new()
        .post(format!("{}?trace=1&x=y", gateway.url("echo")))
        .bearer_auth("token-alice")
        .header("cookie", "session=secret")
        .header("gumstack-identity", "forged")
        .header("gumstack-call", "forged")
        .header("gumstack-whatever", "forged")
        .header("forwarded", "for=203.0.113.9")
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-forwarded-host", "evil.example")
        .header("proxy-authorization", "Basic eA==")
        .header("connection", "x-hop")
        .header("x-hop", "1")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "add")
        .header("last-event-id", "7")
        .header("x-custom", "kept")
        .body(ADD)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("set-cookie").is_none());
    assert_eq!(response.headers()["x-upstream"], "echo");
    let seen: Value = response.json().await.unwrap();

    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["uri"], "/mcp?trace=1&x=y");
    assert_eq!(
        seen["body_len"],
        ADD.len(),
        "the body is forwarded unchanged"
    );
    let headers = &seen["headers"];
    assert_eq!(
        headers["gumstack-identity"],
        json!([FakeBackend::identity("alice", "echo")])
    );
    // The call's own id, given by the platform, never the client's.
    let call = headers["gumstack-call"].as_array().unwrap();
    assert_eq!(call.len(), 1, "{call:?}");
    assert!(call[0].as_str().unwrap().starts_with("call-"), "{call:?}");
    for absent in [
        "authorization",
        "cookie",
        "gumstack-whatever",
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "proxy-authorization",
        "connection",
        "x-hop",
    ] {
        assert!(
            headers.get(absent).is_none(),
            "{absent} reached the upstream"
        );
    }
    for (name, value) in [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", "2025-11-25"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "add"),
        ("last-event-id", "7"),
        ("x-custom", "kept"),
    ] {
        assert_eq!(headers[name], json!([value]), "{name}");
    }
    let host = headers["host"][0].as_str().unwrap();
    assert!(host.starts_with("127.0.0.1:"), "{host}");
}

#[tokio::test]
async fn get_and_delete_are_forwarded_with_their_method_and_no_call_id() {
    let gateway = echo_gateway().await;
    let client = reqwest::Client::new();
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let response = client
            .request(method.clone(), gateway.url("echo"))
            .bearer_auth("token-alice")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let seen: Value = response.json().await.unwrap();
        assert_eq!(seen["method"], method.as_str());
        assert_eq!(seen["body_len"], 0);
        // Not a call: no id to fetch credentials with.
        assert!(seen["headers"].get("gumstack-call").is_none(), "{seen}");
    }
}

/// An upstream whose GET sends one event, then waits for the test before sending the second.
async fn sse_upstream(release: oneshot::Receiver<()>) -> std::net::SocketAddr {
    let release = Arc::new(Mutex::new(Some(release)));
    let router = Router::new().route("/mcp", get(sse)).with_state(release);
    common::serve(router).await
}

async fn sse(State(release): State<Arc<Mutex<Option<oneshot::Receiver<()>>>>>) -> Response {
    let release = release.lock().unwrap().take().expect("one stream");
    let first = stream::once(async { Ok::<_, std::io::Error>("event: message\ndata: first\n\n") });
    // Polled only once the first event has gone out.
    let second = stream::once(async move {
        let _ = release.await;
        Ok("data: second\n\n")
    });
    (
        [("content-type", "text/event-stream")],
        Body::from_stream(first.chain(second)),
    )
        .into_response()
}

#[tokio::test]
async fn sse_events_pass_through_unbuffered() {
    let (release, released) = oneshot::channel();
    let upstream = sse_upstream(released).await;
    let gateway = TestGateway::start(FakeBackend::default().with_server("sse", upstream)).await;
    let request = reqwest::Client::new()
        .get(gateway.url("sse"))
        .bearer_auth("token-alice")
        .header("accept", "text/event-stream")
        .send();
    let mut response = tokio::time::timeout(Duration::from_secs(5), request)
        .await
        .expect("the headers arrive while the upstream still holds the second event")
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");

    let mut received = String::new();
    while !received.contains("data: first\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), response.chunk())
            .await
            .expect("the first event arrives while the upstream still holds the second")
            .unwrap()
            .expect("the stream is open");
        received.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(!received.contains("second"));

    release.send(()).unwrap();
    while let Some(chunk) = response.chunk().await.unwrap() {
        received.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert_eq!(received, "event: message\ndata: first\n\ndata: second\n\n");
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502_without_details() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    let gateway = TestGateway::start(FakeBackend::default().with_server("down", closed)).await;
    let response = reqwest::Client::new()
        .post(gateway.url("down"))
        .bearer_auth("token-alice")
        .body(PING)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_gateway");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        !message.contains("refused") && !message.contains("127.0.0.1"),
        "{message}"
    );
}

/// Sends `head` (and whatever follows) on a raw connection and returns the status code.
async fn raw_status(addr: std::net::SocketAddr, request: String) -> u16 {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buffer = [0; 1024];
    while !received.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .expect("a response in time")
            .unwrap();
        assert_ne!(read, 0, "connection closed without a response");
        received.extend_from_slice(&buffer[..read]);
    }
    let head = String::from_utf8_lossy(&received);
    head[9..12].parse().unwrap()
}

#[tokio::test]
async fn a_declared_body_over_4_mib_is_refused_before_it_is_sent() {
    let gateway = echo_gateway().await;
    let request = format!(
        "POST /mcp/echo HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer token-alice\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        gateway.addr,
        4 * 1024 * 1024 + 1
    );
    assert_eq!(raw_status(gateway.addr, request).await, 413);
}

#[tokio::test]
async fn a_streamed_body_over_the_limit_is_cut_off() {
    let upstream = common::serve(Router::new().route("/mcp", any(echo))).await;
    let limits = GatewayLimits {
        max_request_body: 1024,
        ..GatewayLimits::default()
    };
    let backend = FakeBackend::default().with_server("echo", upstream);
    let addr = TestGateway::start_with_limits(backend, limits).await.addr;
    let chunked = |size: usize| {
        let body = padded_ping(size);
        format!(
            "POST /mcp/echo HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer token-alice\r\n\
             Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        )
    };
    assert_eq!(raw_status(addr, chunked(1000)).await, 200);
    assert_eq!(raw_status(addr, chunked(2048)).await, 413);
}

#[tokio::test]
async fn a_malformed_chunked_body_is_the_clients_fault_not_the_servers() {
    let gateway = echo_gateway().await;
    let request = |body: &str| {
        format!(
            "POST /mcp/echo HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer token-alice\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{body}",
            gateway.addr
        )
    };
    // A chunk size that is not hex: 400, not "the MCP server could not be reached".
    assert_eq!(
        raw_status(gateway.addr, request("zz\r\n{}\r\n0\r\n\r\n")).await,
        400
    );
    // A well-formed one still goes through.
    assert_eq!(
        raw_status(
            gateway.addr,
            request(&format!("{:x}\r\n{PING}\r\n0\r\n\r\n", PING.len()))
        )
        .await,
        200
    );
}

#[tokio::test]
async fn an_upstream_that_sends_no_headers_in_time_is_a_504() {
    let upstream =
        common::serve(Router::new().route("/mcp", any(std::future::pending::<&'static str>))).await;
    let limits = GatewayLimits {
        upstream_header_timeout: Duration::from_millis(200),
        ..GatewayLimits::default()
    };
    let backend = FakeBackend::default().with_server("stuck", upstream);
    let gateway = TestGateway::start_with_limits(backend, limits).await;
    let response = reqwest::Client::new()
        .post(gateway.url("stuck"))
        .bearer_auth("token-alice")
        .body(PING)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 504);
    assert_eq!(common::error_code(response).await, "gateway_timeout");
}

/// A server that hands every caller the same session id: the gateway binds it to the first
/// user and refuses to hand it to anyone else.
#[tokio::test]
async fn a_session_id_handed_to_two_users_stays_with_the_first() {
    let recorder = common::Recorder::default();
    let upstream = common::serve(recorder.record(Router::new().route(
        "/mcp",
        any(|| async { ([("mcp-session-id", "shared")], "{}") }),
    )))
    .await;
    let gateway = TestGateway::start(FakeBackend::default().with_server("fixed", upstream)).await;
    let post = |user: &str, session: Option<&str>| {
        let mut request = reqwest::Client::new()
            .post(gateway.url("fixed"))
            .bearer_auth(format!("token-{user}"))
            .body(PING);
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request.send()
    };
    let response = post("alice", None).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["mcp-session-id"], "shared");
    assert_eq!(post("alice", Some("shared")).await.unwrap().status(), 200);

    let response = post("bob", None).await.unwrap();
    assert_eq!(response.status(), 502);
    assert!(response.headers().get("mcp-session-id").is_none());
    let before = recorder.count();
    assert_eq!(post("bob", Some("shared")).await.unwrap().status(), 404);
    assert_eq!(recorder.count(), before);
    assert_eq!(post("alice", Some("shared")).await.unwrap().status(), 200);
}
