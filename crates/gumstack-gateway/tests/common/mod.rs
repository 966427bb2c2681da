//! Shared helpers: a fake platform [`Backend`] mapping tokens to users, the gateway and
//! upstreams served on real sockets (port 0), and a recorder of what an upstream received.
#![allow(
    dead_code,
    reason = "each test binary uses a different part of the helpers"
)]

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{Router, extract::Request, middleware::Next, response::Response};
use gumstack_gateway::{
    Backend, CallHold, CallLog, Gateway, GatewayLimits, GatewaySettings, Grant, InputNeeded,
    Refusal, ToolAccess,
};
use http::{HeaderMap, HeaderValue};
use tokio::net::TcpListener;

/// The public base URL the test gateway announces.
pub const PUBLIC_BASE: &str = "https://mcp.example.com";

/// A server as the fake platform knows it.
#[derive(Debug, Clone)]
pub struct FakeServer {
    pub id: String,
    pub upstream: SocketAddr,
    pub disabled: bool,
    /// Users RBAC denies.
    pub denied: Vec<String>,
    /// The tools every caller may call.
    pub tools: ToolAccess,
    /// Whether it takes per-user credentials (auth types `oauth`, `cred`).
    pub user_credentials: bool,
}

/// Tokens `token-{user}` belong to `{user}`; anything else is invalid.
#[derive(Debug, Default)]
pub struct FakeBackend {
    servers: Mutex<HashMap<String, FakeServer>>,
    live: LiveCalls,
    needed: NeededCalls,
}

/// Calls a test's server marked as needing the user's input (as `/internal` does when it
/// answers 409 `credentials_required`), with the user of each.
#[derive(Debug, Clone, Default)]
pub struct NeededCalls {
    marked: Arc<Mutex<Vec<String>>>,
    users: Arc<Mutex<HashMap<String, String>>>,
    /// The tools the gateway said live calls call (`Backend::calls_tool`), in order.
    named: Arc<Mutex<Vec<String>>>,
}

impl NeededCalls {
    /// The tools the gateway named for live calls so far.
    pub fn named_tools(&self) -> Vec<String> {
        self.named.lock().unwrap().clone()
    }

    /// The live call `call_id` needs its user's input.
    pub fn mark(&self, call_id: &str) {
        self.marked.lock().unwrap().push(call_id.to_owned());
    }

    fn granted(&self, call_id: &str, user: &str) {
        self.users
            .lock()
            .unwrap()
            .insert(call_id.to_owned(), user.to_owned());
    }
}

/// The calls the fake platform counts as live: those whose [`CallHold`] the gateway still
/// holds.
#[derive(Debug, Clone, Default)]
pub struct LiveCalls(Arc<Mutex<Vec<String>>>);

impl LiveCalls {
    /// The ids of the calls held now.
    pub fn now(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    fn open(&self, call_id: &str) -> CallHold {
        self.0.lock().unwrap().push(call_id.to_owned());
        CallHold::new(LiveCall {
            calls: self.clone(),
            call_id: call_id.to_owned(),
        })
    }
}

/// Ends its call when dropped.
struct LiveCall {
    calls: LiveCalls,
    call_id: String,
}

impl Drop for LiveCall {
    fn drop(&mut self) {
        self.calls
            .0
            .lock()
            .unwrap()
            .retain(|held| *held != self.call_id);
    }
}

impl FakeBackend {
    pub fn with_server(self, slug: &str, upstream: SocketAddr) -> Self {
        self.add(
            slug,
            FakeServer {
                id: format!("server-{slug}"),
                upstream,
                disabled: false,
                denied: Vec::new(),
                tools: ToolAccess::allow_all(),
                user_credentials: true,
            },
        );
        self
    }

    pub fn add(&self, slug: &str, server: FakeServer) {
        self.servers.lock().unwrap().insert(slug.to_owned(), server);
    }

    /// Where a test's server marks the calls that need their user's input.
    pub fn needed(&self) -> NeededCalls {
        self.needed.clone()
    }

    /// The calls this backend's grants keep live, as the gateway holds them.
    pub fn live(&self) -> LiveCalls {
        self.live.clone()
    }

