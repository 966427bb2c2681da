//! [`ProcessRuntime`]: deployments as supervised child processes on this machine.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use rustix::process::Signal;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::isolation::{Confinement, Isolation};
use crate::launch::Launcher;
use crate::log_buffer::LogBuffer;
use crate::process_group::signal_group;
use crate::shared::Shared;
use crate::supervisor::{Policy, supervise};
use crate::{
    Containment, Deployment, DeploymentStatus, IsolationSupport, LaunchSpec, Runtime, StartError,
};

/// Runs each deployment as a supervised child process listening on a loopback port.
///
/// The defaults suit production; tests shorten the delays:
///
/// ```
/// # use std::time::Duration;
/// let runtime = gumstack_runtime::ProcessRuntime {
///     restart_backoff_base: Duration::from_millis(50),
///     ..Default::default()
/// };
/// ```
#[derive(Debug, Clone)]
pub struct ProcessRuntime {
    /// Time between `SIGTERM` and `SIGKILL` when a deployment is stopped. Default 5 s.
    pub grace_period: Duration,
    /// Delay before the first restart of a crashed process, doubled for each further attempt.
    /// Default 0.5 s.
    pub restart_backoff_base: Duration,
    /// The longest delay between restart attempts. Default 30 s.
    pub restart_backoff_max: Duration,
    /// A process that stayed up this long before exiting restarts from the base delay again.
    /// Default 60 s.
    pub restart_reset_after: Duration,
    /// How many output lines each deployment keeps. Default 500.
    pub log_lines: usize,
    /// How each process is contained. Default: contained, warning about missing layers.
    pub isolation: Isolation,
}

impl Default for ProcessRuntime {
    fn default() -> Self {
        Self {
            grace_period: Duration::from_secs(5),
            restart_backoff_base: Duration::from_millis(500),
            restart_backoff_max: Duration::from_secs(30),
            restart_reset_after: Duration::from_secs(60),
            log_lines: 500,
            isolation: Isolation::default(),
        }
    }
}

impl ProcessRuntime {
    fn policy(&self) -> Policy {
        Policy {
            grace_period: self.grace_period,
            backoff_base: self.restart_backoff_base,
            backoff_max: self.restart_backoff_max,
            stable_after: self.restart_reset_after,
        }
    }
}

#[async_trait::async_trait]
impl Runtime for ProcessRuntime {
    async fn start(&self, spec: LaunchSpec) -> Result<Box<dyn Deployment>, StartError> {
        let port = free_loopback_port().map_err(StartError::Port)?;
        let confinement = Confinement::prepare(&self.isolation, &spec, port)?;
        let shared = Arc::new(Shared::new(
            Arc::from(spec.name.as_str()),
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            Arc::new(LogBuffer::new(self.log_lines)),
            confinement.containment().clone(),
        ));
        let launcher = Launcher::new(spec, confinement, port, Arc::clone(&shared))
            .map_err(StartError::HealthClient)?;
        tracing::info!(deployment = %shared.name, port, "starting server process");
        let process = match launcher.launch().await {
            Ok(process) => process,
            Err(failure) => {
                let error = launcher.start_error(failure);
                tracing::warn!(deployment = %shared.name, %error, "server failed to start");
                return Err(error);
            }
        };
        tracing::info!(deployment = %shared.name, pid = process.pid(), "server process live");
        shared.status.send_replace(DeploymentStatus::Live);
        let stop = CancellationToken::new();
        let supervisor = tokio::spawn(supervise(launcher, process, self.policy(), stop.clone()));
        Ok(Box::new(ProcessDeployment {
            shared,
            stop,
            supervisor: tokio::sync::Mutex::new(Some(supervisor)),
        }))
    }

    fn server_uid_range(&self) -> Option<std::ops::RangeInclusive<u32>> {
        (self.isolation.enabled && IsolationSupport::current().root)
            .then(|| self.isolation.uid_range.clone())
    }
}

/// Reserves a free loopback port by binding to port 0, then releases it for the server.
fn free_loopback_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// A deployment run by [`ProcessRuntime`].
#[derive(Debug)]
struct ProcessDeployment {
    shared: Arc<Shared>,
    /// Cancelled to make the supervisor stop the process.
    stop: CancellationToken,
    /// The supervisor task, taken by the first `stop`.
    supervisor: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

#[async_trait::async_trait]
impl Deployment for ProcessDeployment {
    fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    fn status(&self) -> watch::Receiver<DeploymentStatus> {
        self.shared.status.subscribe()
    }

    fn pid(&self) -> Option<u32> {
        self.shared.pid()
    }

    fn logs(&self) -> Vec<String> {
        self.shared.logs.all()
    }

    fn containment(&self) -> Containment {
        self.shared.containment.clone()
    }

    async fn stop(&self) {
        self.stop.cancel();
        // Held across the wait, so a concurrent second call returns only once all is stopped.
        let mut supervisor = self.supervisor.lock().await;
        if let Some(task) = supervisor.take()
            && let Err(error) = task.await
        {
            tracing::error!(deployment = %self.shared.name, %error, "deployment supervisor failed");
            if let Some(pid) = self.shared.pid() {
                signal_group(pid, Signal::KILL);
            }
            self.shared.set_pid(None);
        }
        self.shared.status.send_replace(DeploymentStatus::Stopped);
    }
}

impl Drop for ProcessDeployment {
    /// Kills the process group at once (the supervisor may never run again, e.g. when the
    /// tokio runtime is shutting down), then lets the supervisor wind down.
    fn drop(&mut self) {
        // Cancel first, so the supervisor takes the exit for a stop, not a crash.
        self.stop.cancel();
        if let Some(pid) = self.shared.pid() {
            signal_group(pid, Signal::KILL);
        }
    }
}
