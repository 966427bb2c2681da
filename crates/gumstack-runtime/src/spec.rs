//! What to start.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

/// Everything a runtime needs to start one server.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    /// A name for logs, e.g. the server's slug.
    pub name: String,
    /// The program to run: a path, or a bare name looked up in the `PATH` given in [`env`]
    /// (the C library's default, e.g. `/bin:/usr/bin`, when it has none), never in the
    /// platform's own `PATH`.
    ///
    /// [`env`]: LaunchSpec::env
    pub program: PathBuf,
    /// Arguments after the program.
    pub args: Vec<String>,
    /// The working directory; the platform's own when `None`.
    pub working_dir: Option<PathBuf>,
    /// The complete environment of the process, except `PORT`: nothing else is inherited. The
    /// runtime sets `PORT` itself; an entry named `PORT` here is dropped.
    pub env: Vec<(String, SecretString)>,
    /// The path polled until it answers 200, e.g. `/health_check`.
    pub health_path: String,
    /// How long the process has to answer its health check before the start fails.
    pub startup_timeout: Duration,
    /// This server's own resource limits, each replacing the runtime's default when set.
    pub limits: LimitOverrides,
    /// The uid its process runs under when the platform runs as root; ignored otherwise.
    pub uid: ServerUid,
}

/// The uid a server's process runs under when the platform runs as root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerUid {
    /// Its own uid (and gid of the same number), from
    /// [`Isolation::uid_range`](crate::Isolation::uid_range). The caller keeps one per server
    /// (the platform stores it with the server), so a server gets the same uid at every launch
    /// and never another server's. A uid outside the range, or 0, is refused.
    Own(u32),
    /// None of its own, for this reason (e.g. "every uid of the server range 2000000-2000999
    /// is taken"): the process runs under the platform's uid, a layer missing from its
    /// containment (refused with [`Isolation::strict`](crate::Isolation::strict)).
    Platform(String),
}

/// A server's own resource limits ([`crate::ResourceLimits`]), each replacing the runtime's
/// default when set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitOverrides {
    /// Memory in bytes (`RLIMIT_DATA`: the heap and private writable mappings).
    pub memory_bytes: Option<u64>,
    /// Open file descriptors.
    pub open_files: Option<u64>,
    /// Processes and threads of the server's own uid.
    pub processes: Option<u64>,
}
