//! The background task that watches a live process, restarts it when it exits on its own, and
//! stops it when asked.

use std::io;
use std::process::ExitStatus;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::DeploymentStatus;
use crate::child::RunningProcess;
use crate::launch::Launcher;

/// How a deployment is restarted and stopped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// Time between `SIGTERM` and `SIGKILL` on stop.
    pub(crate) grace_period: Duration,
    /// Delay before the first restart attempt; doubled for each further attempt.
    pub(crate) backoff_base: Duration,
    /// The longest delay between attempts.
    pub(crate) backoff_max: Duration,
    /// A process that stayed up this long resets the attempt counter.
    pub(crate) stable_after: Duration,
}

impl Policy {
    /// The delay before restart `attempt` (1-based): base, 2·base, 4·base … capped at max.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1_u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.backoff_base
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

/// Supervises `process` (live) until `stop` is cancelled, then stops it; the status ends as
/// [`DeploymentStatus::Stopped`].
pub(crate) async fn supervise(
    launcher: Launcher,
    mut process: RunningProcess,
    policy: Policy,
    stop: CancellationToken,
) {
    let shared = launcher.shared();
    let mut attempt = 0_u32;
    'live: loop {
        // Biased: a process killed by a dropped handle (which cancels first) is not restarted.
        let exited = tokio::select! {
            biased;
            () = stop.cancelled() => {
                process.terminate(policy.grace_period).await;
                break 'live;
            }
            exited = process.wait() => exited,
        };
        if process.uptime() >= policy.stable_after {
            attempt = 0;
        }
        process.reap().await;
        let mut last_exit = describe_exit(&exited);
        loop {
            attempt = attempt.saturating_add(1);
            let delay = policy.backoff(attempt);
            shared.set_pid(None);
            tracing::warn!(deployment = %shared.name, %last_exit, attempt, ?delay, "server process ended, restarting");
            shared.logs.push(format!(
                "[gumstack] process ended ({last_exit}); restart attempt {attempt} in {delay:?}"
            ));
            shared.status.send_replace(DeploymentStatus::Restarting {
                attempt,
                last_exit: last_exit.clone(),
            });
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stop.cancelled() => break 'live,
            }
            // Cancelling drops the attempt, which kills the starting process.
            let launched = tokio::select! {
                launched = launcher.launch() => launched,
                () = stop.cancelled() => break 'live,
            };
            match launched {
                Ok(live) => {
                    process = live;
                    tracing::info!(deployment = %shared.name, pid = process.pid(), "server process restarted and healthy");
                    shared.status.send_replace(DeploymentStatus::Live);
                    continue 'live;
                }
                Err(failure) => last_exit = launcher.describe(&failure),
            }
        }
    }
    shared.set_pid(None);
    shared.status.send_replace(DeploymentStatus::Stopped);
    tracing::info!(deployment = %shared.name, "deployment stopped");
}

fn describe_exit(exited: &io::Result<ExitStatus>) -> String {
    match exited {
        Ok(status) => status.to_string(),
        Err(error) => format!("lost track of the process: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = Policy {
            grace_period: Duration::from_secs(5),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            stable_after: Duration::from_secs(60),
        };
        let delays: Vec<_> = (1..=8).map(|n| policy.backoff(n)).collect();
        let secs: Vec<f64> = delays.iter().map(Duration::as_secs_f64).collect();
        assert_eq!(secs, [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]);
        assert_eq!(policy.backoff(u32::MAX), Duration::from_secs(30));
    }
}
