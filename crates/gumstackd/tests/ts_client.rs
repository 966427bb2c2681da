//! A real MCP client written by others, the official TypeScript SDK
//! (`@modelcontextprotocol/sdk`, pinned in tests/js/package.json), goes through the platform's
//! whole OAuth flow against the real `gumstackd demo` and calls tools through the gateway:
//! discovery from the gateway's 401, dynamic registration, PKCE S256 with `resource`, the login
//! form of the test account, consent, the code exchange, tool calls carrying the caller's
//! identity, and a refresh after the access token stops working.
//!
//! The client is tests/js/oauth-client.mjs, run with `node`. This test needs Node.js (≥ 20) and
//! `npm ci --prefix tests/js`; it never installs anything itself, and it fails (never skips)
//! when either is missing.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::node::{installed_sdk, node_version, reader};
use common::{Running, repo_root};
use serde_json::Value;

const EMAIL: &str = "admin@gumstack.local";
const NODE_TIMEOUT: Duration = Duration::from_secs(150);

/// Runs the script to its end (killing it after `NODE_TIMEOUT`); (success, stdout, stderr).
fn run_node(js_dir: &Path, args: &[&str]) -> (bool, String, String) {
    let mut child: Child = Command::new("node")
        .arg(js_dir.join("oauth-client.mjs"))
        .args(args)
        .current_dir(js_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    let stdout = reader(child.stdout.take().unwrap());
    let stderr = reader(child.stderr.take().unwrap());
    let deadline = Instant::now() + NODE_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    match status {
        Some(status) => (status.success(), stdout, stderr),
        None => (
            false,
            stdout,
            format!("{stderr}\n(killed: no exit after {NODE_TIMEOUT:?})"),
        ),
    }
}

#[test]
fn typescript_sdk_client_completes_oauth_and_calls_tools_through_the_gateway() {
    let node = node_version();
    let js_dir = repo_root().join("tests/js");
    let sdk = installed_sdk(&js_dir);
    eprintln!("node {node}, @modelcontextprotocol/sdk {sdk}");

    let data_dir = tempfile::tempdir().unwrap();
    let mut demo = Running::demo(data_dir.path());
    let base = demo.read_until("dashboard: ");
    let login = demo.read_until("login: ");
    let (email, password) = login
        .split_once(" / ")
        .unwrap_or_else(|| panic!("login line: {login}"));
    assert_eq!(email, EMAIL);
    let server = demo.read_until("server: greeter ");
    let mcp_url = server
        .split_whitespace()
        .last()
        .unwrap_or_else(|| panic!("server line: {server}"))
        .to_owned();
    assert_eq!(mcp_url, format!("{base}/mcp/greeter"));

    let (ok, stdout, stderr) = run_node(&js_dir, &[&mcp_url, email, password]);
    assert!(
        ok,
        "the TypeScript SDK client failed\n--- its stderr:\n{stderr}\n--- its stdout:\n{stdout}"
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_else(|| panic!("no output from the client; stderr:\n{stderr}"));
    let result: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("the client's last line is not JSON ({e}): {line}"));
    let ctx = format!("client result: {result}\n--- its stderr:\n{stderr}");

    assert_eq!(result["ok"], true, "{ctx}");
    assert_eq!(result["sdk_version"], sdk.as_str(), "{ctx}");

    // OAuth as the SDK did it: discovery led it to our issuer and resource, one registration,
    // one authorization (PKCE S256, RFC 8707 resource), RFC 9207 `iss` on the redirect.
    assert_eq!(result["issuer"], base.as_str(), "{ctx}");
    assert_eq!(result["resource"], mcp_url.as_str(), "{ctx}");
    assert_eq!(result["authorize_resource"], mcp_url.as_str(), "{ctx}");
    assert_eq!(result["code_challenge_method"], "S256", "{ctx}");
    assert_eq!(result["callback_iss"], base.as_str(), "{ctx}");
    assert_eq!(result["registrations"], 1, "{ctx}");
    assert_eq!(result["authorizations"], 1, "{ctx}");

    // The tools, through the gateway, with the developer's env var and the caller's identity.
    let tools: Vec<&str> = result["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{ctx}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        tools.contains(&"greet") && tools.contains(&"whoami"),
        "{ctx}"
    );
    assert_eq!(result["greet"], "Hello, Ada!", "{ctx}");
    let whoami = result["whoami"].as_str().unwrap_or_default();
    assert!(whoami.contains(EMAIL), "whoami names the caller; {ctx}");

    // Exactly one code exchange and exactly one refresh, which gave a working new access token.
    assert_eq!(result["token_requests"]["authorization_code"], 1, "{ctx}");
    assert_eq!(result["token_requests"]["refresh_token"], 1, "{ctx}");
    assert_eq!(
        result["token_requests"].as_object().map(|m| m.len()),
        Some(2),
        "no other grant; {ctx}"
    );
    assert_eq!(result["token_statuses"]["refresh_token"][0], 200, "{ctx}");
    assert_eq!(result["refreshed"], true, "{ctx}");
    assert_eq!(result["access_token_changed"], true, "{ctx}");
    assert_eq!(result["greet_after_refresh"], "Hello, Ada!", "{ctx}");

    drop(demo);
}
