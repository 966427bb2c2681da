//! Keeps the running deployments in line with the stored servers (SPEC §12).
//!
//! The store holds the desired state (enabled servers with a runtime spec, each with a
//! `deploy_generation`); the supervisor reconciles towards it whenever something changed (a
//! [`Notify`] from the API) and every few seconds (to see changes written by the CLI or another
//! instance). A deployment of a new generation starts next to the old one and replaces it only
//! once healthy; a failed start leaves the previous deployment live. Crash restarts are the
//! runtime's job ([`gumstack_runtime`]).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gumstack_runtime::{
    Deployment as RunningDeployment, LaunchSpec, LimitOverrides, Runtime, ServerUid,
};
use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::crypto::{random_token, token_hash};
use crate::deployment_log::{redact, redacted_output};
use crate::redact::SecretValues;
use crate::server_tools::{ToolDiscovery, discover_and_record};
use crate::servers::{env_name_problem, env_var_aad};
use crate::store::{
    AuthType, Deployment, DeploymentRecord, DeploymentStatus, Server, Store, UidAssignment, now,
};
use crate::urls::PublicUrls;
use crate::vault::Vault;

/// How often the supervisor looks at the store when nothing woke it.
const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// How long a failed generation waits before it is tried again.
const RETRY_FAILED_AFTER: Duration = Duration::from_secs(30);
/// The system variables whose values are not secrets (the server token is).
const SYSTEM_NAMES: &[&str] = &[
    "GUMSTACK_SERVER_ID",
    "GUMSTACK_DEPLOYMENT_ID",
    "GUMSTACK_BACKEND_URL",
    "GUMLOOP_BACKEND_URL",
    "GUMSTACK_MCP_URL",
    "ENVIRONMENT",
];
/// Whether an env entry of a process is a secret the activity log must redact: every
/// developer value (their own `PATH` too) and the server token, not the system variables.
fn is_secret_env(name: &str, value: &SecretString) -> bool {
    let system =
        SYSTEM_NAMES.contains(&name) || (name == "PATH" && value.expose_secret() == DEFAULT_PATH);
    !system
}

/// The PATH a server process gets unless its developer sets one.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// A deployment that serves a server now.
#[derive(Debug, Clone)]
pub struct LiveDeployment {
    pub deployment_id: Uuid,
    pub generation: i64,
    pub handle: Arc<dyn RunningDeployment>,
    /// The secret values this deployment's process holds (the developer's env values and its
    /// server token), decrypted once at deployment: what its output and the activity log's
    /// records of the calls it serves are redacted of.
    pub(crate) secrets: Arc<SecretValues>,
    /// Whether the server takes per-user credentials (auth types `oauth` and `cred`).
    pub(crate) user_credentials: bool,
}

impl LiveDeployment {
    pub fn addr(&self) -> SocketAddr {
        self.handle.addr()
    }

    /// The process's recent output, redacted and bounded as it is stored.
    pub(crate) fn output(&self) -> String {
        redacted_output(&self.handle.logs(), &self.secrets)
    }
}

#[derive(Debug, Default)]
struct State {
    live: HashMap<Uuid, LiveDeployment>,
    in_flight: HashSet<Uuid>,
    failed: HashMap<Uuid, (i64, Instant)>,
}

/// Settings the supervisor needs from the platform.
#[derive(Debug, Clone)]
pub struct SupervisorSettings {
    /// How server processes reach the platform (loopback), given to them as
    /// `GUMSTACK_BACKEND_URL`.
    pub backend_url: String,
    pub urls: PublicUrls,
    pub startup_timeout: Duration,
}

#[derive(Debug)]
pub struct Supervisor {
    store: Arc<dyn Store>,
    vault: Arc<Vault>,
    runtime: Arc<dyn Runtime>,
    settings: SupervisorSettings,
    changed: Arc<Notify>,
    state: Mutex<State>,
    /// Lists the tools of each new deployment before it goes live (none in some tests).
    discovery: Option<Arc<ToolDiscovery>>,
}

