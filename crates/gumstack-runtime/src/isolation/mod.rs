//! Containing a server process: what it can reach once it runs.
//!
//! A developer's server code is untrusted. Between fork and exec every server process is
//! confined in layers, each covering what another can't:
//!
//! - **its own uid**: when the platform runs as root, each server runs under an unprivileged
//!   uid (and a gid of the same number) of its own from [`Isolation::uid_range`], with no
//!   supplementary groups. The caller picks and keeps it ([`LaunchSpec::uid`]: the platform
//!   stores it with the server), so it is the same at every launch and never another's. File
//!   modes then keep it out of the platform's data directory and out of other servers' files,
//!   and it can signal or trace no other process.
//! - **no privileges**: every capability dropped (the bounding and ambient sets too) and
//!   `no_new_privs`, so no set-uid program or file capability hands any back.
//! - **Landlock**: read and execute only the system directories ([`SYSTEM_READ_ONLY`]), its
//!   program and [`Isolation::read_only_paths`]; read and write only its working directory and
//!   its private scratch directory; the data directory and `/proc` are not in its view at all.
//!   It may bind only its own port, and (ABI 6) signal no process and connect to no abstract
//!   socket outside its sandbox. Landlock also refuses tracing a process outside the sandbox,
//!   which covers reading its `/proc/<pid>/{environ,mem}`.
//! - **seccomp**: a filter refusing the system calls an HTTP server never needs and an escape
//!   would ([`seccomp`]).
//! - **resource limits**: writable memory, open files and, with its own uid, processes
//!   ([`ResourceLimits`]).
//!
//! What the kernel can't give is found once ([`IsolationSupport::current`]), logged at start
//! and reported with each deployment ([`Containment`]); with [`Isolation::strict`] a server is
//! not started at all when a layer is missing.

mod child;
mod landlock_rules;
mod private;
mod seccomp;
mod uids;

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use secrecy::ExposeSecret;
use tempfile::TempDir;
use tokio::process::Command;

use crate::error::StartError;
use crate::spec::{LaunchSpec, ServerUid};

pub use uids::DEFAULT_UID_RANGE;

/// System directories every server may read and execute from: programs, libraries,
/// certificates and the C library's configuration.
pub const SYSTEM_READ_ONLY: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt",
];

/// Device files every server may read and write.
const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

/// How server processes are contained.
#[derive(Debug, Clone)]
pub struct Isolation {
    /// Whether server processes are contained at all. Default `true`; turning it off is for
    /// debugging a server, never for production.
    pub enabled: bool,
    /// Refuse to start a server when a layer is missing (the kernel lacks Landlock or seccomp,
    /// or a platform running as root can't give the server its own uid). Default `false`:
    /// missing layers are warned about and reported with the deployment.
    pub strict: bool,
    /// The uids (and gids of the same numbers) servers get when the platform runs as root,
    /// one per server: the caller picks each server's ([`LaunchSpec::uid`]) from this range
    /// and keeps it; the runtime refuses one outside it. Default [`DEFAULT_UID_RANGE`].
    pub uid_range: std::ops::RangeInclusive<u32>,
    /// Directories (or files) every server may read and execute from besides
    /// [`SYSTEM_READ_ONLY`], e.g. a language runtime installed under `/home`.
    pub read_only_paths: Vec<PathBuf>,
    /// The limits each server process runs under.
    pub limits: ResourceLimits,
    /// Paths no server may reach, whatever its command names: the platform's data directory
    /// and master key files. They are carved out of every directory a server may read or
    /// write, and a server whose working directory or program lies inside one is refused.
    pub private_paths: Vec<PathBuf>,
}

impl Default for Isolation {
    fn default() -> Self {
        Self {
            enabled: true,
            strict: false,
            uid_range: DEFAULT_UID_RANGE,
            read_only_paths: Vec::new(),
            limits: ResourceLimits::default(),
            private_paths: Vec::new(),
        }
    }
}

