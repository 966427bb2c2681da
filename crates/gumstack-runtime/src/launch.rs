//! One attempt at a healthy process: spawn it, then poll its health check.

use std::io;
use std::process::ExitStatus;
use std::sync::Arc;

use crate::child::RunningProcess;
use crate::error::StartError;
use crate::health::HealthCheck;
use crate::isolation::Confinement;
use crate::shared::Shared;
use crate::spec::LaunchSpec;

/// How many output lines a start failure carries.
const ERROR_LOG_TAIL: usize = 40;

/// Why an attempt did not produce a healthy process. Nothing of it is left running.
#[derive(Debug)]
pub(crate) enum LaunchFailure {
    Spawn(io::Error),
    Exited(ExitStatus),
    HealthTimeout,
    Wait(io::Error),
}

/// Everything needed to (re)start one deployment's process.
#[derive(Debug)]
pub(crate) struct Launcher {
    spec: LaunchSpec,
    confinement: Confinement,
    port: u16,
    health: HealthCheck,
    shared: Arc<Shared>,
}

impl Launcher {
    pub(crate) fn new(
        spec: LaunchSpec,
        confinement: Confinement,
        port: u16,
        shared: Arc<Shared>,
    ) -> reqwest::Result<Self> {
        let health = HealthCheck::new(port, &spec.health_path)?;
        Ok(Self {
            spec,
            confinement,
            port,
            health,
            shared,
        })
    }

    /// The state shared with the deployment handle.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Starts the process and waits until its health check answers 200, it exits, or the
    /// startup timeout passes. Dropping the future kills the process.
    pub(crate) async fn launch(&self) -> Result<RunningProcess, LaunchFailure> {
        let shared = &self.shared;
        let mut process = RunningProcess::spawn(
            &self.spec,
            &self.confinement,
            self.port,
            &shared.name,
            &shared.logs,
        )
        .await
        .map_err(LaunchFailure::Spawn)?;
        shared.set_pid(Some(process.pid()));
        tracing::debug!(deployment = %shared.name, pid = process.pid(), port = self.port, "process started");

        let failure = tokio::select! {
            () = self.health.until_healthy() => return Ok(process),
            exited = process.wait() => match exited {
                Ok(status) => LaunchFailure::Exited(status),
                Err(error) => LaunchFailure::Wait(error),
            },
            () = tokio::time::sleep(self.spec.startup_timeout) => LaunchFailure::HealthTimeout,
        };
        match failure {
            LaunchFailure::Exited(_) => process.reap().await,
            _ => process.kill().await,
        }
        shared.set_pid(None);
        Err(failure)
    }

    /// The error `start` reports for `failure`, with the process's last output.
    pub(crate) fn start_error(&self, failure: LaunchFailure) -> StartError {
        let log_tail = self.shared.logs.tail(ERROR_LOG_TAIL);
        match failure {
            LaunchFailure::Spawn(source) => StartError::Spawn {
                program: self.spec.program.clone(),
                source,
            },
            LaunchFailure::Exited(status) => StartError::Exited { status, log_tail },
            LaunchFailure::HealthTimeout => StartError::HealthTimeout {
                timeout: self.spec.startup_timeout,
                log_tail,
            },
            LaunchFailure::Wait(source) => StartError::Wait(source),
        }
    }

    /// A short description of `failure` for [`crate::DeploymentStatus::Restarting`].
    pub(crate) fn describe(&self, failure: &LaunchFailure) -> String {
        match failure {
            LaunchFailure::Spawn(error) => format!("could not start: {error}"),
            LaunchFailure::Exited(status) => status.to_string(),
            LaunchFailure::HealthTimeout => {
                format!("no healthy answer within {:?}", self.spec.startup_timeout)
            }
            LaunchFailure::Wait(error) => format!("lost track of the process: {error}"),
        }
    }
}
