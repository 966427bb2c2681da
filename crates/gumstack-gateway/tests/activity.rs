//! What the gateway reports of each `tools/call` to the activity log: who called which tool,
//! what went in and came out (capped, marked truncated), and how it ended — from JSON bodies
//! and SSE streams, for denied calls, unreachable servers and clients that go away mid-stream.

mod common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::{Router, body::Body, http::header, response::Response, routing::post};
use common::{FakeBackend, FakeServer, TestGateway};
use futures_util::StreamExt as _;
use gumstack_gateway::{
    CallEnd, CallLog, CallRecord, CallStart, CallStatus, GatewayLimits, ToolAccess,
};
use secrecy::ExposeSecret as _;
use tokio::sync::Notify;

/// A [`CallLog`] that keeps what it is told.
#[derive(Debug, Default)]
struct Recorded {
    begun: Mutex<Vec<CallStart>>,
    ended: Mutex<Vec<CallRecord>>,
    changed: Notify,
}

impl Recorded {
    /// Waits (up to 5 s) until `n` calls have ended; returns them.
    async fn ended(&self, n: usize) -> Vec<CallRecord> {
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let notified = self.changed.notified();
                {
                    let ended = self.ended.lock().unwrap();
                    if ended.len() >= n {
                        return ended.clone();
                    }
                }
                notified.await;
            }
        })
        .await
        .expect("the call was reported")
    }
}

struct End(Arc<Recorded>);

impl CallEnd for End {
    fn end(self: Box<Self>, record: CallRecord) {
        self.0.ended.lock().unwrap().push(record);
        self.0.changed.notify_waiters();
    }
}

#[derive(Debug, Clone, Default)]
struct Log(Arc<Recorded>);

#[async_trait::async_trait]
impl CallLog for Log {
    async fn begin(&self, call: &CallStart) -> Box<dyn CallEnd> {
        self.0.begun.lock().unwrap().push(call.clone());
        Box::new(End(Arc::clone(&self.0)))
    }
}

fn call(tool: &str, arguments: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments}}}}}"#
    )
}

const RESULT: &str = r#"{"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text","text":"Hello, Ada!"}],"isError":false}}"#;

/// An upstream answering every POST with `body` as `content_type`.
async fn upstream(content_type: &'static str, body: String) -> std::net::SocketAddr {
    common::serve(Router::new().route(
        "/mcp",
        post(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, content_type)], body) }
        }),
    ))
    .await
}

async fn gateway_with(
    upstream: std::net::SocketAddr,
    tools: ToolAccess,
    capture: usize,
) -> (TestGateway, Log) {
    let backend = FakeBackend::default();
    backend.add(
        "demo",
        FakeServer {
            id: "server-demo".into(),
            upstream,
            disabled: false,
            denied: Vec::new(),
            tools,
            user_credentials: true,
        },
    );
    let log = Log::default();
    let limits = GatewayLimits {
        activity_capture: capture,
        ..GatewayLimits::default()
    };
    let gateway = TestGateway::start_with(backend, limits, Some(Arc::new(log.clone()))).await;
    (gateway, log)
}