impl Isolation {
    /// No containment at all: the process runs as the platform does (tests of the runtime's
    /// own mechanics).
    pub fn off() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// What is missing on this machine for the containment these settings ask for, one
    /// sentence each; empty when every layer is there.
    pub fn missing_layers(&self) -> Vec<String> {
        if !self.enabled {
            return vec![
                "isolation is turned off: servers run with the platform's own rights".to_owned(),
            ];
        }
        IsolationSupport::current().missing()
    }
}

/// Resource limits of one server process (`setrlimit`, soft and hard alike). `None` leaves the
/// platform's own limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceLimits {
    /// Memory in bytes (`RLIMIT_DATA`): what the kernel counts since Linux 4.7, the heap
    /// (`brk`) and every private writable mapping, i.e. what the process can actually fill
    /// (thread stacks included). Default 4 GiB. Not the address space (`RLIMIT_AS`): V8-based
    /// servers (Node.js) reserve many GiB of `PROT_NONE` address space at start and fail
    /// under any address-space limit a server's memory would need.
    pub memory_bytes: Option<u64>,
    /// Open file descriptors (`RLIMIT_NOFILE`). Default 4096.
    pub open_files: Option<u64>,
    /// Processes and threads of the server's uid (`RLIMIT_NPROC`). Default 512. Applied only
    /// when the server has a uid of its own: the limit counts every process of the uid, so
    /// under the platform's uid it would count the platform's too.
    pub processes: Option<u64>,
}

impl ResourceLimits {
    /// These limits with a server's own in place of the defaults it sets.
    pub fn overridden_by(self, overrides: crate::spec::LimitOverrides) -> Self {
        Self {
            memory_bytes: overrides.memory_bytes.or(self.memory_bytes),
            open_files: overrides.open_files.or(self.open_files),
            processes: overrides.processes.or(self.processes),
        }
    }
}

impl Default for ResourceLimits {
    fn default() -> Self {
        Self {
            memory_bytes: Some(4 << 30),
            open_files: Some(4096),
            processes: Some(512),
        }
    }
}

/// What this machine's kernel and this process can give a server process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsolationSupport {
    /// The Landlock ABI version, `None` when Landlock is missing or disabled.
    pub landlock_abi: Option<i32>,
    /// Whether seccomp filters can be installed.
    pub seccomp: bool,
    /// Whether the platform runs as root, so each server can get a uid of its own.
    pub root: bool,
}

/// Landlock's ABI that scopes signals and abstract sockets to the sandbox.
const LANDLOCK_SCOPES_ABI: i32 = 6;
/// Landlock's ABI that restricts binding TCP ports.
const LANDLOCK_NET_ABI: i32 = 4;

impl IsolationSupport {
    /// This machine's support, probed once.
    pub fn current() -> &'static Self {
        static SUPPORT: OnceLock<IsolationSupport> = OnceLock::new();
        SUPPORT.get_or_init(|| Self {
            landlock_abi: landlock_rules::abi_version(),
            seccomp: seccomp::available(),
            root: rustix::process::geteuid().is_root(),
        })
    }

    /// The layers missing here, one sentence each (a non-root platform is not "missing" a
    /// layer: it has no uids to hand out, and Landlock keeps its servers apart).
    pub fn missing(&self) -> Vec<String> {
        let mut missing = Vec::new();
        match self.landlock_abi {
            None => missing.push(
                "Landlock is not available in this kernel: a server can read every file its uid can, and signal and trace processes of its uid".to_owned(),
            ),
            Some(abi) => {
                if abi < LANDLOCK_NET_ABI {
                    missing.push(format!(
                        "Landlock ABI {abi} can't restrict ports (needs {LANDLOCK_NET_ABI}): a server may bind any free port"
                    ));
                }
                if abi < LANDLOCK_SCOPES_ABI {
                    missing.push(format!(
                        "Landlock ABI {abi} can't scope signals (needs {LANDLOCK_SCOPES_ABI}): a server may signal processes of its uid"
                    ));
                }
            }
        }
        if !self.seccomp {
            missing.push(
                "seccomp filters are not available in this kernel: a server may call ptrace, mount, bpf and other system calls".to_owned(),
            );
        }
        missing
    }
}

