//! Assembling the platform: [`Platform::open`] builds the state from a data directory,
//! [`Platform::router`] the HTTP surface, [`Platform::run`] serves until shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use gumstack_runtime::{Isolation, ProcessRuntime, Runtime};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::activity::{ActivityLog, ActivitySettings};
use crate::api_tokens::{ApiTokenSettings, ApiTokens};
use crate::clock::{Clock, SystemClock};
use crate::connections::provider::ServerProviders;
use crate::connections::{Connections, RefreshSettings};
use crate::error::Internal;
use crate::keys::SigningKeys;
use crate::limits::{LoginLimiter, RegistrationLimiter};
use crate::offboarding::Offboarding;
use crate::rotation::KeyAdmin;
use crate::server_tools::{DiscoveryLimits, ToolDiscovery};
use crate::servers::Servers;
use crate::state::{AppState, ClientSettings};
use crate::store::sqlite::SqliteStore;
use crate::store::{Role, Store};
use crate::supervisor::{Supervisor, SupervisorSettings};
use crate::urls::PublicUrls;
use crate::users::{AccountError, Accounts, NewAccount};
use crate::vault::Vault;

/// The email of the admin account the platform creates on first start.
pub const FIRST_ADMIN_EMAIL: &str = "admin@gumstack.local";

/// How the platform is started.
#[derive(Debug, Clone)]
pub struct PlatformOptions {
    /// Holds `gumstack.db` and, unless `master_key_files` are given, `master.key`.
    pub data_dir: PathBuf,
    /// The URL users and providers see; defaults to `http://<listen address>`.
    pub public_url: Option<String>,
    /// Operator-supplied master key files (each must exist, mode 0600), read in order: the
    /// last key of the last file is the active one. None: `<data_dir>/master.key`.
    pub master_key_files: Vec<PathBuf>,
    /// How often the key files and the signing keys are checked for changes.
    pub key_reload_interval: Duration,
    /// How long a server process gets to answer its health check.
    pub startup_timeout: Duration,
    /// TEST ONLY: accept client ID metadata documents on loopback http URLs.
    pub allow_loopback_metadata_documents: bool,
    /// The domains whose client ID metadata documents are accepted (`--client-id-domain`);
    /// empty: any public host.
    pub client_id_domains: Vec<String>,
    /// When OAuth connections are refreshed.
    pub refresh: RefreshSettings,
    /// Reverse proxies whose `X-Forwarded-For` names the client (per-address limits).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The wall clock expiries are decided by (tests give a [`crate::clock::ManualClock`]).
    pub clock: Arc<dyn Clock>,
    /// How long API tokens live (default and maximum).
    pub api_tokens: ApiTokenSettings,
    /// Whether this process is a platform instance (registered with a heartbeat, seen by
    /// lease holders and by `key rotate`). Admin commands that only open the data directory
    /// are not: a row of theirs would look like a live instance for a while after they exit.
    pub register_instance: bool,
    /// The bounds of listing a new deployment's tools (docs/PROTOCOL.md §2.1).
    pub discovery: DiscoveryLimits,
    /// The activity log: on or off, retention, queue.
    pub activity: ActivitySettings,
    /// How server processes are contained (own uid, Landlock, seccomp, limits).
    pub isolation: Isolation,
}

impl PlatformOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            public_url: None,
            master_key_files: Vec::new(),
            key_reload_interval: Duration::from_secs(2),
            startup_timeout: Duration::from_secs(30),
            allow_loopback_metadata_documents: false,
            client_id_domains: Vec::new(),
            refresh: RefreshSettings::default(),
            trusted_proxies: Vec::new(),
            clock: Arc::new(SystemClock),
            api_tokens: ApiTokenSettings::default(),
            register_instance: true,
            discovery: DiscoveryLimits::default(),
            activity: ActivitySettings::default(),
            isolation: Isolation::default(),
        }
    }
}

/// Why the platform could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("signing keys: {0}")]
    Keys(#[from] crate::keys::KeyError),
    #[error("{0}")]
    Config(String),
}

/// A platform instance.
#[derive(Debug, Clone)]
pub struct Platform {
    pub state: AppState,
}

