//! What the gateway answers itself: DNS-rebinding checks, the platform's refusals, methods.

mod common;

use axum::{Router, routing::any};
use common::{FakeBackend, FakeServer, Recorder, TestGateway, error_code};
use gumstack_gateway::ToolAccess;

const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
const METADATA: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp/demo";

/// A gateway with `demo` (a recorded upstream that answers 200), `off` (disabled) and
/// `locked` (alice is denied).
async fn setup() -> (TestGateway, Recorder) {
    let recorder = Recorder::default();
    let upstream =
        common::serve(recorder.record(Router::new().route("/mcp", any(|| async { "ok" })))).await;
    let backend = FakeBackend::default().with_server("demo", upstream);
    backend.add(
        "off",
        FakeServer {
            id: "server-off".to_owned(),
            upstream,
            disabled: true,
            denied: Vec::new(),
            tools: ToolAccess::allow_all(),
            user_credentials: true,
        },
    );
    backend.add(
        "locked",
        FakeServer {
            id: "server-locked".to_owned(),
            upstream,
            disabled: false,
            denied: vec!["alice".to_owned()],
            tools: ToolAccess::allow_all(),
            user_credentials: true,
        },
    );
    (TestGateway::start(backend).await, recorder)
}

async fn post(gateway: &TestGateway, slug: &str, auth: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(gateway.url(slug)).body(PING);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn without_a_token_the_challenge_points_at_the_resource_metadata() {
    let (gateway, recorder) = setup().await;
    for auth in [None, Some("Basic YWxpY2U6cHc="), Some("Bearer ")] {
        let response = post(&gateway, "demo", auth).await;
        assert_eq!(response.status(), 401, "{auth:?}");
        assert_eq!(
            response.headers()["www-authenticate"],
            format!("Bearer resource_metadata=\"{METADATA}\""),
            "{auth:?}"
        );
        assert_eq!(error_code(response).await, "unauthorized");
    }
    assert_eq!(recorder.count(), 0);
}

#[tokio::test]
async fn a_refused_token_gets_invalid_token_with_the_escaped_reason() {
    let (gateway, recorder) = setup().await;
    let response = post(&gateway, "demo", Some("Bearer expired")).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        format!(
            "Bearer resource_metadata=\"{METADATA}\", error=\"invalid_token\", \
             error_description=\"the token is expired or was \\\"revoked\\\"\""
        )
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(
        body["error"]["message"],
        "the token is expired or was \"revoked\""
    );
    assert_eq!(recorder.count(), 0);
}

#[tokio::test]
async fn refusals_map_to_404_503_and_403() {
    let (gateway, recorder) = setup().await;
    let token = Some("Bearer token-alice");

    let response = post(&gateway, "nope", token).await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "not_found");

    let response = post(&gateway, "off", token).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    assert_eq!(body["error"]["message"], "the server is disabled");

    let response = post(&gateway, "locked", token).await;
    assert_eq!(response.status(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden");
    assert_eq!(body["error"]["message"], "permission denied");

    assert_eq!(recorder.count(), 0);
    assert_eq!(
        post(&gateway, "locked", Some("Bearer token-bob"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn other_methods_are_405_with_allow() {
    let (gateway, recorder) = setup().await;
    for method in ["PUT", "PATCH", "OPTIONS", "HEAD"] {
        let response = reqwest::Client::new()
            .request(method.parse().unwrap(), gateway.url("demo"))
            .bearer_auth("token-alice")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(response.headers()["allow"], "GET, POST, DELETE");
    }
    assert_eq!(recorder.count(), 0);
}

#[tokio::test]
async fn a_foreign_host_is_refused_before_authorization() {
    let (gateway, recorder) = setup().await;
    let send = |host: &'static str| {
        reqwest::Client::new()
            .post(gateway.url("demo"))
            .header("host", host)
            .bearer_auth("token-alice")
            .body(PING)
            .send()
    };
    let response = send("evil.example").await.unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(error_code(response).await, "host_not_allowed");
    let response = send("mcp.example.com:8443").await.unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(recorder.count(), 0);

    // The public name, with or without its default port, in any case.
    for host in ["mcp.example.com", "MCP.Example.com:443"] {
        assert_eq!(send(host).await.unwrap().status(), 200, "{host}");
    }
}

#[tokio::test]
async fn an_origin_must_be_the_public_origin_when_present() {
    let (gateway, recorder) = setup().await;
    let send = |origin: Option<&'static str>| {
        let mut request = reqwest::Client::new()
            .post(gateway.url("demo"))
            .bearer_auth("token-alice")
            .body(PING);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    let response = send(Some("https://evil.example")).await.unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(error_code(response).await, "origin_not_allowed");
    assert_eq!(send(Some("null")).await.unwrap().status(), 403);
    assert_eq!(recorder.count(), 0);

    assert_eq!(
        send(Some("https://mcp.example.com"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(send(None).await.unwrap().status(), 200);
    let response = send(None).await.unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
