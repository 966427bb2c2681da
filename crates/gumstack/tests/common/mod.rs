//! Shared helpers: a test server with tools that exercise the SDK, started on a real socket,
//! and a real rmcp client (for production mode, with the identity a `TestPlatform` signed).
#![allow(
    dead_code,
    reason = "each test binary uses a different part of the helpers"
)]

pub mod provider_recorder;

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use gumstack::{
    Config, GumstackContext, GumstackError, GumstackHost, HostEnv, HostError, get_credentials,
    get_credentials_for, get_credentials_sync, report_invalid_token,
    testing::{CALL_HEADER, IDENTITY_HEADER},
};
use rmcp::{
    ServerHandler, ServiceExt,
    handler::server::wrapper::Parameters,
    model::{CallToolRequestParams, CallToolResult, ClientConfig},
    schemars,
    service::{RoleClient, RunningService},
    tool, tool_handler, tool_router,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// A `none` server: `greeting` is required, `farewell` optional.
/// The `Gumstack-Call` every client of these tests sends with its identity.
pub const TEST_CALL: &str = "call-of-the-test";

pub const NONE_CONFIG: &str = "\
name: Test
auth:
  type: none
  credentials:
    - name: greeting
      label: Greeting
    - name: farewell
      label: Farewell
      required: false
";

pub const OAUTH_CONFIG: &str = "name: Test\nauth:\n  type: oauth\n  provider: linear\n";

pub const TWO_PROVIDERS_CONFIG: &str =
    "name: Test\nauth:\n  type: oauth\n  provider: [linear, github-app]\n";

pub const CRED_CONFIG: &str = "\
name: Test
auth:
  type: cred
  credentials:
    - name: api_key
      label: API key
      secret: true
";

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct NameArgs {
    pub name: String,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct ProviderArgs {
    pub provider: String,
    pub name: String,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct ReportArgs {
    pub provider: Option<String>,
    pub token: String,
}

/// Tools that report what the SDK gives them.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// How many times `whoami` ran.
    whoami_calls: Arc<AtomicUsize>,
}

#[tool_router]
impl Probe {
    #[tool(description = "The credential `name` from get_credentials_sync()")]
    fn sync_credential(
        &self,
        Parameters(NameArgs { name }): Parameters<NameArgs>,
    ) -> Result<String, GumstackError> {
        Ok(get_credentials_sync()?.require(&name)?.to_owned())
    }

    #[tool(description = "The credential `name` from get_credentials().await")]
    async fn async_credential(
        &self,
        Parameters(NameArgs { name }): Parameters<NameArgs>,
    ) -> Result<String, GumstackError> {
        Ok(get_credentials().await?.require(&name)?.to_owned())
    }

    #[tool(description = "The credential `name` from get_credentials_for(provider).await")]
    async fn provider_credential(
        &self,
        Parameters(ProviderArgs { provider, name }): Parameters<ProviderArgs>,
    ) -> Result<String, GumstackError> {
        Ok(get_credentials_for(&provider)
            .await?
            .require(&name)?
            .to_owned())
    }

    #[tool(description = "Reports `token` as rejected with report_invalid_token(provider, token)")]
    async fn report_token(
        &self,
        Parameters(ReportArgs { provider, token }): Parameters<ReportArgs>,
    ) -> Result<String, GumstackError> {
        report_invalid_token(provider.as_deref(), &token).await?;
        Ok("reported".to_owned())
    }

    #[tool(description = "The caller's user id and email")]
    fn whoami(&self) -> Result<String, GumstackError> {
        self.whoami_calls.fetch_add(1, Ordering::SeqCst);
        let caller = GumstackContext::current()?;
        Ok(format!("{} <{}>", caller.user_id, caller.email))
    }

    #[tool(description = "The caller's user id, read in a task started with gumstack::spawn")]
    async fn whoami_in_gumstack_spawn(&self) -> Result<String, GumstackError> {
        let caller = gumstack::spawn(async { GumstackContext::current() })
            .await
            .expect("the task does not panic")?;
        Ok(caller.user_id)
    }

    #[tool(description = "The caller's user id, read in a task started with tokio::spawn")]
    async fn whoami_in_tokio_spawn(&self) -> Result<String, GumstackError> {
        let caller = tokio::spawn(async { GumstackContext::current() })
            .await
            .expect("the task does not panic")?;
        Ok(caller.user_id)
    }
}

#[tool_handler]
impl ServerHandler for Probe {}

pub fn env(vars: &[(&str, &str)]) -> HostEnv {
    HostEnv::from_vars(vars.iter().copied()).expect("valid test environment")
}

pub fn local_env(vars: &[(&str, &str)]) -> HostEnv {
    let mut all = vec![("ENVIRONMENT", "local")];
    all.extend_from_slice(vars);
    env(&all)
}

/// A host serving [`Probe`] on a real socket (port 0).
pub struct TestServer {
    pub url: String,
    pub addr: std::net::SocketAddr,
    probe: Probe,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), HostError>>,
}

impl TestServer {
    pub async fn start(config_yaml: &str, env: HostEnv) -> Self {
        Self::start_with(config_yaml, env, |host| host).await
    }

    /// Like [`start`](Self::start), with the host changed by `configure` first (to register
    /// OAuth providers).
    pub async fn start_with(
        config_yaml: &str,
        env: HostEnv,
        configure: impl FnOnce(GumstackHost<Probe>) -> GumstackHost<Probe>,
    ) -> Self {
        let config = Config::parse(config_yaml).expect("valid test config");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let probe = Probe::default();
        let host = configure(GumstackHost::new(config, probe.clone()).with_env(env));
        let task = tokio::spawn(host.serve_with_listener(listener, async {
            let _ = stopped.await;
        }));
        Self {
            url: format!("http://{addr}"),
            addr,
            probe,
            shutdown: Some(shutdown),
            task,
        }
    }

    /// Connects a real rmcp client to `/mcp` (local mode: no identity needed).
    pub async fn client(&self) -> RunningService<RoleClient, ClientConfig> {
        self.connect(HashMap::new()).await
    }

    /// Connects a real rmcp client that sends `identity` in the `Gumstack-Identity` header of
    /// every request, as the platform's gateway does.
    pub async fn client_with_identity(
        &self,
        identity: &str,
    ) -> RunningService<RoleClient, ClientConfig> {
        let headers = HashMap::from([
            (
                http::HeaderName::from_bytes(IDENTITY_HEADER.as_bytes()).expect("a header name"),
                http::HeaderValue::from_str(identity).expect("a token is a valid header value"),
            ),
            (
                http::HeaderName::from_bytes(CALL_HEADER.as_bytes()).expect("a header name"),
                http::HeaderValue::from_static(TEST_CALL),
            ),
        ]);
        self.connect(headers).await
    }

    async fn connect(
        &self,
        headers: HashMap<http::HeaderName, http::HeaderValue>,
    ) -> RunningService<RoleClient, ClientConfig> {
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", self.url))
                .custom_headers(headers),
        );
        ClientConfig::default()
            .serve(transport)
            .await
            .expect("the client connects")
    }

    /// How many times the `whoami` tool ran on this server.
    pub fn whoami_calls(&self) -> usize {
        self.probe.whoami_calls.load(Ordering::SeqCst)
    }

    /// Asks the host to stop and waits for it.
    pub async fn stop(mut self) -> Result<(), HostError> {
        let _ = self.shutdown.take().unwrap().send(());
        self.task.await.expect("the host does not panic")
    }
}

pub async fn call(
    client: &RunningService<RoleClient, ClientConfig>,
    tool: &str,
    arguments: Value,
) -> CallToolResult {
    let arguments = match arguments {
        Value::Object(map) => map,
        Value::Null => Default::default(),
        other => panic!("arguments must be an object, got {other}"),
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
        .expect("the tool call gets a result")
}

/// The text of a result, with whether it is an error.
pub fn text(result: &CallToolResult) -> (bool, String) {
    let text = result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|text| text.text.clone()))
        .collect::<Vec<_>>()
        .join("\n");
    (result.is_error == Some(true), text)
}

/// Calls `tool` and returns its text, with whether it is an error.
pub async fn call_text(
    client: &RunningService<RoleClient, ClientConfig>,
    tool: &str,
    arguments: Value,
) -> (bool, String) {
    text(&call(client, tool, arguments).await)
}

pub fn name(value: &str) -> Value {
    json!({ "name": value })
}
