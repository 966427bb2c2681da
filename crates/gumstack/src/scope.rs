//! Where a tool finds its request without plumbing: the task-local [`RequestScope`] the host
//! sets around every request, the process-wide host state, and [`spawn`].

use std::{
    fmt,
    sync::{Arc, OnceLock},
};

use gumstack_config::Config;
use tokio::task::JoinHandle;

use crate::{
    caller::GumstackContext,
    env::HostEnv,
    identity::{CallerIdentity, Presented},
    platform_api::PlatformApi,
};

/// What a host knows for its whole life: the server's config.yaml, its environment and, in
/// production, its client of the platform.
pub(crate) struct HostState {
    pub(crate) config: Config,
    pub(crate) env: HostEnv,
    /// The platform's API (production only): where the callers' credentials come from.
    pub(crate) platform: Option<PlatformApi>,
}

impl fmt::Debug for HostState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostState")
            .field("server", &self.config.name)
            .field("env", &self.env)
            .field("platform", &self.platform)
            .finish()
    }
}

/// The state of the host of this process, for code that runs outside any request (for example
/// `get_credentials_sync()` at start-up, or from a plain thread).
///
/// Why a global: the original SDK's `get_credentials()` takes no argument, so a tool author
/// never threads a handle through their code. Inside a request the task-local scope carries the
/// state; this fallback covers the rest. A process runs one host (the platform starts one
/// process per deployment), so the first host built wins; requests always use their own host's
/// state, so several hosts in one process (tests) still see the right config.
static PROCESS_HOST: OnceLock<Arc<HostState>> = OnceLock::new();

impl HostState {
    /// Makes this the host of the process unless one was built before.
    pub(crate) fn install(self) -> Arc<Self> {
        let state = Arc::new(self);
        if PROCESS_HOST.set(Arc::clone(&state)).is_err() {
            tracing::debug!(
                "a GumstackHost was already built in this process; code outside requests keeps \
                 using the first one"
            );
        }
        state
    }

    /// The host of the current request, else the host of the process, else `None`.
    pub(crate) fn current() -> Option<Arc<Self>> {
        RequestScope::current()
            .map(|scope| scope.host)
            .or_else(|| PROCESS_HOST.get().cloned())
    }
}

/// What the host knows about the request being handled.
#[derive(Debug, Clone)]
pub(crate) struct RequestScope {
    host: Arc<HostState>,
    /// The verified caller (and, in production, the identity header it was verified from);
    /// `None` when the request carries no verified identity.
    caller: Option<CallerIdentity>,
}

tokio::task_local! {
    static SCOPE: RequestScope;
}

impl RequestScope {
    pub(crate) fn new(host: Arc<HostState>, caller: Option<CallerIdentity>) -> Self {
        Self { host, caller }
    }

    /// The scope of the request this code runs in, if any.
    pub(crate) fn current() -> Option<Self> {
        SCOPE.try_with(Clone::clone).ok()
    }

    pub(crate) fn host(&self) -> &HostState {
        &self.host
    }

    pub(crate) fn caller(&self) -> Option<&GumstackContext> {
        self.caller.as_ref().map(|identity| &identity.caller)
    }

    /// The `Gumstack-Identity` and `Gumstack-Call` of this request as received (production
    /// only): what the platform releases the caller's credentials for. Never log them.
    pub(crate) fn presented(&self) -> Option<&Presented> {
        self.caller.as_ref()?.presented.as_deref()
    }

    /// Runs `future` with this scope as the current one.
    pub(crate) async fn run<F: Future>(self, future: F) -> F::Output {
        SCOPE.scope(self, future).await
    }
}

/// Like [`tokio::spawn`], but the spawned task keeps the current request's context, so
/// [`GumstackContext::current`] and [`get_credentials`](crate::get_credentials) keep working in
/// it. Outside a request it is plain `tokio::spawn`.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match RequestScope::current() {
        Some(scope) => tokio::spawn(scope.run(future)),
        None => tokio::spawn(future),
    }
}