impl Platform {
    /// Opens the data directory (creating it, the database and the master key as needed).
    /// `listen_addr` is the bound address: it gives the default public URL and the URL server
    /// processes use to reach the platform.
    pub async fn open(
        options: PlatformOptions,
        listen_addr: SocketAddr,
    ) -> Result<Self, StartupError> {
        let (store, vault) = open_data(&options).await?;
        let missing = options.isolation.missing_layers();
        for layer in &missing {
            tracing::warn!(
                strict = options.isolation.strict,
                "server isolation: {layer}"
            );
        }
        if missing.is_empty() {
            let support = gumstack_runtime::IsolationSupport::current();
            tracing::info!(
                own_uids = support.root,
                landlock_abi = support.landlock_abi,
                seccomp = support.seccomp,
                strict = options.isolation.strict,
                "server processes are contained"
            );
        }
        // No server may reach the data directory or a master key file, whatever it names.
        let mut isolation = options.isolation.clone();
        isolation.private_paths.push(options.data_dir.clone());
        isolation
            .private_paths
            .extend(options.master_key_files.iter().cloned());
        let runtime: Arc<dyn Runtime> = Arc::new(ProcessRuntime {
            isolation,
            ..ProcessRuntime::default()
        });
        Self::assemble(store, vault, runtime, &options, listen_addr).await
    }

    /// Opens only the store and the master keys of a data directory, for the key commands
    /// (`gumstackd key …`): nothing else is started, and no signing key is needed, so a value
    /// that no longer decrypts can still be reported.
    pub async fn master_keys(options: &PlatformOptions) -> Result<KeyAdmin, StartupError> {
        let (store, vault) = open_data(options).await?;
        Ok(KeyAdmin::new(
            store,
            vault,
            Arc::clone(&options.clock),
            options.refresh.instance_stale,
        ))
    }

    /// Opens only the store, the master keys and the audit trail of a data directory, for
    /// `gumstackd audit …` and for recording what the key commands do.
    pub async fn audit_trail(
        options: &PlatformOptions,
    ) -> Result<crate::audit::AuditTrail, StartupError> {
        let (store, vault) = open_data(options).await?;
        crate::audit::AuditTrail::open(store, &vault, Arc::clone(&options.clock))
            .await
            .map_err(|e| StartupError::Config(format!("audit trail: {e}")))
    }

    /// The key file `gumstackd key add` writes to: `<data_dir>/master.key`, unless the
    /// operator supplies the key files (then `None`: the operator edits those).
    pub fn data_dir_key_file(options: &PlatformOptions) -> Option<PathBuf> {
        options
            .master_key_files
            .is_empty()
            .then(|| options.data_dir.join("master.key"))
    }

    /// Builds a platform from parts (tests give an in-memory store or another runtime).
    pub async fn assemble(
        store: Arc<dyn Store>,
        vault: Arc<Vault>,
        runtime: Arc<dyn Runtime>,
        options: &PlatformOptions,
        listen_addr: SocketAddr,
    ) -> Result<Self, StartupError> {
        let loopback = loopback_of(listen_addr);
        let public_url = options
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{loopback}"));
        let urls = PublicUrls::new(&public_url).map_err(StartupError::Config)?;
        options.api_tokens.check().map_err(StartupError::Config)?;
        let keys =
            Arc::new(SigningKeys::load_or_create_at(&store, &vault, options.clock.now()).await?);
        let changed = Arc::new(Notify::new());
        let discovery = ToolDiscovery::new(
            Arc::clone(&keys),
            urls.base(),
            Arc::clone(&options.clock),
            options.discovery,
        )
        .map_err(|e| StartupError::Config(format!("HTTP client for tool discovery: {e}")))?;
        let supervisor = Arc::new(
            Supervisor::new(
                Arc::clone(&store),
                Arc::clone(&vault),
                runtime,
                SupervisorSettings {
                    backend_url: format!("http://{loopback}"),
                    urls: urls.clone(),
                    startup_timeout: options.startup_timeout,
                },
                Arc::clone(&changed),
            )
            .with_discovery(Arc::new(discovery)),
        );
        let providers = ServerProviders::new(
            Arc::clone(&supervisor),
            Arc::clone(&keys),
            urls.base(),
            options.refresh.provider_call,
        )
        .map_err(|e| StartupError::Config(format!("HTTP client for provider calls: {e}")))?;
        let connections = Connections::new(
            Arc::clone(&store),
            Arc::clone(&vault),
            Arc::new(providers),
            Arc::clone(&options.clock),
            options.refresh.clone(),
            urls.clone(),
        );
        // A new instance id at every start: leases of the process this one replaces (killed in
        // the middle of a refresh, say) are taken over once its heartbeat is stale.
        if options.register_instance {
            connections.register_instance().await.map_err(|e| {
                StartupError::Config(format!("registering the platform instance: {e}"))
            })?;
        }
        let audit =
            crate::audit::AuditTrail::open(Arc::clone(&store), &vault, Arc::clone(&options.clock))
                .await
                .map_err(|e| StartupError::Config(format!("audit trail: {e}")))?;
        let activity = ActivityLog::new(
            Arc::clone(&store),
            Arc::clone(&supervisor),
            Arc::clone(&options.clock),
            options.activity.clone(),
        );
        let state = AppState {
            audit,
            activity,
            offboarding: Offboarding::new(
                Arc::clone(&store),
                connections.clone(),
                Arc::clone(&options.clock),
            ),
            connections,
            accounts: Accounts::new(Arc::clone(&store)),
            permissions: crate::permissions::Permissions::new(Arc::clone(&store)),
            api_tokens: ApiTokens::new(
                Arc::clone(&store),
                Arc::clone(&options.clock),
                options.api_tokens,
            ),
            credentials: crate::credentials::UserCredentials::new(
                Arc::clone(&store),
                Arc::clone(&vault),
            ),
            servers: Servers::new(Arc::clone(&store), Arc::clone(&vault), changed),
            store,
            vault,
            supervisor,
            urls,
            limiter: Arc::new(LoginLimiter::default()),
            keys,
            client_settings: ClientSettings {
                allow_loopback_metadata_documents: options.allow_loopback_metadata_documents,
                client_id_domains: options
                    .client_id_domains
                    .iter()
                    .map(|domain| domain.trim_matches('.').to_ascii_lowercase())
                    .collect(),
            },
            registration_limiter: Arc::new(RegistrationLimiter::default()),
            trusted_proxies: crate::client_ip::TrustedProxies::new(options.trusted_proxies.clone()),
            listen_addr: (listen_addr.port() != 0).then_some(loopback),
            clock: Arc::clone(&options.clock),
            key_reload_interval: options.key_reload_interval,
        };
        Ok(Self { state })
    }

