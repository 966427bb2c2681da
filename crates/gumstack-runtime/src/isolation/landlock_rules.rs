//! The Landlock ruleset of one server process, built by the parent; the child only restricts
//! itself to it (`landlock_restrict_self`).

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetError, Scope, path_beneath_rules,
};

/// What one server may reach.
#[derive(Debug)]
pub(super) struct Allowed {
    /// Read and execute (directories and everything beneath, or single files).
    pub(super) read_only: Vec<PathBuf>,
    /// Every file access beneath these directories.
    pub(super) read_write: Vec<PathBuf>,
    /// Device files to read and write.
    pub(super) devices: Vec<PathBuf>,
    /// The one TCP port it may bind.
    pub(super) port: u16,
}

/// This kernel's Landlock ABI version, `None` without Landlock.
pub(super) fn abi_version() -> Option<i32> {
    // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) reads no memory
    // and returns the ABI version (or -1 with ENOSYS/EOPNOTSUPP without Landlock).
    #[allow(unsafe_code)]
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            1u32, // LANDLOCK_CREATE_RULESET_VERSION
        )
    };
    i32::try_from(version).ok().filter(|&v| v >= 1)
}

/// The ruleset for `allowed` on a kernel with Landlock ABI `abi`: every file-system access and
/// TCP bind is handled (so denied unless a rule allows it), and signals and abstract sockets
/// are scoped to the sandbox. Rights this kernel's ABI lacks are left out (best effort); the
/// caller reports what that leaves missing.
/// `None` when the kernel turned out to enforce nothing.
pub(super) fn ruleset(abi: i32, allowed: &Allowed) -> Result<Option<OwnedFd>, RulesetError> {
    let abi = ABI::from(abi);
    let read = AccessFs::from_read(abi);
    let all = AccessFs::from_all(abi);
    let device = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::IoctlDev;
    let created = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)?
        .handle_access(AccessNet::BindTcp)?
        .scope(Scope::from_all(abi))?
        .create()?
        .add_rules(path_beneath_rules(&allowed.read_only, read))?
        .add_rules(path_beneath_rules(&allowed.read_write, all))?
        .add_rules(path_beneath_rules(&allowed.devices, device))?
        .add_rule(NetPort::new(allowed.port, AccessNet::BindTcp))?;
    Ok(created.into())
}
