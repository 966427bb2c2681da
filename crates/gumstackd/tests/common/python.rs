//! The official Python MCP SDK (PyPI `mcp` 2.x, the 2026-07-28 client), run from the virtual
//! environment scripts/test makes in tests/py/.venv. A test never installs it; a missing one
//! fails the test with what to run (under `CI=true` too: never a skip).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use serde_json::Value;

use super::repo_root;

/// The pinned version of `mcp` in tests/py/requirements.txt.
fn pinned() -> String {
    let text = std::fs::read_to_string(repo_root().join("tests/py/requirements.txt"))
        .expect("tests/py/requirements.txt");
    text.lines()
        .find_map(|line| line.trim().strip_prefix("mcp=="))
        .expect("tests/py/requirements.txt pins mcp")
        .to_owned()
}

/// The venv's python, with the pinned SDK installed; or a failure that says how to get it.
fn python() -> PathBuf {
    let python = repo_root().join("tests/py/.venv/bin/python");
    let setup = "python3 -m venv tests/py/.venv && tests/py/.venv/bin/pip install -r tests/py/requirements.txt \
                 (scripts/test does it)";
    let out = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('mcp'))",
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "the Python MCP SDK is required but {} cannot run ({e}): {setup}",
                python.display()
            )
        });
    let installed = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success() && installed == pinned(),
        "tests/py/.venv must hold mcp=={} (it holds {installed:?}; {}): {setup}",
        pinned(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    python
}

/// A running tests/py/elicit_client.py: its JSON lines as they come, its stdin to answer.
pub struct PyClient {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl PyClient {
    /// Calls `tool` with `arguments` at `mcp_url` with the bearer `token`.
    pub fn call(mcp_url: &str, token: &str, tool: &str, arguments: &Value) -> Self {
        let mut child = Command::new(python())
            .arg(repo_root().join("tests/py/elicit_client.py"))
            .args([mcp_url, token, tool, &arguments.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = super::node::reader(child.stderr.take().unwrap());
        Self {
            child,
            stdin,
            lines,
            stderr,
        }
    }

    /// The next JSON line (at most a minute).
    pub fn next(&mut self) -> Value {
        match self.lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}")),
            Err(RecvTimeoutError::Timeout) => panic!("the Python client said nothing for a minute"),
            Err(RecvTimeoutError::Disconnected) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let stderr = std::mem::replace(&mut self.stderr, std::thread::spawn(String::new));
                panic!(
                    "the Python client ended early; its stderr:\n{}",
                    stderr.join().unwrap()
                )
            }
        }
    }

    /// Answers the elicitation the client is showing (`accept`, `decline`, `cancel`).
    pub fn answer(&mut self, action: &str) {
        writeln!(self.stdin, "{action}").unwrap();
        self.stdin.flush().unwrap();
    }
}

impl Drop for PyClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
