//! Permission groups with the official TypeScript SDK client (`@modelcontextprotocol/sdk`,
//! tests/js/oauth-client.mjs in `permissions` mode) against the real `gumstackd demo`: a member
//! of a group that denies `greet` logs in through OAuth, does not see `greet` in `tools/list`,
//! gets the documented JSON-RPC error when calling it anyway, and the activity log shows the
//! call as Permission Denied; an admin allows it and the client's next call on the same
//! session succeeds, with no restart and no new login.
//!
//! Needs Node.js (≥ 20) and `npm ci --prefix tests/js`; fails (never skips) without them.

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::node::{installed_sdk, node_version, reader};
use common::oauth_demo::token_for;
use common::{Api, Running, repo_root};
use serde_json::{Value, json};

const EMAIL: &str = "intern@example.com";
const PASSWORD: &str = "a long enough password for the intern";
const LINE_TIMEOUT: Duration = Duration::from_secs(120);

/// A child process killed when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The calls of the intern to `greet` with `status`, waiting for the writer (it batches).
async fn logged_calls(api: &Api, status: &str, expected: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (code, body) = api
            .send(
                reqwest::Method::GET,
                &format!("/api/activity?user={EMAIL}&tool=greet&status={status}"),
                None,
            )
            .await;
        assert_eq!(code, 200, "{body}");
        let calls = body["calls"].as_array().cloned().unwrap_or_default();
        if calls.len() >= expected || Instant::now() >= deadline {
            return calls;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_tool_is_hidden_refused_and_logged_until_an_admin_allows_it() {
    node_version();
    let js_dir = repo_root().join("tests/js");
    let sdk = installed_sdk(&js_dir);

    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("demo");
    let mut demo = Running::demo(&data_dir);
    let base = demo.read_until("dashboard: ");
    demo.read_until("login: ");
    let api = Api::new(&base, token_for(&data_dir));
    let access = api.intern_denied_greet(EMAIL, PASSWORD).await;

    let mut node = KillOnDrop(
        Command::new("node")
            .arg(js_dir.join("oauth-client.mjs"))
            .args([
                &format!("{base}/mcp/greeter"),
                EMAIL,
                PASSWORD,
                "permissions",
            ])
            .current_dir(&js_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node starts"),
    );
    let stderr = reader(node.0.stderr.take().unwrap());
    let (lines_tx, lines) = mpsc::channel();
    let stdout = node.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    // The client is killed when the test ends, whichever way.
    let next_result = |what: &str| -> Option<Value> {
        let line = lines.recv_timeout(LINE_TIMEOUT).ok()?;
        Some(
            serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("the client's {what} line is not JSON ({e}): {line}")),
        )
    };

    let Some(denied) = next_result("denied") else {
        let _ = node.0.kill();
        panic!(
            "no denied line from the client; its stderr:\n{}",
            stderr.join().unwrap()
        );
    };
    assert_eq!(denied["phase"], "denied", "{denied}");
    let tools: Vec<&str> = denied["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        !tools.contains(&"greet"),
        "tools/list hides the denied tool: {tools:?}"
    );
    assert!(tools.contains(&"whoami"), "{tools:?}");
    assert_eq!(denied["denied"]["code"], -32003, "{denied}");
    let message = denied["denied"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("permission denied"), "{message}");

    // The refusal is in the activity log, as Permission Denied.
    let logged = logged_calls(&api, "denied", 1).await;
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0]["server"], "greeter");
    assert_eq!(logged[0]["user"], EMAIL);

    // The admin allows it; the client's next call on the same session works.
    let (status, body) = api
        .send(
            reqwest::Method::PUT,
            &access,
            Some(json!({ "enabled": true, "default": "allow", "tools": {} })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    {
        let stdin = node.0.stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
    }
    let allowed = next_result("allowed");
    let status = node.0.wait().unwrap();
    let stderr = stderr.join().unwrap();
    let Some(allowed) = allowed else {
        panic!("no allowed line from the client ({status}); its stderr:\n{stderr}");
    };
    assert!(status.success(), "the client failed; its stderr:\n{stderr}");
    assert_eq!(allowed["ok"], true, "{allowed}\n{stderr}");
    assert_eq!(allowed["sdk_version"], sdk.as_str());
    assert!(
        allowed["tools_after"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "greet"),
        "{allowed}"
    );
    assert_eq!(allowed["greet"], "Hello, Ada!", "{allowed}");
    let succeeded = logged_calls(&api, "success", 1).await;
    assert_eq!(succeeded.len(), 1, "{succeeded:?}");
    demo.signal("TERM");
}
