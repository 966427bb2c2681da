//! Runs the real `gumstackd` binary and the example servers, as a user would.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::Value;

pub fn gumstackd() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gumstackd"))
}

/// A binary of another workspace package, built next to gumstackd by `cargo build --workspace`
/// (and by `cargo nextest run --workspace`).
pub fn sibling_binary(name: &str) -> PathBuf {
    let path = gumstackd().with_file_name(name);
    assert!(
        path.is_file(),
        "{} is missing: build the whole workspace (cargo build --workspace) before these tests",
        path.display()
    );
    path
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A running `gumstackd`, killed when dropped.
pub struct Running {
    pub child: Child,
    pub stdout: BufReader<ChildStdout>,
    pub lines: Vec<String>,
}

impl Running {
    pub fn start(args: &[&str], extra_env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(gumstackd());
        command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in extra_env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("gumstackd starts");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self {
            child,
            stdout,
            lines: Vec::new(),
        }
    }

    /// Reads stdout until a line starting with `prefix` (60 s at most); returns the rest of it.
    pub fn read_until(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(
                Instant::now() < deadline,
                "no `{prefix}` line; got {:?}",
                self.lines
            );
            let mut line = String::new();
            let n = self.stdout.read_line(&mut line).unwrap();
            assert!(
                n > 0,
                "gumstackd closed stdout; lines so far: {:?}",
                self.lines
            );
            let line = line.trim_end().to_owned();
            self.lines.push(line.clone());
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.to_owned();
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{signal}");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every descendant process of `pid` (children of all its threads, recursively).
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                out.push(child);
                queue.push(child);
            }
        }
    }
    out
}

/// Whether a process still exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        })
        .unwrap_or(false)
}

/// Waits until every pid is gone (15 s at most).
pub fn assert_all_exit(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while pids.iter().any(|p| alive(*p)) {
        assert!(
            Instant::now() < deadline,
            "still running: {:?}",
            pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Calls one tool over MCP (Streamable HTTP) with the official Rust SDK client; returns the
/// result as JSON.
pub async fn call_tool(url: &str, tool: &str, arguments: Value) -> Value {
    let client = ()
        .serve(StreamableHttpClientTransport::from_uri(url.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("MCP client connects to {url}: {e}"));
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let Value::Object(map) = arguments {
        params = params.with_arguments(map);
    }
    let result = client.call_tool(params).await.expect("tools/call answers");
    let _ = client.cancel().await;
    serde_json::to_value(result).unwrap()
}

/// The text content of a tool result.
pub fn text_of(result: &Value) -> String {
    result["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}