    /// Creates the first admin when there is no account yet; returns it with its password.
    pub async fn ensure_first_admin(&self) -> Result<Option<NewAccount>, AccountError> {
        if self.state.store.count_users().await? > 0 {
            return Ok(None);
        }
        let account = self
            .state
            .accounts
            .create(FIRST_ADMIN_EMAIL, Role::Admin, None)
            .await?;
        Ok(Some(account))
    }

    /// Gives the first admin a fresh generated password (the demo does this at every start).
    pub async fn reset_first_admin(&self) -> Result<SecretString, AccountError> {
        if let Some(created) = self.ensure_first_admin().await? {
            return created
                .generated_password
                .ok_or_else(|| Internal::other("no password generated").into());
        }
        let (_, password) = self
            .state
            .accounts
            .reset_password(FIRST_ADMIN_EMAIL, None)
            .await?;
        password.ok_or_else(|| Internal::other("no password generated").into())
    }

    /// The whole HTTP surface. Unknown paths get a 404 in the form their neighbours answer:
    /// JSON under the API, OAuth and internal prefixes, an HTML page elsewhere.
    pub fn router(&self) -> Router {
        let mut gateway = gumstack_gateway::Gateway::new(
            Arc::new(crate::gateway::PlatformGateway::new(self.state.clone())),
            self.gateway_settings(),
        );
        if self.state.activity.enabled() {
            gateway = gateway.with_activity(Arc::new(self.state.activity.clone()));
        }
        let gateway = gateway.into_router();
        // The gateway limits its own bodies (it streams them); everything else gets 1 MiB.
        let platform = crate::web::with_security_headers(
            Router::new()
                .merge(crate::api::router())
                .merge(crate::web::router())
                .merge(crate::oauth::router())
                .merge(crate::internal::router())
                .fallback(no_route),
        )
        .layer(tower_http::limit::RequestBodyLimitLayer::new(1024 * 1024));
        Router::new()
            .merge(gateway)
            .merge(platform)
            .with_state(self.state.clone())
            .layer(
                // The span names the path, never the query: query strings carry one-time
                // secrets (an authorization code and state at /auth/callback, codes for
                // clients' redirects), which do not belong in logs even at debug level.
                tower_http::trace::TraceLayer::new_for_http().make_span_with(
                    |request: &axum::http::Request<axum::body::Body>| {
                        tracing::debug_span!(
                            "request",
                            method = %request.method(),
                            path = %request.uri().path(),
                        )
                    },
                ),
            )
    }

    /// Hosts and origins the gateway accepts: the public URL's, and the loopback address the
    /// platform listens on (local clients and the demo).
    fn gateway_settings(&self) -> gumstack_gateway::GatewaySettings {
        let public = url::Url::parse(&self.state.urls.base()).expect("public URLs are valid URLs");
        let authority = match public.port() {
            Some(port) => format!("{}:{port}", public.host_str().unwrap_or_default()),
            None => public.host_str().unwrap_or_default().to_owned(),
        };
        let mut allowed_hosts = vec![authority];
        allowed_hosts.extend(self.state.listen_addr.iter().map(|a| a.to_string()));
        let origin = public.origin().ascii_serialization();
        gumstack_gateway::GatewaySettings {
            public_base: self.state.urls.base(),
            allowed_hosts,
            allowed_origins: vec![origin],
        }
    }

