//! The seccomp filter of every server process: the system calls an HTTP server never needs and
//! an escape would are refused with `EPERM`; everything else is allowed.
//!
//! Refused: tracing and reading other processes (`ptrace`, `process_vm_readv/writev`,
//! `pidfd_getfd`, `kcmp`), mounting and namespaces (`mount`, `umount2`, `pivot_root`,
//! `chroot`, the new mount API, `unshare`, `setns`, and `clone` with a namespace flag),
//! loading code into the kernel (`init_module`, `finit_module`, `delete_module`, `kexec_*`,
//! `bpf`), the kernel keyring, `perf_event_open`, `userfaultfd`, file handles
//! (`open_by_handle_at`), and machine-wide settings (clock, hostname, swap, reboot, accounting,
//! quotas, the kernel log). `clone3` answers `ENOSYS`, since its flags are out of a filter's
//! reach: the C library then falls back to `clone`, whose flags are checked.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// The namespace flags of `clone`: a process that makes a user namespace holds every
/// capability inside it.
const NAMESPACE_FLAGS: &[u64] = &[
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWCGROUP as u64,
];

/// The system calls refused outright.
const REFUSED: &[libc::c_long] = &[
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_pidfd_getfd,
    libc::SYS_kcmp,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_mount_setattr,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_bpf,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_keyctl,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_reboot,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_syslog,
    libc::SYS_vhangup,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_uselib,
];

/// Whether this kernel can install seccomp filters (`PR_GET_SECCOMP` answers rather than
/// failing with `EINVAL`).
pub(super) fn available() -> bool {
    // SAFETY: prctl(PR_GET_SECCOMP) takes no pointer and only reads the caller's mode.
    #[allow(unsafe_code)]
    let mode = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    mode >= 0 && TargetArch::try_from(std::env::consts::ARCH).is_ok()
}

/// The compiled filters for this machine's architecture, to install in order (the kernel runs
/// every installed filter and takes the strictest answer): the refusals, then `clone3`'s
/// `ENOSYS`, which needs an answer of its own.
pub(super) fn filters() -> Result<Vec<BpfProgram>, seccompiler::Error> {
    let mut refused: BTreeMap<i64, Vec<SeccompRule>> =
        REFUSED.iter().map(|&call| (call, Vec::new())).collect();
    // clone(flags, …) with any namespace flag (the flags are its first argument): one rule per
    // flag, as a rule's conditions all hold or it doesn't match.
    let namespace_flags = NAMESPACE_FLAGS
        .iter()
        .map(|&flag| {
            SeccompRule::new(vec![SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag),
                flag,
            )?])
        })
        .collect::<Result<Vec<_>, _>>()?;
    refused.insert(libc::SYS_clone, namespace_flags);
    let arch = TargetArch::try_from(std::env::consts::ARCH)?;
    let refuse = SeccompFilter::new(
        refused,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )?;
    let clone3 = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )?;
    Ok(vec![refuse.try_into()?, clone3.try_into()?])
}
