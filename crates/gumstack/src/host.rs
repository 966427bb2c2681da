//! [`GumstackHost`]: serves the developer's rmcp handler the way the platform expects.
//!
//! - `POST /mcp`: rmcp's Streamable HTTP server in stateless mode (no sessions, JSON replies),
//!   behind the `identity` middleware (in production: the platform-signed `Gumstack-Identity`
//!   header, else 401), each request in its own scope with its verified caller (and the
//!   identity header itself, which `get_credentials()` forwards to the platform).
//! - `GET /health_check`: `200 {"status":"ok"}`, polled by the platform before it routes
//!   traffic to a new deployment.
//! - `POST /gumstack/providers/{provider}/{operation}` (production only): the OAuth provider
//!   routes the platform calls for auth type `oauth` (docs/PROTOCOL.md §4), served by the
//!   providers given to [`GumstackHost::register_auth`]; only calls the platform signed for
//!   this server, route and body get through (`auth/routes.rs`). In local mode there is no
//!   platform and they are not served (404): tools read `LOCAL_ACCESS_TOKEN` instead.
//!
//! It listens on loopback only, in production as in local mode.

use std::{
    fmt,
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
};

use axum::{Json, Router, middleware, routing::get};
use gumstack_config::Config;
use rmcp::{
    ServerHandler,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::never::NeverSessionManager,
    },
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    auth::{
        AuthProvider,
        routes::{self, ProviderSet},
    },
    credentials,
    env::{HostEnv, Mode},
    error::HostError,
    handler::ScopedHandler,
    identity::{
        IdentitySource, KeySet, LocalIdentity, PlatformCallVerifier, PlatformIdentity,
        identify_request,
    },
    platform_api::{self, PlatformApi},
    scope::HostState,
};

/// Host names accepted in the `Host` header (any port): the server listens on loopback, and
/// rejecting other names defeats DNS rebinding from a browser on the same machine.
const ALLOWED_HOSTS: [&str; 3] = ["127.0.0.1", "localhost", "::1"];

/// Serves an rmcp [`ServerHandler`] as a Gumstack server.
///
/// `H` is the developer's handler, typically a struct with `#[tool_router]` and
/// `#[tool_handler]`; it is cloned for every request.
///
/// Building the HTTP application ([`router`](Self::router), [`serve`](Self::serve),
/// [`serve_with_listener`](Self::serve_with_listener)) also records the config and environment
/// as the host of the process, for code that runs outside requests such as
/// [`get_credentials_sync`](crate::get_credentials_sync) at start-up. Run one host per process.
pub struct GumstackHost<H> {
    config: Config,
    handler: H,
    env: Option<HostEnv>,
    /// The OAuth providers, in the order they were registered (names checked at build).
    providers: Vec<Arc<dyn AuthProvider>>,
}

impl<H> fmt::Debug for GumstackHost<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let providers: Vec<&str> = self.providers.iter().map(|p| p.name()).collect();
        f.debug_struct("GumstackHost")
            .field("server", &self.config.name)
            .field("env", &self.env)
            .field("providers", &providers)
            .finish_non_exhaustive()
    }
}

impl<H: ServerHandler + Clone> GumstackHost<H> {
    /// A host for the server described by `config` (its config.yaml) with tools from `handler`.
    pub fn new(config: Config, handler: H) -> Self {
        Self {
            config,
            handler,
            env: None,
            providers: Vec::new(),
        }
    }

    /// Serves `provider` on the OAuth provider routes the platform calls (auth type `oauth`,
    /// docs/PROTOCOL.md §4). Register one for each name of config.yaml's `auth.provider`; two
    /// providers with the same name (or a name config.yaml could not hold) make the host fail
    /// to start with [`HostError::DuplicateProvider`] ([`HostError::InvalidProviderName`]). A
    /// provider config.yaml does not declare, or a declared one left unregistered, is logged as
    /// a warning at start.
    pub fn register_auth(mut self, provider: impl AuthProvider) -> Self {
        self.providers.push(Arc::new(provider));
        self
    }

    /// Uses `env` instead of reading the process environment (tests, embedding).
    pub fn with_env(mut self, env: HostEnv) -> Self {
        self.env = Some(env);
        self
    }