    /// The identity the fake platform signs for `user` on the server of `slug`.
    pub fn identity(user: &str, slug: &str) -> String {
        format!("signed:{user}@server-{slug}")
    }
}

#[async_trait::async_trait]
impl Backend for FakeBackend {
    async fn authorize(&self, slug: &str, token: Option<&str>) -> Result<Grant, Refusal> {
        let Some(token) = token else {
            return Err(Refusal::Unauthorized {
                invalid_token: None,
            });
        };
        let Some(user) = token.strip_prefix("token-") else {
            return Err(Refusal::Unauthorized {
                invalid_token: Some("the token is expired or was \"revoked\"".to_owned()),
            });
        };
        let server = self
            .servers
            .lock()
            .unwrap()
            .get(slug)
            .cloned()
            .ok_or(Refusal::NotFound)?;
        if server.disabled {
            return Err(Refusal::Unavailable {
                reason: "the server is disabled".to_owned(),
            });
        }
        if server.denied.iter().any(|denied| denied == user) {
            return Err(Refusal::Forbidden {
                reason: "permission denied".to_owned(),
            });
        }
        let call_id = format!(
            "call-{}",
            CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        self.needed.granted(&call_id, user);
        Ok(Grant {
            server_id: server.id,
            user_id: user.to_owned(),
            client_id: format!("client-of-{user}"),
            call: self.live.open(&call_id),
            call_id,
            upstream: server.upstream,
            user_credentials: server.user_credentials,
            identity: HeaderValue::try_from(Self::identity(user, slug)).unwrap(),
            tools: server.tools.clone(),
        })
    }

    fn calls_tool(&self, _call_id: &str, tool: &str) {
        self.needed.named.lock().unwrap().push(tool.to_owned());
    }

    fn input_needed(&self, call_id: &str, tool: &str) -> Option<InputNeeded> {
        if !self
            .needed
            .marked
            .lock()
            .unwrap()
            .iter()
            .any(|c| c == call_id)
        {
            return None;
        }
        let user = self.needed.users.lock().unwrap().get(call_id)?.clone();
        Some(InputNeeded {
            message: format!("Connect your account, {user}."),
            url: format!("{PUBLIC_BASE}/connections/demo?for={user}"),
            elicitation_id: format!("elicitation-{call_id}"),
            request_state: Self::state_of(&user, &format!("client-of-{user}"), "server-demo", tool),
        })
    }

    fn check_request_state(&self, grant: &Grant, tool: &str, state: &str) -> Result<(), String> {
        if state == Self::state_of(&grant.user_id, &grant.client_id, &grant.server_id, tool) {
            Ok(())
        } else {
            Err("not this call's".to_owned())
        }
    }
}

impl FakeBackend {
    /// The fake platform's `requestState`: who, through which client, to which server, which
    /// tool — "signed" by being exactly this text.
    fn state_of(user: &str, client: &str, server: &str, tool: &str) -> String {
        format!("{user}|{client}|{server}|{tool}")
    }
}

/// Numbers the calls the fake platform grants.
static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Serves `router` on `127.0.0.1:0` until the test ends.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// A gateway in front of `backend`, answering to its loopback address and `mcp.example.com`.
pub struct TestGateway {
    pub addr: SocketAddr,
}

impl TestGateway {
    pub async fn start(backend: FakeBackend) -> Self {
        Self::start_with_limits(backend, GatewayLimits::default()).await
    }

    pub async fn start_with_limits(backend: FakeBackend, limits: GatewayLimits) -> Self {
        Self::start_with(backend, limits, None).await
    }

    /// A gateway reporting `tools/call`s to `activity`, when given.
    pub async fn start_with(
        backend: FakeBackend,
        limits: GatewayLimits,
        activity: Option<Arc<dyn CallLog>>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let settings = GatewaySettings {
            public_base: PUBLIC_BASE.to_owned(),
            allowed_hosts: vec![addr.to_string(), "mcp.example.com:443".to_owned()],
            allowed_origins: vec![PUBLIC_BASE.to_owned()],
        };
        let mut gateway = Gateway::new(Arc::new(backend), settings).with_limits(limits);
        if let Some(activity) = activity {
            gateway = gateway.with_activity(activity);
        }
        let router: Router = gateway.into_router();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { addr }
    }

    pub fn url(&self, slug: &str) -> String {
        format!("http://{}/mcp/{slug}", self.addr)
    }
}

/// The headers of every request an upstream received, in order.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    seen: Arc<Mutex<Vec<HeaderMap>>>,
}

impl Recorder {
    /// Wraps `router` so every request's headers are recorded.
    pub fn record(&self, router: Router) -> Router {
        let seen = Arc::clone(&self.seen);
        router.layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let seen = Arc::clone(&seen);
                async move {
                    seen.lock().unwrap().push(request.headers().clone());
                    let response: Response = next.run(request).await;
                    response
                }
            },
        ))
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn all(&self) -> Vec<HeaderMap> {
        self.seen.lock().unwrap().clone()
    }

    /// Every value of `name` the upstream received.
    pub fn values(&self, name: &str) -> Vec<String> {
        self.all()
            .iter()
            .filter_map(|headers| headers.get(name))
            .map(|value| value.to_str().unwrap().to_owned())
            .collect()
    }
}

/// The gateway's own error body: `{"error": {"code", "message"}}` → code.
pub async fn error_code(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.unwrap();
    body["error"]["code"].as_str().unwrap().to_owned()
}
