//! Why a start failed.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// A deployment could not be started. Nothing of it is left running.
///
/// [`StartError::Exited`] and [`StartError::HealthTimeout`] are the server's fault: show the
/// message and [`StartError::log_tail`] (redacted) to its developer. The others are the host's
/// or the configuration's: log them with their source chain.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No free loopback port could be reserved.
    #[error("could not reserve a loopback port")]
    Port(#[source] io::Error),
    /// The program could not be started (not found, not executable, bad working directory…).
    #[error("could not start `{}`", program.display())]
    Spawn {
        /// The program from the spec.
        program: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The process exited before its health check answered 200.
    #[error("the server process exited with {status} before its health check answered")]
    Exited {
        /// How it exited.
        status: ExitStatus,
        /// Its last output lines, unredacted.
        log_tail: Vec<String>,
    },
    /// The health check did not answer 200 within the startup timeout; the process was killed.
    #[error("the server did not answer its health check with 200 within {timeout:?}")]
    HealthTimeout {
        /// The spec's startup timeout.
        timeout: Duration,
        /// Its last output lines, unredacted.
        log_tail: Vec<String>,
    },
    /// Waiting for the process failed; it was killed.
    #[error("lost track of the server process")]
    Wait(#[source] io::Error),
    /// The process can't be contained as the runtime's [`crate::Isolation`] asks: with strict
    /// isolation a layer is missing, or its sandbox could not be prepared.
    #[error("the server `{name}` was not started: {reason}")]
    Isolation {
        /// The spec's name.
        name: String,
        /// What is missing or failed.
        reason: String,
    },
    /// The HTTP client for the health check could not be built.
    #[error("could not build the health-check client")]
    HealthClient(#[source] reqwest::Error),
}

impl StartError {
    /// The last output lines of the failed process (unredacted), empty when it never ran.
    pub fn log_tail(&self) -> &[String] {
        match self {
            Self::Exited { log_tail, .. } | Self::HealthTimeout { log_tail, .. } => log_tail,
            _ => &[],
        }
    }
}