    /// Reads the environment, listens on `127.0.0.1:$PORT` and serves until SIGTERM or Ctrl-C.
    pub async fn serve(mut self) -> Result<(), HostError> {
        let env = match self.env.take() {
            Some(env) => env,
            None => HostEnv::from_process()?,
        };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, env.port()));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| HostError::Bind { addr, source })?;
        self.with_env(env)
            .serve_with_listener(listener, shutdown_signal())
            .await
    }

    /// Serves on `listener` until `shutdown` completes, then finishes in-flight requests.
    pub async fn serve_with_listener(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), HostError> {
        let (router, stop_mcp) = self.build()?;
        let addr = listener.local_addr().map_err(HostError::Serve)?;
        tracing::info!("listening on http://{addr}/mcp");
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                shutdown.await;
                tracing::info!("shutting down");
                stop_mcp.cancel();
            })
            .await
            .map_err(HostError::Serve)
    }

    /// The HTTP application, for driving in-process (reads the process environment unless
    /// [`with_env`](Self::with_env) was given).
    pub fn router(self) -> Result<Router, HostError> {
        self.build().map(|(router, _)| router)
    }

    fn build(self) -> Result<(Router, CancellationToken), HostError> {
        let env = match self.env {
            Some(env) => env,
            None => HostEnv::from_process()?,
        };
        announce(&env);
        let providers = ProviderSet::new(&self.providers)?;
        providers.check_against(&self.config);
        let Verifiers {
            identity,
            platform_calls,
            platform,
        } = verifiers(&env)?;
        let state = HostState {
            config: self.config,
            env,
            platform,
        }
        .install();
        if let Err(error) = credentials::check_at_start(&state) {
            tracing::warn!("{error}");
        }
        let provider_routes = match platform_calls {
            Some(verifier) => routes::router(verifier, providers, Arc::clone(&state)),
            None => {
                if !self.providers.is_empty() {
                    tracing::info!(
                        "the OAuth provider routes are not served in local mode (there is no \
                         platform to call them); tools read LOCAL_ACCESS_TOKEN"
                    );
                }
                Router::new()
            }
        };

        let stop_mcp = CancellationToken::new();
        let handler = self.handler;
        let mcp = StreamableHttpService::new(
            move || Ok(ScopedHandler::new(handler.clone(), Arc::clone(&state))),
            Arc::new(NeverSessionManager::default()),
            StreamableHttpServerConfig::default()
                .with_legacy_session_mode(false)
                .with_json_response(true)
                .with_sse_keep_alive(None)
                .with_allowed_hosts(ALLOWED_HOSTS)
                .with_cancellation_token(stop_mcp.child_token()),
        );
        let router = Router::new()
            .route_service("/mcp", mcp)
            .layer(middleware::from_fn_with_state(identity, identify_request))
            .route("/health_check", get(health_check))
            .merge(provider_routes);
        Ok((router, stop_mcp))
    }
}

/// Who may call, and the platform's API.
struct Verifiers {
    /// Who may call `/mcp`.
    identity: Arc<dyn IdentitySource>,
    /// Who may call the provider routes (production only).
    platform_calls: Option<Arc<PlatformCallVerifier>>,
    /// Where callers' credentials come from (production only).
    platform: Option<PlatformApi>,
}

/// Local mode: the local user and the environment. Production: only calls the platform signed,
/// verified with one cache of its keys, and the platform (one HTTP client for all).
fn verifiers(env: &HostEnv) -> Result<Verifiers, HostError> {
    match env.mode() {
        Mode::Local => Ok(Verifiers {
            identity: Arc::new(LocalIdentity::new(env.server_id())),
            platform_calls: None,
            platform: None,
        }),
        Mode::Production => {
            // `HostEnv` checks both when it reads a production environment.
            let server_id = env.server_id().ok_or(HostError::MissingPlatformVariable {
                name: "GUMSTACK_SERVER_ID",
            })?;
            let backend_url = env
                .backend_url()
                .ok_or(HostError::MissingPlatformVariable {
                    name: "GUMSTACK_BACKEND_URL",
                })?;
            let http = platform_api::http_client()
                .map_err(|error| HostError::PlatformClient(error.into()))?;
            let platform = PlatformApi::new(http.clone(), backend_url, env.server_token())?;
            let keys = Arc::new(KeySet::new(http, backend_url));
            Ok(Verifiers {
                identity: Arc::new(PlatformIdentity::new(server_id, Arc::clone(&keys))),
                platform_calls: Some(Arc::new(PlatformCallVerifier::new(server_id, keys))),
                platform: Some(platform),
            })
        }
    }
}

async fn health_check() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Says in the log how the server runs; loudly when nothing authenticates its callers.
fn announce(env: &HostEnv) {
    match env.mode() {
        Mode::Local => tracing::warn!(
            "UNAUTHENTICATED LOCAL MODE (ENVIRONMENT=local): every request is served as the \
             local user and credentials come from LOCAL_<NAME> variables. Listening on loopback \
             only; host the server on Gumstack to authenticate its users."
        ),
        Mode::Production => {
            tracing::info!(
                backend = env.backend_url().unwrap_or_default(),
                "accepting only calls with an identity the platform signed for this server"
            );
            let missing = env.missing_platform_vars();
            if !missing.is_empty() {
                tracing::warn!(
                    missing = ?missing,
                    "system variables the Gumstack platform sets are missing"
                );
            }
        }
    }
}

/// Completes on SIGTERM (how the platform stops a deployment) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