async fn post_call(gateway: &TestGateway, body: String) -> reqwest::Response {
    reqwest::Client::new()
        .post(gateway.url("demo"))
        .bearer_auth("token-alice")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_json_answer_is_reported_with_who_what_and_how_long() {
    let upstream = upstream("application/json", RESULT.to_owned()).await;
    let (gateway, log) = gateway_with(upstream, ToolAccess::allow_all(), 16 * 1024).await;
    let response = post_call(&gateway, call("greet", r#"{"name":"Ada"}"#)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        RESULT,
        "the client gets it unchanged"
    );
    let records = log.0.ended(1).await;
    let record = &records[0];
    assert_eq!(record.status, CallStatus::Success);
    assert_eq!(record.call.tool, "greet");
    assert_eq!(record.call.server_id, "server-demo");
    assert_eq!(record.call.user_id, "alice");
    assert_eq!(record.call.client_id, "client-of-alice");
    assert!(record.call.call_id.starts_with("call-"));
    assert_eq!(
        record.call.token.as_ref().map(|t| t.expose_secret()),
        Some("token-alice"),
        "the caller's token is handed over, for redaction"
    );
    let input = record.call.input.as_ref().unwrap();
    assert_eq!(input.text, r#"{"name":"Ada"}"#);
    assert!(!input.truncated);
    let output = record.output.as_ref().unwrap();
    assert_eq!(output.text, RESULT);
    assert!(!output.truncated);
    assert_eq!(record.error, None);
    assert!(record.duration < Duration::from_secs(5));
}

#[tokio::test]
async fn an_sse_answer_is_found_among_other_events() {
    let stream = format!(
        "event: message\ndata: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{{\"progress\":1}}}}\n\nid: 7\nevent: message\ndata: {RESULT}\n\n"
    );
    let upstream = upstream("text/event-stream", stream.clone()).await;
    let (gateway, log) = gateway_with(upstream, ToolAccess::allow_all(), 16 * 1024).await;
    let response = post_call(&gateway, call("greet", "{}")).await;
    assert_eq!(response.text().await.unwrap(), stream);
    let records = log.0.ended(1).await;
    assert_eq!(records[0].status, CallStatus::Success);
    assert_eq!(records[0].output.as_ref().unwrap().text, RESULT);
}

#[tokio::test]
async fn errors_are_reported_with_their_message() {
    let tool_error = r#"{"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text","text":"city not found"}],"isError":true}}"#;
    let upstream_a = upstream("application/json", tool_error.to_owned()).await;
    let (gateway, log) = gateway_with(upstream_a, ToolAccess::allow_all(), 16 * 1024).await;
    post_call(&gateway, call("weather", "{}"))
        .await
        .text()
        .await
        .unwrap();
    let records = log.0.ended(1).await;
    assert_eq!(records[0].status, CallStatus::Error);
    assert_eq!(records[0].error.as_deref(), Some("city not found"));

    let rpc_error =
        r#"{"jsonrpc":"2.0","id":42,"error":{"code":-32602,"message":"Unknown tool: weather"}}"#;
    let upstream_b = upstream(
        "text/event-stream",
        format!("event: message\ndata: {rpc_error}\n\n"),
    )
    .await;
    let (gateway, log) = gateway_with(upstream_b, ToolAccess::allow_all(), 16 * 1024).await;
    post_call(&gateway, call("weather", "{}"))
        .await
        .text()
        .await
        .unwrap();
    let records = log.0.ended(1).await;
    assert_eq!(records[0].status, CallStatus::Error);
    assert_eq!(records[0].error.as_deref(), Some("Unknown tool: weather"));
}

#[tokio::test]
async fn input_and_output_are_cut_at_the_cap_and_marked() {
    let long_text = "x".repeat(5000);
    let answer = format!(
        r#"{{"jsonrpc":"2.0","id":42,"result":{{"content":[{{"type":"text","text":"{long_text}"}}],"isError":false}}}}"#
    );
    let upstream = upstream("application/json", answer.clone()).await;
    let (gateway, log) = gateway_with(upstream, ToolAccess::allow_all(), 256).await;
    let arguments = format!(r#"{{"text":"{long_text}"}}"#);
    let response = post_call(&gateway, call("echo", &arguments)).await;
    assert_eq!(
        response.text().await.unwrap(),
        answer,
        "the client gets it all"
    );
    let records = log.0.ended(1).await;
    let record = &records[0];
    let input = record.call.input.as_ref().unwrap();
    assert!(input.truncated);
    assert_eq!(input.text, arguments[..256]);
    let output = record.output.as_ref().unwrap();
    assert!(output.truncated);
    assert_eq!(output.text, answer[..256]);
    assert_eq!(record.status, CallStatus::Success);
}

#[tokio::test]
async fn a_denied_call_is_reported_and_never_forwarded() {
    let upstream = upstream("application/json", RESULT.to_owned()).await;
    let tools = ToolAccess::new(true, ["delete_everything".to_owned()]);
    let (gateway, log) = gateway_with(upstream, tools, 16 * 1024).await;
    let response = post_call(&gateway, call("delete_everything", r#"{"all":true}"#)).await;
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32003);
    let records = log.0.ended(1).await;
    let record = &records[0];
    assert_eq!(record.status, CallStatus::Denied);
    assert_eq!(record.call.tool, "delete_everything");
    assert_eq!(record.call.input.as_ref().unwrap().text, r#"{"all":true}"#);
    assert!(record.output.is_none());
    assert!(
        record
            .error
            .as_deref()
            .unwrap()
            .contains("permission denied"),
        "{:?}",
        record.error
    );
}

#[tokio::test]
async fn only_tool_calls_are_reported() {
    let upstream = upstream("application/json", RESULT.to_owned()).await;
    let (gateway, log) = gateway_with(upstream, ToolAccess::allow_all(), 16 * 1024).await;
    for body in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    ] {
        post_call(&gateway, body.to_owned())
            .await
            .text()
            .await
            .unwrap();
    }
    post_call(&gateway, call("greet", "{}"))
        .await
        .text()
        .await
        .unwrap();
    let records = log.0.ended(1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(log.0.begun.lock().unwrap().len(), 1);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].call.tool, "greet");
}

#[tokio::test]
async fn an_unreachable_server_is_an_error() {
    // A port nothing listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let (gateway, log) = gateway_with(closed, ToolAccess::allow_all(), 16 * 1024).await;
    let response = post_call(&gateway, call("greet", "{}")).await;
    assert_eq!(response.status(), 502);
    let records = log.0.ended(1).await;
    assert_eq!(records[0].status, CallStatus::Error);
    assert_eq!(
        records[0].error.as_deref(),
        Some("the MCP server could not be reached")
    );
}

#[tokio::test]
async fn a_client_that_goes_away_mid_stream_still_gets_its_record() {
    // The server sends a progress event, then never answers.
    let upstream = common::serve(Router::new().route(
        "/mcp",
        post(|| async {
            let first = "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n";
            let stream = futures_util::stream::once(async move {
                Ok::<_, Infallible>(axum::body::Bytes::from(first))
            })
            .chain(futures_util::stream::pending());
            Response::builder()
                .header(header::CONTENT_TYPE, "text/event-stream")
                .body(Body::from_stream(stream))
                .unwrap()
        }),
    ))
    .await;
    let (gateway, log) = gateway_with(upstream, ToolAccess::allow_all(), 16 * 1024).await;
    let response = post_call(&gateway, call("slow", "{}")).await;
    let mut body = response.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    assert!(
        log.0.ended.lock().unwrap().is_empty(),
        "still in progress while it streams"
    );
    drop(body);
    let records = log.0.ended(1).await;
    assert_eq!(records[0].status, CallStatus::Error);
    assert_eq!(
        records[0].error.as_deref(),
        Some("the client went away before the answer ended")
    );
}