/// How one deployment's process is contained, as reported with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Containment {
    /// The uid the process runs under when it has one of its own.
    pub uid: Option<u32>,
    /// What is missing from its containment, one sentence each; empty when nothing is.
    pub missing: Vec<String>,
}

impl fmt::Display for Containment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.uid {
            Some(uid) => write!(f, "own uid {uid}")?,
            None => f.write_str("the platform's uid")?,
        }
        if self.missing.is_empty() {
            f.write_str("; fully contained")
        } else {
            write!(f, "; missing: {}", self.missing.join("; "))
        }
    }
}

/// Everything prepared for starting one deployment's process contained, kept for its restarts:
/// the Landlock ruleset, the seccomp filter, the uid, the limits and the scratch directory.
pub(crate) struct Confinement {
    child: Arc<child::ChildSide>,
    /// The process's private directory: its working directory when the spec names none, and
    /// its `TMPDIR`. Removed with the deployment. `None` with isolation off.
    scratch: Option<TempDir>,
    containment: Containment,
}

impl fmt::Debug for Confinement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Confinement")
            .field("containment", &self.containment)
            .field("scratch", &self.scratch.as_ref().map(TempDir::path))
            .finish_non_exhaustive()
    }
}

impl Confinement {
    /// Prepares the containment of `spec` listening on `port`. With `isolation.strict`, a
    /// missing layer is an error; otherwise it is reported in [`Confinement::containment`].
    pub(crate) fn prepare(
        isolation: &Isolation,
        spec: &LaunchSpec,
        port: u16,
    ) -> Result<Self, StartError> {
        if !isolation.enabled {
            return Ok(Self {
                child: Arc::new(child::ChildSide::default()),
                scratch: None,
                containment: Containment {
                    uid: None,
                    missing: isolation.missing_layers(),
                },
            });
        }
        let support = IsolationSupport::current();
        let mut missing = support.missing();
        let refuse = |reason: String| StartError::Isolation {
            name: spec.name.clone(),
            reason,
        };

        let ids = match &spec.uid {
            _ if !support.root => None,
            ServerUid::Own(uid) => {
                Some(uids::server_ids(*uid, &isolation.uid_range).map_err(refuse)?)
            }
            ServerUid::Platform(reason) => {
                missing.push(format!(
                    "the server runs under the platform's uid: {reason}"
                ));
                None
            }
        };
        let program = resolve_program(spec);
        let named = named_paths(spec);
        // A uid of its own is worth nothing if the process can't run under it: say so instead
        // of failing later with "permission denied".
        let ids = match (ids, &program) {
            (Some(ids), Some(program)) => {
                let reachable = uids::reachable(program, ids, uids::Need::Execute)
                    .and_then(|()| match &spec.working_dir {
                        Some(dir) => uids::reachable(dir, ids, uids::Need::Enter),
                        None => Ok(()),
                    })
                    .and_then(|()| {
                        named
                            .iter()
                            .try_for_each(|path| uids::reachable(path, ids, uids::Need::Read))
                    });
                match reachable {
                    Ok(()) => Some(ids),
                    Err(reason) => {
                        missing.push(format!(
                            "the server runs under the platform's uid: its own uid {} {reason}",
                            ids.0
                        ));
                        None
                    }
                }
            }
            // Not found: the spawn fails and says so.
            (ids, None) => ids,
            (None, _) => None,
        };

        let private = private::resolve(&isolation.private_paths);
        for path in spec.working_dir.iter().chain(&program).chain(&named) {
            if let Some(private) = private::inside(path, &private) {
                return Err(refuse(format!(
                    "it names {}, inside the platform's private {}",
                    path.display(),
                    private.display()
                )));
            }
        }
        let scratch = scratch_dir(&spec.name, ids)
            .map_err(|e| refuse(format!("could not create its private directory: {e}")))?;
        let ruleset = match support.landlock_abi {
            Some(abi) => {
                let read_only = SYSTEM_READ_ONLY
                    .iter()
                    .map(PathBuf::from)
                    .chain(isolation.read_only_paths.iter().cloned())
                    .chain(program.clone())
                    .chain(named)
                    .collect();
                let read_write = spec
                    .working_dir
                    .iter()
                    .cloned()
                    .chain([scratch.path().to_owned()])
                    .collect();
                let allowed = landlock_rules::Allowed {
                    read_only: private::carve(read_only, &private),
                    read_write: private::carve(read_write, &private),
                    devices: DEVICES.iter().map(PathBuf::from).collect(),
                    port,
                };
                let ruleset = landlock_rules::ruleset(abi, &allowed)
                    .map_err(|e| refuse(format!("could not build its Landlock ruleset: {e}")))?;
                if ruleset.is_none() {
                    missing.push("Landlock enforces nothing in this kernel".to_owned());
                }
                ruleset
            }
            None => None,
        };
        let filters = if support.seccomp {
            seccomp::filters()
                .map_err(|e| refuse(format!("could not build its seccomp filter: {e}")))?
        } else {
            Vec::new()
        };
        if isolation.strict && !missing.is_empty() {
            return Err(refuse(format!(
                "strict isolation is on and a layer is missing: {}",
                missing.join("; ")
            )));
        }
        let child = child::ChildSide {
            ruleset,
            filters,
            ids,
            limits: isolation.limits.overridden_by(spec.limits),
        };
        Ok(Self {
            child: Arc::new(child),
            scratch: Some(scratch),
            containment: Containment {
                uid: ids.map(|(uid, _)| uid),
                missing,
            },
        })
    }

