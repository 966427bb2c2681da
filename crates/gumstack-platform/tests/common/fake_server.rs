//! A stand-in for server processes: a [`Runtime`] whose deployments are small in-process MCP
//! servers on loopback ports. Each answers `initialize`, `tools/list` (paged, or a JSON-RPC
//! error) and `tools/call` as its [`Behaviour`] says, records the `Gumstack-Identity` of every
//! request, and "prints" output lines, including env values when asked to. The runtime keeps
//! each deployment's server token, as a process would read it from its environment.
//!
//! Long calls: the tool [`WAIT`] answers only once the test opens the gate
//! ([`FakeRuntime::open_gate`]); the tool [`STREAM`] answers with an event stream whose first
//! event (a progress notification) comes at once and whose answer comes when the gate opens.
//! [`FakeRuntime::arrived`] waits until a number of `tools/call`s have reached the servers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use gumstack_runtime::{Deployment, DeploymentStatus, LaunchSpec, Runtime, StartError};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::sync::watch;

/// A tool that answers once the gate is open.
pub const WAIT: &str = "wait";
/// A tool that answers with an event stream: a progress event at once, the answer once the
/// gate is open.
pub const STREAM: &str = "stream";

/// What the fake servers do. Changed between deployments by the test.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// `tools/list` pages: (name, description) per tool.
    pub pages: Vec<Vec<(String, String)>>,
    /// `tools/list` answers this JSON-RPC error message instead.
    pub list_error: Option<String>,
    /// Env vars whose value the process prints at start (as a careless server would).
    pub print_env: Vec<String>,
}

/// A request a fake server received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub identity: Option<String>,
    /// The `Gumstack-Call` of the request.
    pub call: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    behaviour: Mutex<Behaviour>,
    seen: Mutex<Vec<Seen>>,
    /// `GUMSTACK_SERVER_TOKEN` of each deployment started, by `GUMSTACK_SERVER_ID`, latest last.
    tokens: Mutex<Vec<(String, String)>>,
    /// Open: [`WAIT`] and [`STREAM`] answer.
    gate: watch::Sender<bool>,
    /// How many `tools/call`s have arrived.
    arrived: watch::Sender<usize>,
}

/// The runtime the harness gives the platform.
#[derive(Debug, Clone, Default)]
pub struct FakeRuntime {
    shared: Arc<Shared>,
}

impl FakeRuntime {
    pub fn set(&self, behaviour: Behaviour) {
        *self.shared.behaviour.lock().unwrap() = behaviour;
    }

    /// Every request the fake servers received, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// The server token of the latest deployment of `server_id`.
    pub fn server_token(&self, server_id: &str) -> String {
        self.shared
            .tokens
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(server, _)| server == server_id)
            .map(|(_, token)| token.clone())
            .unwrap_or_else(|| panic!("no deployment of {server_id} started"))
    }

    /// Lets the waiting calls answer (and every later one at once).
    pub fn open_gate(&self) {
        self.shared.gate.send_replace(true);
    }

    /// Makes the next calls wait again.
    pub fn close_gate(&self) {
        self.shared.gate.send_replace(false);
    }

    /// Waits until `count` `tools/call`s have reached the servers.
    pub async fn arrived(&self, count: usize) {
        let mut arrived = self.shared.arrived.subscribe();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            arrived.wait_for(|n| *n >= count),
        )
        .await
        .expect("the calls reached the server")
        .unwrap();
    }
}

/// Tools as pages: `[["a", "b"], ["c"]]`, each described as "does <name>".
pub fn pages(names: &[&[&str]]) -> Vec<Vec<(String, String)>> {
    names
        .iter()
        .map(|page| {
            page.iter()
                .map(|name| ((*name).to_owned(), format!("does {name}")))
                .collect()
        })
        .collect()
}

#[async_trait::async_trait]
impl Runtime for FakeRuntime {
    async fn start(&self, spec: LaunchSpec) -> Result<Box<dyn Deployment>, StartError> {
        let behaviour = self.shared.behaviour.lock().unwrap().clone();
        let mut logs = vec![format!("{} starting", spec.name)];
        for name in &behaviour.print_env {
            if let Some((_, value)) = spec.env.iter().find(|(n, _)| n == name) {
                logs.push(format!("config: {name}={}", value.expose_secret()));
            }
        }
        logs.push("listening".to_owned());
        let env = |name: &str| {
            spec.env
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, value)| value.expose_secret().to_owned())
        };
        if let (Some(server), Some(token)) =
            (env("GUMSTACK_SERVER_ID"), env("GUMSTACK_SERVER_TOKEN"))
        {
            self.shared.tokens.lock().unwrap().push((server, token));
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(StartError::Port)?;
        let addr = listener.local_addr().map_err(StartError::Port)?;
        let app = axum::Router::new()
            .route("/mcp", post(mcp))
            .with_state((Arc::clone(&self.shared), Arc::new(behaviour)));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let (status, _) = watch::channel(DeploymentStatus::Live);
        Ok(Box::new(FakeDeployment {
            addr,
            logs,
            task,
            status,
        }))
    }
}

