//! [`Shared`], the state of one deployment that its handle, its launcher and its supervisor
//! task all see.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use crate::log_buffer::LogBuffer;
use crate::{Containment, DeploymentStatus};

/// What a deployment handle and its supervisor task both see.
pub(crate) struct Shared {
    pub(crate) name: Arc<str>,
    pub(crate) addr: SocketAddr,
    pub(crate) status: watch::Sender<DeploymentStatus>,
    pid: Mutex<Option<u32>>,
    pub(crate) logs: Arc<LogBuffer>,
    /// How its processes are contained (the same for every restart).
    pub(crate) containment: Containment,
}

impl Shared {
    /// The state of a deployment that is starting and has no process yet.
    pub(crate) fn new(
        name: Arc<str>,
        addr: SocketAddr,
        logs: Arc<LogBuffer>,
        containment: Containment,
    ) -> Self {
        Self {
            name,
            addr,
            status: watch::Sender::new(DeploymentStatus::Starting),
            pid: Mutex::new(None),
            logs,
            containment,
        }
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        *self.pid.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_pid(&self, pid: Option<u32>) {
        *self.pid.lock().unwrap_or_else(PoisonError::into_inner) = pid;
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .field("status", &*self.status.borrow())
            .field("pid", &self.pid())
            .finish_non_exhaustive()
    }
}
