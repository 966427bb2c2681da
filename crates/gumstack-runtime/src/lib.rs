//! Starts, health-checks, restarts and stops Gumstack server processes.
//!
//! The platform codes against two small traits: a [`Runtime`] turns a [`LaunchSpec`] into a
//! running, healthy [`Deployment`]; the deployment reports its address, status, pid and recent
//! output, and stops on request. [`ProcessRuntime`] implements them with supervised child
//! processes on this machine; a Kubernetes runtime can implement them later.
//!
//! A process deployment:
//!
//! - listens on a loopback port picked by the runtime and passed as `PORT`; the port survives
//!   restarts, so [`Deployment::addr`] is stable;
//! - gets exactly the spec's environment plus `PORT` (and `TMPDIR`, its private directory,
//!   when contained and the spec sets none), nothing of the platform's own;
//! - is contained ([`Isolation`]): its own uid when the platform runs as root, no
//!   capabilities, `no_new_privs`, a Landlock sandbox, a seccomp filter and resource limits;
//! - runs in its own process group and receives `SIGKILL` if the platform dies
//!   (`PR_SET_PDEATHSIG`), so no server outlives the platform;
//! - is restarted with exponential backoff when it exits on its own;
//! - is stopped with `SIGTERM` to its group, then `SIGKILL` after a grace period, by
//!   [`Deployment::stop`], and with `SIGKILL` when the handle is dropped without stopping.
//!
//! # Layout
//!
//! - `lib.rs`: the [`Runtime`] and [`Deployment`] traits and [`DeploymentStatus`].
//! - `spec.rs`: [`LaunchSpec`], what to start.
//! - `error.rs`: [`StartError`], why a start failed.
//! - `process_runtime.rs`: [`ProcessRuntime`] and its deployment handle.
//! - `shared.rs`: the state of one deployment that its handle, launcher and supervisor share.
//! - `launch.rs`: one attempt at a healthy process: spawn, then poll the health check.
//! - `supervisor.rs`: the background task that restarts a crashed process and stops it.
//! - `child.rs`: the command line, environment and process-group handling of one child.
//! - `spawner.rs`: the long-lived thread every child is forked from (see its docs for why).
//! - `process_group.rs`: signalling a child's process group.
//! - `isolation/`: the containment of each process (own uid, no privileges, Landlock,
//!   seccomp, resource limits): what the parent prepares, and what the child applies to itself
//!   between fork and exec.
//! - `health.rs`: the HTTP health probe.
//! - `log_buffer.rs`: the bounded buffer of recent output lines and the pipe readers.

mod child;
mod error;
mod health;
mod isolation;
mod launch;
mod log_buffer;
mod process_group;
mod process_runtime;
mod shared;
mod spawner;
mod spec;
mod supervisor;

use std::net::SocketAddr;

use tokio::sync::watch;

pub use error::StartError;
pub use isolation::{
    Containment, DEFAULT_UID_RANGE, Isolation, IsolationSupport, ResourceLimits, SYSTEM_READ_ONLY,
};
pub use process_runtime::ProcessRuntime;
pub use spec::{LaunchSpec, LimitOverrides, ServerUid};

/// Where a deployment is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentStatus {
    /// The process has been started and its health check has not answered yet.
    Starting,
    /// The health check answered 200; the deployment serves traffic.
    Live,
    /// The process exited on its own and is being restarted.
    Restarting {
        /// Restart attempts since the process last stayed up long enough, starting at 1.
        attempt: u32,
        /// Why the previous process ended, e.g. `exit status: 1` or `signal: 9 (SIGKILL)`.
        last_exit: String,
    },
    /// The deployment was stopped; nothing of it is running.
    Stopped,
}

/// Starts server deployments.
#[async_trait::async_trait]
pub trait Runtime: Send + Sync + std::fmt::Debug {
    /// Starts the process and resolves once its health check answers 200 (the deployment is then
    /// [`DeploymentStatus::Live`]).
    ///
    /// On failure nothing is left running; the error carries the exit status or the timeout and
    /// the last lines of the process's output. Dropping the returned future also kills the
    /// process.
    async fn start(&self, spec: LaunchSpec) -> Result<Box<dyn Deployment>, StartError>;

    /// The uids this runtime runs servers under, one each ([`ServerUid::Own`]), or `None` when
    /// it gives no server a uid of its own (the platform is not root, isolation is off, or the
    /// runtime runs no processes): then [`LaunchSpec::uid`] is ignored and the caller need
    /// not pick one.
    fn server_uid_range(&self) -> Option<std::ops::RangeInclusive<u32>> {
        None
    }
}

/// A started server: one supervised process (or, later, one pod).
///
/// Dropping a deployment without calling [`Deployment::stop`] kills it at once (`SIGKILL`).
#[async_trait::async_trait]
pub trait Deployment: Send + Sync + std::fmt::Debug {
    /// Where the server listens: `127.0.0.1:<port>`, the same across restarts.
    fn addr(&self) -> SocketAddr;

    /// The current status, updated as the deployment restarts or stops.
    fn status(&self) -> watch::Receiver<DeploymentStatus>;

    /// The pid of the current process, `None` while none is running (between restarts, after
    /// stop).
    fn pid(&self) -> Option<u32>;

    /// The last lines of the process's stdout and stderr (interleaved, oldest first), across
    /// restarts. Unredacted: they may contain secrets the server printed.
    fn logs(&self) -> Vec<String>;

    /// How the process is contained: its uid, and what is missing from its sandbox.
    fn containment(&self) -> Containment;

    /// Stops the deployment: `SIGTERM` to its process group, a grace period, then `SIGKILL`
    /// (a process caught mid-restart, not yet serving, gets `SIGKILL` at once). Resolves once
    /// the process has exited, the rest of its group has been killed, and the status is
    /// [`DeploymentStatus::Stopped`].
    /// Calling it again (or concurrently) waits for the same outcome.
    async fn stop(&self);
}