    /// Serves on `listener` and supervises server processes until `shutdown` resolves; then
    /// stops every server process.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let supervisor = Arc::clone(&self.state.supervisor);
        let mut supervisor_stop = stop_rx.clone();
        let supervising = tokio::spawn(async move {
            supervisor
                .run(async move {
                    let _ = supervisor_stop.wait_for(|stop| *stop).await;
                })
                .await;
        });
        let refresher = self.state.connections.clone();
        let mut refresher_stop = stop_rx.clone();
        let refreshing = tokio::spawn(refresher.run_refresher(async move {
            let _ = refresher_stop.wait_for(|stop| *stop).await;
        }));
        let beating = self.state.connections.clone();
        let mut heartbeat_stop = stop_rx.clone();
        let heartbeat = tokio::spawn(beating.run_heartbeat(async move {
            let _ = heartbeat_stop.wait_for(|stop| *stop).await;
        }));
        // The activity writer stops after the server: the last calls' records are written.
        let (served_tx, served_rx) = tokio::sync::oneshot::channel::<()>();
        let activity = self.state.activity.clone();
        let logging = tokio::spawn(async move {
            activity
                .run(async move {
                    let _ = served_rx.await;
                })
                .await;
        });
        let mut reload_stop = stop_rx.clone();
        let reloading = tokio::spawn(run_key_reload(self.state.clone(), async move {
            let _ = reload_stop.wait_for(|stop| *stop).await;
        }));
        let app = self.router();
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        })
        .await;
        let _ = served_tx.send(());
        let _ = logging.await;
        let _ = supervising.await;
        let _ = refreshing.await;
        let _ = heartbeat.await;
        let _ = reloading.await;
        // Stopped cleanly: leases and `key rotate` need not wait for this instance's heartbeat
        // to go stale.
        if let Err(error) = self.state.connections.deregister_instance().await {
            tracing::warn!(%error, "removing the platform instance's row failed");
        }
        served
    }
}

/// Opens the data directory's store and master keys (creating the directory, the database and
/// `master.key` as needed).
async fn open_data(
    options: &PlatformOptions,
) -> Result<(Arc<dyn Store>, Arc<Vault>), StartupError> {
    create_private_dir(&options.data_dir)?;
    let vault = match Platform::data_dir_key_file(options) {
        Some(path) => Vault::open_or_create(&path)?,
        None => Vault::open_files(&options.master_key_files)?,
    };
    let db = options.data_dir.join("gumstack.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db).await?);
    restrict_database_files(&db)?;
    Ok((store, Arc::new(vault)))
}

/// Until `shutdown`, checks every `key_reload_interval` whether the master key files changed
/// (a file that does not load is logged and the keys stay as they were) and reloads the
/// signing keys (a rotated key starts signing; one whose tokens all expired is removed).
async fn run_key_reload(state: AppState, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(state.key_reload_interval) => {}
        }
        match state.vault.reload_if_changed() {
            Ok(Some(change)) => tracing::info!(
                added = ?change.added,
                removed = ?change.removed,
                active = %change.active,
                "master keys reloaded"
            ),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, "master key files not reloaded; the keys in use stay");
            }
        }
        if let Err(error) = state
            .keys
            .reload(&state.store, &state.vault, state.clock.now())
            .await
        {
            tracing::warn!(%error, "signing keys not reloaded; the keys in use stay");
        }
    }
}

/// The address to reach a listener on this machine: a wildcard bind is reached on loopback.
fn loopback_of(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

fn create_private_dir(path: &Path) -> Result<(), StartupError> {
    let err = |source| StartupError::DataDir {
        path: path.display().to_string(),
        source,
    };
    if !path.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            builder.mode(0o700);
        }
        builder.create(path).map_err(err)?;
    }
    // Only the platform's user may enter it: server processes run under other uids (or under
    // Landlock, which leaves it out of their view) and must never read the key or the
    // database. A directory made by hand with a wider mode is narrowed.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).map_err(err)?.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
            tracing::warn!(path = %path.display(), mode = %format!("{mode:o}"), "the data directory was open to others; it is now mode 700");
        }
    }
    Ok(())
}

/// Narrows the database's files (`gumstack.db` and SQLite's `-wal` and `-shm`) to mode 0600.
fn restrict_database_files(db: &Path) -> Result<(), StartupError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for suffix in ["", "-wal", "-shm"] {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            let file = Path::new(&name);
            match std::fs::metadata(file) {
                Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
                        .map_err(|source| StartupError::DataDir {
                            path: file.display().to_string(),
                            source,
                        })?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// A 404 for a path no route serves.
async fn no_route(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let path = uri.path();
    let json = ["/api/", "/internal/", "/oauth/", "/.well-known/"]
        .iter()
        .any(|prefix| path.starts_with(prefix));
    if json {
        crate::api::ApiError::NotFound(format!("no route serves {path}")).into_response()
    } else {
        crate::web::PageError::not_found("there is no page at this address").into_response()
    }
}