impl Supervisor {
    pub fn new(
        store: Arc<dyn Store>,
        vault: Arc<Vault>,
        runtime: Arc<dyn Runtime>,
        settings: SupervisorSettings,
        changed: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            vault,
            runtime,
            settings,
            changed,
            state: Mutex::new(State::default()),
            discovery: None,
        }
    }

    /// Lists the tools of every new deployment once it is healthy, before it goes live.
    pub fn with_discovery(mut self, discovery: Arc<ToolDiscovery>) -> Self {
        self.discovery = Some(discovery);
        self
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The deployment serving `server_id`, if any.
    pub fn live(&self, server_id: Uuid) -> Option<LiveDeployment> {
        self.state().live.get(&server_id).cloned()
    }

    /// Gives the deployment of `history` serving `server_id` what its process has printed up
    /// to now (redacted and bounded as stored) instead of what was stored when it went live.
    pub(crate) fn with_live_output(&self, server_id: Uuid, history: &mut [DeploymentRecord]) {
        if let Some(live) = self.live(server_id)
            && let Some(record) = history
                .iter_mut()
                .find(|r| r.deployment.id == live.deployment_id)
        {
            record.output = Some(live.output());
        }
    }

    /// Reconciles until `shutdown` resolves, then stops every deployment.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            if let Err(error) = Arc::clone(&self).reconcile().await {
                tracing::error!(%error, "reconciling deployments failed");
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = self.changed.notified() => {}
                () = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
        self.stop_all().await;
    }

    /// One pass: start what should run, stop what should not.
    pub async fn reconcile(self: Arc<Self>) -> Result<(), crate::store::StoreError> {
        let servers = self.store.list_servers().await?;
        let wanted: HashMap<Uuid, Server> = servers
            .into_iter()
            .filter(|s| s.enabled && s.runtime.is_some())
            .map(|s| (s.id, s))
            .collect();
        let mut to_stop = Vec::new();
        let mut to_start = Vec::new();
        {
            let mut state = self.state();
            let stale: Vec<Uuid> = state
                .live
                .keys()
                .filter(|id| !wanted.contains_key(id))
                .copied()
                .collect();
            for id in stale {
                to_stop.extend(state.live.remove(&id));
            }
            for server in wanted.values() {
                let current = state.live.get(&server.id).map(|l| l.generation);
                let recently_failed =
                    state
                        .failed
                        .get(&server.id)
                        .is_some_and(|(generation, at)| {
                            *generation == server.deploy_generation
                                && at.elapsed() < RETRY_FAILED_AFTER
                        });
                if current != Some(server.deploy_generation)
                    && !recently_failed
                    && state.in_flight.insert(server.id)
                {
                    to_start.push(server.clone());
                }
            }
        }
        for old in to_stop {
            self.retire(old).await;
        }
        for server in to_start {
            let this = Arc::clone(&self);
            tokio::spawn(async move {
                let id = server.id;
                this.deploy(server).await;
                this.state().in_flight.remove(&id);
                // Look again: the server may have changed while it was deploying.
                this.changed.notify_one();
            });
        }
        Ok(())
    }

    async fn deploy(&self, server: Server) {
        let Some(runtime) = server.runtime.clone() else {
            return;
        };
        let server_token = random_token("gst_");
        let t = now();
        let mut record = Deployment {
            id: Uuid::new_v4(),
            server_id: server.id,
            generation: server.deploy_generation,
            status: DeploymentStatus::Deploying,
            address: None,
            error: None,
            created_at: t,
            updated_at: t,
        };
        if let Err(error) = self
            .store
            .insert_deployment(&record, &token_hash(&server_token))
            .await
        {
            tracing::error!(server = %server.slug, %error, "could not record a deployment");
            return;
        }
        tracing::info!(server = %server.slug, generation = record.generation, "deploying");
        let mut secrets = Arc::new(SecretValues::default());
        let prepared = match self.server_uid(&server).await {
            Ok(uid) => self
                .environment(&server, record.id, &server_token)
                .await
                .map(|env| (uid, env)),
            Err(message) => Err(message),
        };
        let result = match prepared {
            Ok((uid, env)) => {
                secrets = Arc::new(SecretValues::new(
                    env.iter()
                        .filter(|(name, value)| is_secret_env(name, value))
                        .map(|(_, value)| value.clone()),
                ));
                let spec = LaunchSpec {
                    name: server.slug.clone(),
                    program: runtime.command.clone().into(),
                    args: runtime.args.clone(),
                    working_dir: runtime.working_dir.clone().map(Into::into),
                    env,
                    health_path: "/health_check".to_owned(),
                    startup_timeout: self.settings.startup_timeout,
                    limits: LimitOverrides {
                        memory_bytes: runtime.limits.memory_mib.map(|mib| mib << 20),
                        open_files: runtime.limits.open_files,
                        processes: runtime.limits.processes,
                    },
                    uid,
                };
                self.runtime.start(spec).await.map_err(|e| {
                    // The runtime's message leaves the output out; it is added here redacted.
                    let mut message = e.to_string();
                    for line in e.log_tail() {
                        message.push('\n');
                        message.push_str(line);
                    }
                    let output = redacted_output(e.log_tail(), &secrets);
                    (redact(&message, &secrets), Some(output))
                })
            }
            Err(message) => Err((message, None)),
        };
        match result {
            Ok(handle) => {
                let handle: Arc<dyn RunningDeployment> = Arc::from(handle);
                let address = handle.addr().to_string();
                if let Some(discovery) = &self.discovery {
                    discover_and_record(
                        discovery,
                        &*self.store,
                        &server,
                        record.id,
                        handle.addr(),
                        &secrets,
                    )
                    .await;
                }
                self.record_output(record.id, &redacted_output(&handle.logs(), &secrets))
                    .await;
                record.status = DeploymentStatus::Live;
                self.record(&record, Some(&address), None).await;
                tracing::info!(server = %server.slug, %address, "deployment live");
                let live = LiveDeployment {
                    deployment_id: record.id,
                    generation: record.generation,
                    handle,
                    secrets,
                    user_credentials: server.auth_type != AuthType::None,
                };
                let previous = {
                    let mut state = self.state();
                    state.failed.remove(&server.id);
                    state.live.insert(server.id, live)
                };
                if let Some(previous) = previous {
                    self.retire(previous).await;
                }
            }
            Err((message, output)) => {
                if let Some(output) = output {
                    self.record_output(record.id, &output).await;
                }
                tracing::warn!(server = %server.slug, error = %message, "deployment failed");
                record.status = DeploymentStatus::Failed;
                self.record(&record, None, Some(&message)).await;
                self.state()
                    .failed
                    .insert(server.id, (record.generation, Instant::now()));
            }
        }
    }

    async fn record(&self, record: &Deployment, address: Option<&str>, error: Option<&str>) {
        if let Err(e) = self
            .store
            .update_deployment(record.id, record.status, address, error)
            .await
        {
            tracing::error!(deployment = %record.id, error = %e, "could not record deployment status");
        }
    }

    async fn record_output(&self, deployment: Uuid, output: &str) {
        if let Err(error) = self
            .store
            .record_deployment_output(deployment, output)
            .await
        {
            tracing::error!(%deployment, %error, "could not record deployment output");
        }
    }

    async fn retire(&self, old: LiveDeployment) {
        old.handle.stop().await;
        // Its last words, kept with the deployment's history.
        self.record_output(old.deployment_id, &old.output()).await;
        if let Err(error) = self
            .store
            .update_deployment(old.deployment_id, DeploymentStatus::Stopped, None, None)
            .await
        {
            tracing::debug!(deployment = %old.deployment_id, %error, "could not mark deployment stopped");
        }
    }

    /// Stops every deployment (shutdown).
    pub async fn stop_all(&self) {
        let all: Vec<LiveDeployment> = self.state().live.drain().map(|(_, l)| l).collect();
        for live in all {
            self.retire(live).await;
        }
    }

    /// The uid the server's processes run under, when the runtime gives servers uids of their
    /// own: the one stored with the server, or (at its first launch, or when the range changed)
    /// the lowest free one of the range, stored.
    async fn server_uid(&self, server: &Server) -> Result<ServerUid, String> {
        let Some(range) = self.runtime.server_uid_range() else {
            // Not root (or isolation off): no server gets a uid of its own.
            return Ok(ServerUid::Platform(
                "the runtime gives no server a uid of its own".to_owned(),
            ));
        };
        let assignment = self
            .store
            .assign_server_uid(server.id, range.clone())
            .await
            .map_err(|e| format!("could not assign the server its uid: {e}"))?;
        Ok(match assignment {
            UidAssignment::Kept(uid) => ServerUid::Own(uid),
            UidAssignment::Assigned {
                uid,
                replaced: None,
            } => {
                tracing::info!(server = %server.slug, uid, "the server has its own uid");
                ServerUid::Own(uid)
            }
            UidAssignment::Assigned {
                uid,
                replaced: Some(old),
            } => {
                tracing::warn!(
                    server = %server.slug,
                    old_uid = old,
                    uid,
                    "the server's uid lies outside --server-uid-range {}-{}: it gets a new one; \
                     files its old uid owns (in its working directory, say) are not its own any more",
                    range.start(),
                    range.end()
                );
                ServerUid::Own(uid)
            }
            UidAssignment::Exhausted => {
                let reason = format!(
                    "every uid of the server range {}-{} is taken by another server",
                    range.start(),
                    range.end()
                );
                tracing::warn!(server = %server.slug, "{reason}");
                ServerUid::Platform(reason)
            }
        })
    }

    /// The process environment, built from scratch: the developer's env vars (reserved names
    /// dropped again, whatever the store holds) and then the system variables, which win.
    async fn environment(
        &self,
        server: &Server,
        deployment_id: Uuid,
        server_token: &SecretString,
    ) -> Result<Vec<(String, SecretString)>, String> {
        let sealed = self
            .store
            .sealed_env_vars(server.id)
            .await
            .map_err(|e| format!("could not read env vars: {e}"))?;
        let mut env: Vec<(String, SecretString)> = Vec::with_capacity(sealed.len() + 8);
        for var in sealed {
            if let Some((_, reason)) = env_name_problem(&var.name) {
                tracing::warn!(server = %server.slug, "dropping env var from the store: {reason}");
                continue;
            }
            let value = self
                .vault
                .decrypt_string(&var.ciphertext, &env_var_aad(server.id, var.id))
                .map_err(|e| format!("env var {} could not be decrypted: {e}", var.name))?;
            env.push((var.name, value));
        }
        if !env.iter().any(|(name, _)| name == "PATH") {
            env.push(("PATH".to_owned(), SecretString::from(DEFAULT_PATH)));
        }
        let backend = self.settings.backend_url.clone();
        let system = [
            ("GUMSTACK_SERVER_ID", server.id.to_string()),
            ("GUMSTACK_DEPLOYMENT_ID", deployment_id.to_string()),
            ("GUMSTACK_BACKEND_URL", backend.clone()),
            ("GUMLOOP_BACKEND_URL", backend),
            ("GUMSTACK_MCP_URL", self.settings.urls.mcp_url(&server.slug)),
            ("ENVIRONMENT", "production".to_owned()),
        ];
        for (name, value) in system {
            env.push((name.to_owned(), SecretString::from(value)));
        }
        env.push(("GUMSTACK_SERVER_TOKEN".to_owned(), server_token.clone()));
        Ok(env)
    }
}
