//! Signalling a server's process group, shared by the child handle and the spawner thread.

use rustix::io::Errno;
use rustix::process::{Pid, Signal};

/// Sends `signal` to the process group led by `pid`. A group that is already gone is not an
/// error; other failures are logged.
pub(crate) fn signal_group(pid: u32, signal: Signal) {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return;
    };
    match rustix::process::kill_process_group(pid, signal) {
        Ok(()) | Err(Errno::SRCH) => {}
        Err(error) => {
            tracing::warn!(pid = pid.as_raw_nonzero().get(), ?signal, %error, "could not signal a server's process group")
        }
    }
}
