//! One server process: how it is started, and how its process group is signalled and reaped.

use std::io;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::process::Signal;
use secrecy::ExposeSecret;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::isolation::Confinement;
use crate::log_buffer::{LogBuffer, pump};
use crate::process_group::signal_group;
use crate::spawner;
use crate::spec::LaunchSpec;

/// How long to wait for the output pipes to deliver their last lines once the group is dead.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// A running server process with its own process group, whose output is being collected.
///
/// Dropping it kills the whole group; [`RunningProcess::reap`], [`RunningProcess::kill`] and
/// [`RunningProcess::terminate`] end it in order and collect its last output.
#[derive(Debug)]
pub(crate) struct RunningProcess {
    child: Child,
    pid: u32,
    started: Instant,
    pumps: Vec<JoinHandle<()>>,
    /// Whether the group may still have members, so dropping must kill it.
    armed: bool,
}

impl RunningProcess {
    /// Starts `spec` listening on `port`, its output going to `logs`.
    pub(crate) async fn spawn(
        spec: &LaunchSpec,
        confinement: &Confinement,
        port: u16,
        deployment: &Arc<str>,
        logs: &Arc<LogBuffer>,
    ) -> io::Result<Self> {
        let mut child = spawner::spawn(command(spec, confinement, port)).await?;
        let pid = child
            .id()
            .ok_or_else(|| io::Error::other("the new process has no pid"))?;
        let mut pumps = Vec::with_capacity(2);
        if let Some(stdout) = child.stdout.take() {
            pumps.push(pump(
                stdout,
                "stdout",
                Arc::clone(deployment),
                Arc::clone(logs),
            ));
        }
        if let Some(stderr) = child.stderr.take() {
            pumps.push(pump(
                stderr,
                "stderr",
                Arc::clone(deployment),
                Arc::clone(logs),
            ));
        }
        Ok(Self {
            child,
            pid,
            started: Instant::now(),
            pumps,
            armed: true,
        })
    }

    /// The pid of the process, which is also its process group id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// How long ago the process was started.
    pub(crate) fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Resolves when the process exits. Cancel-safe.
    pub(crate) async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// After the process has exited: kills what is left of its group and collects the last
    /// output.
    pub(crate) async fn reap(mut self) {
        self.finish().await;
    }

    /// Kills the whole group at once and waits for the process.
    pub(crate) async fn kill(mut self) {
        signal_group(self.pid, Signal::KILL);
        let _ = self.child.wait().await;
        self.finish().await;
    }

    /// `SIGTERM` to the group, up to `grace` for the process to exit, then `SIGKILL`.
    pub(crate) async fn terminate(mut self, grace: Duration) {
        signal_group(self.pid, Signal::TERM);
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            tracing::debug!(
                pid = self.pid,
                "grace period over, killing the process group"
            );
            signal_group(self.pid, Signal::KILL);
            let _ = self.child.wait().await;
        }
        self.finish().await;
    }

    /// Kills any member of the group still running (a server's own children) and waits briefly
    /// for the output pipes to close.
    async fn finish(&mut self) {
        signal_group(self.pid, Signal::KILL);
        self.armed = false;
        let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
        for pump in &mut self.pumps {
            if tokio::time::timeout_at(deadline, pump).await.is_err() {
                break;
            }
        }
    }
}

impl Drop for RunningProcess {
    fn drop(&mut self) {
        if self.armed {
            signal_group(self.pid, Signal::KILL);
        }
        for pump in &self.pumps {
            pump.abort();
        }
    }
}

/// The command for `spec`: a fresh environment (the spec's plus `PORT`), its own process group,
/// no stdin, piped output, contained as `confinement` says, and death with the platform.
fn command(spec: &LaunchSpec, confinement: &Confinement, port: u16) -> Command {
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .env_clear()
        .envs(
            spec.env
                .iter()
                .filter(|(name, _)| name != "PORT")
                .map(|(name, value)| (name, value.expose_secret())),
        )
        .env("PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A `Child` dropped before it is wrapped (the start future cancelled while the spawner
        // thread's answer waits in its channel) must not leave the process running.
        .kill_on_drop(true)
        .process_group(0);
    if let Some(dir) = &spec.working_dir {
        command.current_dir(dir);
    }
    confinement.apply(spec, &mut command);
    // After the confinement: changing the uid clears the parent-death signal.
    die_with_parent(&mut command);
    command
}

/// Makes the child receive `SIGKILL` when the thread that forked it (the spawner thread, which
/// lives as long as the platform) exits.
fn die_with_parent(command: &mut Command) {
    let parent = rustix::process::getpid();
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // operations are allowed. It makes two raw syscalls through rustix (prctl, getppid),
    // compares two integers and builds `io::Error`s from raw OS codes; it allocates nothing,
    // takes no lock and touches no shared state.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
            // The platform may have died between fork and prctl; then the signal never comes.
            if rustix::process::getppid() != Some(parent) {
                return Err(Errno::SRCH.into());
            }
            Ok(())
        });
    }
}
