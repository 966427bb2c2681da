//! A stand-in for server processes: a [`Runtime`] whose deployments are small in-process MCP
//! servers on loopback ports. Each answers `initialize`, `tools/list` (paged, or a JSON-RPC
//! error) and `tools/call` as its [`Behaviour`] says, records the `Gumstack-Identity` of every
//! request, and "prints" output lines, including env values when asked to.

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
}

#[derive(Debug, Default)]
struct Shared {
    behaviour: Mutex<Behaviour>,
    seen: Mutex<Vec<Seen>>,
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
        "tools/call" => json!({
            "content": [{ "type": "text", "text": format!("called {}", body["params"]["name"].as_str().unwrap_or_default()) }],
            "isError": false,
        }),
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
