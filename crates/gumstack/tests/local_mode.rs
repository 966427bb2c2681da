//! A host in local mode (`ENVIRONMENT=local`), driven by a real rmcp client over a real socket.

mod common;

use common::{NONE_CONFIG, TestServer, call_text, local_env, name};
use serde_json::{Value, json};

#[tokio::test]
async fn lists_the_handlers_tools() {
    let server = TestServer::start(NONE_CONFIG, local_env(&[])).await;
    let client = server.client().await;
    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "async_credential",
            "provider_credential",
            "report_token",
            "sync_credential",
            "whoami",
            "whoami_in_gumstack_spawn",
            "whoami_in_tokio_spawn",
        ]
    );
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
}

#[tokio::test]
async fn credentials_come_from_local_variables() {
    let env = local_env(&[
        ("LOCAL_GREETING", "Howdy"),
        ("GREETING", "production value"),
    ]);
    let server = TestServer::start(NONE_CONFIG, env).await;
    let client = server.client().await;
    for tool in ["sync_credential", "async_credential"] {
        assert_eq!(
            call_text(&client, tool, name("greeting")).await,
            (false, "Howdy".to_owned()),
            "{tool}"
        );
    }
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_missing_required_credential_is_a_tool_error_naming_the_variable() {
    let server = TestServer::start(NONE_CONFIG, local_env(&[("GREETING", "Hi")])).await;
    let client = server.client().await;
    for tool in ["sync_credential", "async_credential"] {
        let (is_error, text) = call_text(&client, tool, name("greeting")).await;
        assert!(is_error, "{tool}: {text}");
        assert!(text.contains("misconfigured"), "{text}");
        assert!(text.contains("LOCAL_GREETING"), "{text}");
    }
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_missing_optional_credential_is_absent_until_required() {
    let server = TestServer::start(NONE_CONFIG, local_env(&[("LOCAL_GREETING", "Hi")])).await;
    let client = server.client().await;
    let (is_error, text) = call_text(&client, "sync_credential", name("farewell")).await;
    assert!(is_error, "{text}");
    assert!(text.contains("LOCAL_FAREWELL"), "{text}");
    let (is_error, text) = call_text(&client, "sync_credential", name("undeclared")).await;
    assert!(is_error, "{text}");
    assert!(text.contains("not declared in config.yaml"), "{text}");
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
}

#[tokio::test]
async fn the_caller_is_the_local_user_also_in_tasks_started_with_gumstack_spawn() {
    let server = TestServer::start(NONE_CONFIG, local_env(&[])).await;
    let client = server.client().await;
    assert_eq!(
        call_text(&client, "whoami", json!({})).await,
        (false, "local <local@localhost>".to_owned())
    );
    assert_eq!(
        call_text(&client, "whoami_in_gumstack_spawn", json!({})).await,
        (false, "local".to_owned())
    );
    let (is_error, text) = call_text(&client, "whoami_in_tokio_spawn", json!({})).await;
    assert!(is_error, "{text}");
    assert!(text.contains("no authentication context"), "{text}");
    client.cancel().await.unwrap();
    server.stop().await.unwrap();
}

#[tokio::test]
async fn health_check_answers_ok() {
    let server = TestServer::start(NONE_CONFIG, local_env(&[])).await;
    let response = reqwest::get(format!("{}/health_check", server.url))
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "status": "ok" }));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn requests_for_other_host_names_are_refused() {
    let server = TestServer::start(NONE_CONFIG, local_env(&[])).await;
    let response = reqwest::Client::new()
        .post(format!("{}/mcp", server.url))
        .header("Host", "attacker.example")
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::FORBIDDEN);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_stops_the_host_cleanly() {
    let server = TestServer::start(NONE_CONFIG, local_env(&[])).await;
    let client = server.client().await;
    client.cancel().await.unwrap();
    let addr = server.addr;
    server.stop().await.unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
