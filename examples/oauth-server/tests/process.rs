//! The `example-oauth-server` binary as the platform (or a developer) starts it: a child
//! process with an environment built from scratch.

use std::{process::Stdio, time::Duration};

use example_oauth_server::fingerprint;
use gumstack::testing::{TEST_ACCESS_TOKEN, TestPlatform, TestProvider};
use rmcp::{
    ServiceExt,
    model::{CallToolRequestParams, ClientConfig},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    time::timeout,
};

const BINARY: &str = env!("CARGO_BIN_EXE_example-oauth-server");

fn server(vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env_clear()
        .envs(vars.iter().copied())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs the server until it exits; returns whether it succeeded and its log.
async fn run_to_exit(vars: &[(&str, &str)]) -> (bool, String) {
    let output = timeout(Duration::from_secs(30), server(vars).output())
        .await
        .expect("the server exits")
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn without_environment_it_refuses_to_start_and_says_how_to_run_locally() {
    let (success, log) = run_to_exit(&[("PORT", "0"), ("LOCAL_ACCESS_TOKEN", "at")]).await;
    assert!(!success, "{log}");
    assert!(log.contains("ENVIRONMENT is not set"), "{log}");
    assert!(log.contains("set ENVIRONMENT=local"), "{log}");
}

#[tokio::test]
async fn production_without_the_platform_variables_refuses_to_start() {
    let vars = [("ENVIRONMENT", "production"), ("PORT", "4100")];
    let (success, log) = run_to_exit(&vars).await;
    assert!(!success, "{log}");
    assert!(log.contains("GUMSTACK_SERVER_ID is not set"), "{log}");
}

/// Starts the server; returns it and its MCP URL once it listens.
async fn start(vars: &[(&str, &str)]) -> (Child, String) {
    let mut child = server(vars).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(at) = line.find("listening on http://") {
                return line[at + "listening on ".len()..].trim().to_owned();
            }
        }
        panic!("the server exited before listening");
    })
    .await
    .expect("the server starts listening");
    // Keep draining the log so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

/// Sends SIGTERM (how the platform stops a deployment) and waits for a clean exit.
#[cfg(unix)]
async fn stop(mut child: Child) {
    let pid = child.id().unwrap().to_string();
    let kill = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(kill.success());
    let status = timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the server stops")
        .unwrap();
    assert!(status.success(), "{status}");
}

#[cfg(unix)]
#[tokio::test]
async fn local_mode_serves_the_profile_and_stops_on_sigterm() {
    let idp = TestProvider::start().await;
    let userinfo = idp.userinfo_url();
    let vars = [
        ("ENVIRONMENT", "local"),
        ("PORT", "0"),
        ("LOCAL_ACCESS_TOKEN", TEST_ACCESS_TOKEN),
        ("OAUTH_USERINFO_URL", &userinfo),
    ];
    let (child, url) = start(&vars).await;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url),
    );
    let client = ClientConfig::default().serve(transport).await.unwrap();
    let result = client
        .call_tool(CallToolRequestParams::new("provider_profile"))
        .await
        .unwrap();
    let profile: Value = serde_json::from_str(&result.content[0].as_text().unwrap().text).unwrap();
    assert_eq!(profile["email"], "ada@provider.example");
    assert_eq!(profile["token_fingerprint"], fingerprint(TEST_ACCESS_TOKEN));
    client.cancel().await.unwrap();
    stop(child).await;
}

/// A port that was free a moment ago (production needs a fixed `PORT`).
async fn free_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[cfg(unix)]
#[tokio::test]
async fn in_production_it_answers_only_calls_the_platform_signed() {
    let platform = TestPlatform::start().await;
    let idp = TestProvider::start().await;
    let port = free_port().await.to_string();
    let (authorize, token, userinfo) = (idp.authorize_url(), idp.token_url(), idp.userinfo_url());
    let vars = [
        ("ENVIRONMENT", "production"),
        ("PORT", port.as_str()),
        ("GUMSTACK_SERVER_ID", platform.server_id()),
        ("GUMSTACK_BACKEND_URL", platform.backend_url()),
        ("GUMSTACK_SERVER_TOKEN", platform.server_token()),
        ("OAUTH_CLIENT_ID", "provider-account"),
        ("OAUTH_CLIENT_SECRET", "pa-secret"),
        ("OAUTH_AUTHORIZE_URL", &authorize),
        ("OAUTH_TOKEN_URL", &token),
        ("OAUTH_USERINFO_URL", &userinfo),
    ];
    let (child, url) = start(&vars).await;
    let base_url = url.trim_end_matches("/mcp");

    let response = platform
        .provider_call(
            base_url,
            "oidc",
            "nickname",
            &json!({ "access_token": TEST_ACCESS_TOKEN }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "nickname": "ada@provider.example", "subject": "test-user" })
    );

    let unsigned = reqwest::Client::new()
        .post(format!("{base_url}/gumstack/providers/oidc/nickname"))
        .json(&json!({ "access_token": TEST_ACCESS_TOKEN }))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    // Only the signed call reached the provider.
    assert_eq!(idp.requests().len(), 1);
    stop(child).await;
}
