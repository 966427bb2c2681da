//! The `example-cred-server` binary as the platform (or a developer) starts it: a child process
//! with an environment built from scratch.

use std::{process::Stdio, time::Duration};

use rmcp::{
    ServiceExt,
    model::{CallToolRequestParams, ClientConfig},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    time::timeout,
};

const BINARY: &str = env!("CARGO_BIN_EXE_example-cred-server");

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
    let (success, log) = run_to_exit(&[("PORT", "0"), ("LOCAL_API_KEY", "sk-test1234")]).await;
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

/// Starts the server in local mode on a free port; returns it and its MCP URL.
async fn start_local(vars: &[(&str, &str)]) -> (Child, String) {
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

#[cfg(unix)]
#[tokio::test]
async fn local_mode_serves_the_key_suffix_and_stops_on_sigterm() {
    let vars = [
        ("ENVIRONMENT", "local"),
        ("PORT", "0"),
        ("LOCAL_API_KEY", "sk-test1234"),
    ];
    let (mut child, url) = start_local(&vars).await;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url),
    );
    let client = ClientConfig::default().serve(transport).await.unwrap();
    let result = client
        .call_tool(CallToolRequestParams::new("key_suffix"))
        .await
        .unwrap();
    assert_eq!(
        result.content[0].as_text().unwrap().text,
        "api_key ends in 1234; region not set"
    );
    client.cancel().await.unwrap();

    // SIGTERM is how the platform stops a deployment: the server shuts down cleanly.
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
