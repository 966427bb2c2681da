//! What the gateway reads of a request body before forwarding it: one JSON-RPC message whose
//! 2026-07-28 routing headers agree with it. Everything else is refused with a JSON-RPC error
//! and never reaches the server.

mod common;

use axum::{Router, routing::any};
use common::{FakeBackend, Recorder, TestGateway};
use serde_json::Value;

const CALL: &str =
    r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"greet","arguments":{}}}"#;

async fn setup() -> (TestGateway, Recorder) {
    let recorder = Recorder::default();
    let upstream =
        common::serve(recorder.record(Router::new().route("/mcp", any(|| async { "ok" })))).await;
    let backend = FakeBackend::default().with_server("demo", upstream);
    (TestGateway::start(backend).await, recorder)
}

async fn post(gateway: &TestGateway, body: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(gateway.url("demo"))
        .bearer_auth("token-alice")
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// The status and the JSON-RPC error of a refused request.
async fn refusal(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    (status, body)
}

#[tokio::test]
async fn one_message_with_agreeing_headers_is_forwarded() {
    let (gateway, recorder) = setup().await;
    let plain = post(&gateway, CALL, &[]).await;
    assert_eq!(plain.status(), 200);
    let routed = post(
        &gateway,
        CALL,
        &[("mcp-method", "tools/call"), ("mcp-name", "greet")],
    )
    .await;
    assert_eq!(routed.status(), 200);
    assert_eq!(recorder.count(), 2);
    // The routing headers reach the server unchanged.
    assert_eq!(recorder.values("mcp-name"), ["greet"]);
}

#[tokio::test]
async fn a_batch_is_refused_whole_and_nothing_is_forwarded() {
    let (gateway, recorder) = setup().await;
    let batch = format!(r#"[{CALL},{{"jsonrpc":"2.0","id":8,"method":"ping"}}]"#);
    let (status, body) = refusal(post(&gateway, &batch, &[]).await).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], -32600);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("batches are not supported"),
        "{body}"
    );
    assert_eq!(recorder.count(), 0);
}

#[tokio::test]
async fn routing_headers_that_disagree_with_the_body_are_refused() {
    let (gateway, recorder) = setup().await;
    for headers in [
        [("mcp-method", "tools/list"), ("mcp-name", "greet")],
        [
            ("mcp-method", "tools/call"),
            ("mcp-name", "delete_everything"),
        ],
    ] {
        let (status, body) = refusal(post(&gateway, CALL, &headers).await).await;
        assert_eq!(status, 400, "{headers:?}");
        assert_eq!(body["error"]["code"], -32020, "{headers:?}");
        assert_eq!(body["id"], 7, "the error answers the request's id");
    }
    assert_eq!(recorder.count(), 0);
}

#[tokio::test]
async fn a_body_that_says_two_things_is_refused() {
    let (gateway, recorder) = setup().await;
    let two_methods =
        r#"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":{"name":"x"}}"#;
    let two_names =
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}"#;
    for body in [two_methods, two_names] {
        let (status, _) = refusal(post(&gateway, body, &[]).await).await;
        assert_eq!(status, 400, "{body}");
    }
    assert_eq!(recorder.count(), 0);
}

#[tokio::test]
async fn what_is_not_json_rpc_is_refused_with_the_matching_code() {
    let (gateway, recorder) = setup().await;
    for (body, code) in [
        ("not json", -32700),
        ("{", -32700),
        ("{}", -32600),
        (r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#, -32602),
    ] {
        let (status, reply) = refusal(post(&gateway, body, &[]).await).await;
        assert_eq!(
            (status, reply["error"]["code"].as_i64()),
            (400, Some(code)),
            "{body}"
        );
    }
    assert_eq!(recorder.count(), 0);
}

#[tokio::test]
async fn a_get_or_delete_with_a_body_is_refused() {
    let (gateway, recorder) = setup().await;
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let response = reqwest::Client::new()
            .request(method.clone(), gateway.url("demo"))
            .bearer_auth("token-alice")
            .body(CALL)
            .send()
            .await
            .unwrap();
        let (status, body) = refusal(response).await;
        assert_eq!(status, 400, "{method}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("carries no body")
        );
    }
    assert_eq!(recorder.count(), 0);
}

#[tokio::test]
async fn keys_that_differ_only_in_case_are_refused() {
    let (gateway, recorder) = setup().await;
    let smuggled = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greet","Name":"delete_everything"}}"#;
    let (status, body) = refusal(post(&gateway, smuggled, &[]).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_i64()),
        (400, Some(-32600))
    );
    assert_eq!(recorder.count(), 0);
}
