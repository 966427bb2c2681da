//! The part of the containment that runs in the forked child, before exec.
//!
//! Between fork and exec only async-signal-safe work is allowed: everything here is raw
//! system calls on values prepared by the parent (a ruleset descriptor, a compiled filter,
//! numbers). Nothing allocates, takes a lock or touches shared state.

use std::io;
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::sync::Arc;

use rustix::io::Errno;
use rustix::process::{Gid, Resource, Rlimit, Uid};
use rustix::thread::{CapabilitySet, CapabilitySets};
use seccompiler::BpfProgram;
use tokio::process::Command;

use super::ResourceLimits;

/// What the child applies to itself, in this order: limits, capability bounding set, ids,
/// remaining capabilities, `no_new_privs`, Landlock, seccomp.
#[derive(Debug, Default)]
pub(super) struct ChildSide {
    /// The Landlock ruleset to restrict to, open for as long as the deployment may restart.
    pub(super) ruleset: Option<OwnedFd>,
    /// The seccomp filters to install, last.
    pub(super) filters: Vec<BpfProgram>,
    /// The server's own uid and gid, when the platform runs as root.
    pub(super) ids: Option<(u32, u32)>,
    pub(super) limits: ResourceLimits,
}

/// Makes `command` apply `side` between fork and exec.
pub(super) fn install(command: &mut Command, side: Arc<ChildSide>) {
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // operations are allowed. `ChildSide::apply` makes raw system calls (through rustix, libc's
    // `syscall` and seccompiler's `apply_filter`, which is prctl + seccomp) on data prepared
    // before the fork, compares integers and builds `io::Error`s from raw OS codes; it
    // allocates nothing, takes no lock and touches no shared state.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(move || side.apply());
    }
}

impl ChildSide {
    fn apply(&self) -> io::Result<()> {
        // Limits first: raising a hard limit above the platform's needs root.
        limit(Resource::Data, self.limits.memory_bytes)?;
        limit(Resource::Nofile, self.limits.open_files)?;
        if self.ids.is_some() {
            limit(Resource::Nproc, self.limits.processes)?;
        }
        if let Some((uid, gid)) = self.ids {
            // Emptying the bounding set needs CAP_SETPCAP, so before the uid changes. A
            // capability this kernel doesn't know is EINVAL.
            for capability in CapabilitySet::all().iter() {
                match rustix::thread::remove_capability_from_bounding_set(capability) {
                    Ok(()) | Err(Errno::INVAL) => {}
                    Err(error) => return Err(error.into()),
                }
            }
            rustix::thread::set_thread_groups(&[])?;
            let gid = Gid::from_raw(gid);
            rustix::thread::set_thread_res_gid(gid, gid, gid)?;
            let uid = Uid::from_raw(uid);
            // All three uids non-zero: the kernel clears the permitted and effective sets.
            rustix::thread::set_thread_res_uid(uid, uid, uid)?;
        }
        match rustix::thread::clear_ambient_capability_set() {
            Ok(()) | Err(Errno::INVAL) => {}
            Err(error) => return Err(error.into()),
        }
        rustix::thread::set_capabilities(
            None,
            CapabilitySets {
                effective: CapabilitySet::empty(),
                permitted: CapabilitySet::empty(),
                inheritable: CapabilitySet::empty(),
            },
        )?;
        rustix::thread::set_no_new_privs(true)?;
        if let Some(ruleset) = &self.ruleset {
            // SAFETY: landlock_restrict_self(2) takes a descriptor and flags and reads no
            // memory; the parent holds the descriptor open (in `self`) across the spawn.
            #[allow(unsafe_code)]
            let restricted = unsafe {
                libc::syscall(libc::SYS_landlock_restrict_self, ruleset.as_raw_fd(), 0u32)
            };
            if restricted != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        for filter in &self.filters {
            seccompiler::apply_filter(filter).map_err(|error| match error {
                seccompiler::Error::Prctl(error) | seccompiler::Error::Seccomp(error) => error,
                _ => io::Error::from_raw_os_error(libc::EINVAL),
            })?;
        }
        Ok(())
    }
}

/// Sets both the soft and the hard `resource` limit to `value`, when there is one, but never
/// above the platform's own hard limit (which only root could raise).
fn limit(resource: Resource, value: Option<u64>) -> io::Result<()> {
    if let Some(value) = value {
        let value = rustix::process::getrlimit(resource)
            .maximum
            .map_or(value, |maximum| maximum.min(value));
        rustix::process::setrlimit(
            resource,
            Rlimit {
                current: Some(value),
                maximum: Some(value),
            },
        )?;
    }
    Ok(())
}
