//! Permission groups end to end: `gumstackd demo` hosts the greeter example; a member of a
//! group that denies `greet` logs in with the official Rust SDK's OAuth client, does not see
//! `greet` in `tools/list`, gets the documented JSON-RPC error when calling it anyway, and
//! can call it on the next call once an admin allows it — no restart, no new login.

mod common;

use common::oauth_demo::token_for;
use common::{Api, OAuthMcp, Running, text_of};
use rmcp::model::CallToolRequestParams;
use serde_json::json;

async fn tool_names(mcp: &OAuthMcp) -> Vec<String> {
    let tools = mcp
        .service
        .list_all_tools()
        .await
        .expect("tools/list answers");
    tools
        .into_iter()
        .map(|tool| tool.name.into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_tool_is_hidden_and_refused_until_an_admin_allows_it() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("demo");
    let mut demo = Running::demo(&data_dir);
    let base = demo.read_until("dashboard: ");
    demo.read_until("login: ");
    let api = Api::new(&base, token_for(&data_dir));

    let password = "a long enough password for the intern";
    let access = api
        .intern_denied_greet("intern@example.com", password)
        .await;

    let mcp = OAuthMcp::connect(
        &base,
        &format!("{base}/mcp/greeter"),
        "intern@example.com",
        password,
    )
    .await;
    let names = tool_names(&mcp).await;
    assert!(!names.iter().any(|name| name == "greet"), "{names:?}");
    assert!(names.iter().any(|name| name == "whoami"), "{names:?}");

    let mut params = CallToolRequestParams::new("greet");
    params = params.with_arguments(json!({ "name": "Ada" }).as_object().unwrap().clone());
    let denied = mcp
        .service
        .call_tool(params.clone())
        .await
        .expect_err("the gateway refuses a denied tool");
    let text = denied.to_string();
    assert!(
        text.contains("-32003") && text.contains("permission denied"),
        "{text}"
    );
    // Other tools keep working.
    assert!(text_of(&mcp.call("whoami", json!({})).await).contains("intern@example.com"));

    // The admin allows it: the next call works, with the same login and session.
    let (status, body) = api
        .send(
            reqwest::Method::PUT,
            &access,
            Some(json!({ "enabled": true, "default": "allow", "tools": {} })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(tool_names(&mcp).await.iter().any(|name| name == "greet"));
    assert_eq!(
        text_of(&mcp.call("greet", json!({ "name": "Ada" })).await),
        "Hello, Ada!"
    );

    // A group may also be kept off the server entirely: 403 at the gateway.
    let (status, _) = api
        .send(
            reqwest::Method::PUT,
            &access,
            Some(json!({ "enabled": false, "default": "allow", "tools": {} })),
        )
        .await;
    assert_eq!(status, 200);
    let response = reqwest::Client::new()
        .post(format!("{base}/mcp/greeter"))
        .bearer_auth(mcp.access_token().await)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("your group may not use this server")
    );
    drop(mcp);
    demo.signal("TERM");
}
