//! The long-lived thread every server process is forked from.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, not the process. A
//! child forked from a tokio blocking-pool thread (which exits after idling) or from a thread
//! that later goes away would be killed while the platform is still running. So all children
//! are forked from one thread that lives as long as the process: the signal then fires exactly
//! when the platform dies.

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{OnceLock, mpsc};
use std::thread;

use rustix::process::Signal;
use tokio::process::{Child, Command};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::process_group::signal_group;

/// One spawn, carried to the spawner thread.
struct Request {
    command: Command,
    /// The runtime the child's pipes and exit notification belong to.
    runtime: Handle,
    reply: oneshot::Sender<io::Result<Child>>,
}

/// Spawns `command` from the spawner thread, registered with the current tokio runtime.
pub(crate) async fn spawn(command: Command) -> io::Result<Child> {
    let runtime = Handle::try_current().map_err(io::Error::other)?;
    let (reply, response) = oneshot::channel();
    spawner()?
        .send(Request {
            command,
            runtime,
            reply,
        })
        .map_err(|_| stopped())?;
    response.await.map_err(|_| stopped())?
}

fn stopped() -> io::Error {
    io::Error::other("the process spawner thread has stopped")
}

/// The channel to the spawner thread, started on first use.
fn spawner() -> io::Result<&'static mpsc::Sender<Request>> {
    static SPAWNER: OnceLock<Option<mpsc::Sender<Request>>> = OnceLock::new();
    SPAWNER
        .get_or_init(|| {
            let (requests, incoming) = mpsc::channel();
            thread::Builder::new()
                .name("gumstack-spawner".to_owned())
                .spawn(move || serve(incoming))
                .ok()
                .map(|_| requests)
        })
        .as_ref()
        .ok_or_else(|| io::Error::other("could not start the process spawner thread"))
}

/// The spawner thread's loop. It must never panic: its exit would kill every child.
fn serve(incoming: mpsc::Receiver<Request>) {
    for request in incoming {
        let Request {
            mut command,
            runtime,
            reply,
        } = request;
        let _context = runtime.enter();
        let spawned = panic::catch_unwind(AssertUnwindSafe(|| command.spawn()))
            .unwrap_or_else(|_| Err(io::Error::other("spawning the process panicked")));
        // The caller went away (its future was dropped): nobody will supervise this child.
        if let Err(Ok(orphan)) = reply.send(spawned)
            && let Some(pid) = orphan.id()
        {
            signal_group(pid, Signal::KILL);
        }
    }
}