#[derive(Debug)]
struct FakeDeployment {
    addr: SocketAddr,
    logs: Vec<String>,
    task: tokio::task::JoinHandle<()>,
    status: watch::Sender<DeploymentStatus>,
}

#[async_trait::async_trait]
impl Deployment for FakeDeployment {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
    fn status(&self) -> watch::Receiver<DeploymentStatus> {
        self.status.subscribe()
    }
    fn pid(&self) -> Option<u32> {
        None
    }
    fn logs(&self) -> Vec<String> {
        self.logs.clone()
    }
    fn containment(&self) -> gumstack_runtime::Containment {
        gumstack_runtime::Containment {
            uid: None,
            missing: vec!["an in-process test server, not a process".to_owned()],
        }
    }
    async fn stop(&self) {
        self.task.abort();
        self.status.send_replace(DeploymentStatus::Stopped);
    }
}

impl Drop for FakeDeployment {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type FakeState = (Arc<Shared>, Arc<Behaviour>);

async fn mcp(
    State((shared, behaviour)): State<FakeState>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let method = body["method"].as_str().unwrap_or_default().to_owned();
    shared.seen.lock().unwrap().push(Seen {
        method: method.clone(),
        identity: headers
            .get("gumstack-identity")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        call: headers
            .get("gumstack-call")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    let id = body["id"].clone();
    let result = match method.as_str() {
        "initialize" => json!({
            "protocolVersion": "2025-06-18",
            "capabilities": { "tools": {} },
            "serverInfo": { "name": "fake", "version": "1" },
        }),
        "notifications/initialized" => return StatusCode::ACCEPTED.into_response(),
        "tools/list" => {
            if let Some(message) = &behaviour.list_error {
                return Json(json!({
                    "jsonrpc": "2.0", "id": id,
                    "error": { "code": -32603, "message": message },
                }))
                .into_response();
            }
            let page: usize = body["params"]["cursor"]
                .as_str()
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let tools: Vec<Value> = behaviour
                .pages
                .get(page)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|(name, description)| {
                    json!({ "name": name, "description": description, "inputSchema": { "type": "object" } })
                })
                .collect();
            let mut result = json!({ "tools": tools });
            if page + 1 < behaviour.pages.len() {
                result["nextCursor"] = json!((page + 1).to_string());
            }
            // Answered as an event stream, as Streamable HTTP servers may.
            let event = json!({ "jsonrpc": "2.0", "id": id, "result": result });
            return (
                [(header::CONTENT_TYPE, "text/event-stream")],
                format!("event: message\ndata: {event}\n\n"),
            )
                .into_response();
        }
        "tools/call" => {
            shared.arrived.send_modify(|n| *n += 1);
            let tool = body["params"]["name"].as_str().unwrap_or_default();
            if tool == STREAM {
                return streamed(&shared, id);
            }
            if tool == WAIT {
                gate_opened(&shared).await;
            }
            json!({
            "content": [{ "type": "text", "text": format!("called {}", body["params"]["name"].as_str().unwrap_or_default()) }],
            "isError": false,
            })
        }
        _ => {
            return Json(json!({
                "jsonrpc": "2.0", "id": id,
                "error": { "code": -32601, "message": "method not found" },
            }))
            .into_response();
        }
    };
    Json(json!({ "jsonrpc": "2.0", "id": id, "result": result })).into_response()
}

/// Resolves once the gate is open.
async fn gate_opened(shared: &Shared) {
    let mut gate = shared.gate.subscribe();
    let _ = gate.wait_for(|open| *open).await;
}

/// The answer to [`STREAM`]: an event stream with a progress notification at once and the
/// result once the gate opens.
fn streamed(shared: &Arc<Shared>, id: Value) -> Response {
    let progress = json!({
        "jsonrpc": "2.0",
        "method": "notifications/progress",
        "params": { "progressToken": 1, "progress": 1 },
    });
    let result = json!({
        "jsonrpc": "2.0", "id": id,
        "result": { "content": [{ "type": "text", "text": "streamed" }], "isError": false },
    });
    let events = futures_util::stream::unfold((0, Arc::clone(shared)), move |(step, shared)| {
        let (progress, result) = (progress.clone(), result.clone());
        async move {
            let event = match step {
                0 => progress,
                1 => {
                    gate_opened(&shared).await;
                    result
                }
                _ => return None,
            };
            let chunk = format!("event: message\ndata: {event}\n\n");
            Some((Ok::<_, std::convert::Infallible>(chunk), (step + 1, shared)))
        }
    });
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        axum::body::Body::from_stream(events),
    )
        .into_response()
}