    /// How the process is contained.
    pub(crate) fn containment(&self) -> &Containment {
        &self.containment
    }

    /// Sets up `command` to run contained: in the scratch directory when the spec names no
    /// working directory, with `TMPDIR` there unless the spec sets one, and confined between
    /// fork and exec.
    pub(crate) fn apply(&self, spec: &LaunchSpec, command: &mut Command) {
        // Only a contained process has a private directory.
        let Some(scratch) = &self.scratch else {
            return;
        };
        if spec.working_dir.is_none() {
            command.current_dir(scratch.path());
        }
        if !spec.env.iter().any(|(name, _)| name == "TMPDIR") {
            command.env("TMPDIR", scratch.path());
        }
        child::install(command, Arc::clone(&self.child));
    }
}

/// The program `spec` runs, as a path: itself when it names a path (relative to the working
/// directory), otherwise the first match in the spec's `PATH` (the C library's default when it
/// has none), as the exec will find it.
fn resolve_program(spec: &LaunchSpec) -> Option<PathBuf> {
    let program = spec.program.as_path();
    if program.components().count() > 1 || program.is_absolute() {
        let path = match (&spec.working_dir, program.is_absolute()) {
            (Some(dir), false) => dir.join(program),
            _ => program.to_owned(),
        };
        return path.is_file().then_some(path);
    }
    let search = spec
        .env
        .iter()
        .find(|(name, _)| name == "PATH")
        .map_or_else(
            || "/bin:/usr/bin".to_owned(),
            |(_, value)| value.expose_secret().to_owned(),
        );
    std::env::split_paths(OsStr::new(&search))
        .map(|dir| dir.join(program))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The existing files and directories the spec's arguments name by absolute path (or relative
/// to its working directory), e.g. the script an interpreter runs: the server may read and
/// execute them.
fn named_paths(spec: &LaunchSpec) -> Vec<PathBuf> {
    spec.args
        .iter()
        .map(Path::new)
        .filter(|arg| arg.is_absolute() || arg.components().count() > 1)
        .filter_map(|arg| {
            let path = match (&spec.working_dir, arg.is_absolute()) {
                (Some(dir), false) => dir.join(arg),
                (None, false) => return None,
                _ => arg.to_owned(),
            };
            path.exists().then_some(path)
        })
        .collect()
}

/// A new private directory for one deployment under the system's temporary directory: mode
/// 0700, owned by the server's uid when it has one.
fn scratch_dir(name: &str, ids: Option<(u32, u32)>) -> std::io::Result<TempDir> {
    let prefix: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let dir = tempfile::Builder::new()
        .prefix(&format!("gumstack-{prefix}-"))
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()?;
    if let Some((uid, gid)) = ids {
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
    }
    Ok(dir)
}
