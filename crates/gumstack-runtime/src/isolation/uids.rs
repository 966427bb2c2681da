//! The uids servers run under when the platform runs as root: checking the one a server is
//! given, and whether it can reach the server's program and working directory.

use std::ops::RangeInclusive;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The default uids (and gids) for servers: above the ranges distributions hand to people
/// (1000–59999), system services (100–999), systemd's dynamic users (61184–65519) and the
/// first subordinate-id blocks of container tools (100000–165535 for the first person).
pub const DEFAULT_UID_RANGE: RangeInclusive<u32> = 2_000_000..=2_000_999;

/// The uid and gid (the same number) of a server given `uid`: it must lie in `range` and not
/// be root's. Which uid each server has is its caller's to keep (the platform stores it with
/// the server): a map kept here would hand out uids by start order, different after every
/// restart of the platform, and one server would get files another's uid left.
pub(super) fn server_ids(uid: u32, range: &RangeInclusive<u32>) -> Result<(u32, u32), String> {
    if uid == 0 {
        return Err("it was given uid 0, root's".to_owned());
    }
    if !range.contains(&uid) {
        return Err(format!(
            "its uid {uid} lies outside the server range {}-{}",
            range.start(),
            range.end()
        ));
    }
    Ok((uid, uid))
}

/// What a uid must be able to do with a path.
#[derive(Debug, Clone, Copy)]
pub(super) enum Need {
    /// Run the file (and read it, for a script).
    Execute,
    /// Enter the directory.
    Enter,
    /// Read the file, or list and enter the directory.
    Read,
}

/// Whether a process with `ids` and no capabilities can reach `path` for `need`: every
/// directory above it searchable, and the file itself runnable or the directory enterable.
/// The reason it can't otherwise, e.g. "can't enter /root (mode 700, owner 0)".
pub(super) fn reachable(path: &Path, ids: (u32, u32), need: Need) -> Result<(), String> {
    let path = path
        .canonicalize()
        .map_err(|e| format!("can't resolve {}: {e}", path.display()))?;
    let mut ancestors: Vec<&Path> = path.ancestors().skip(1).collect();
    ancestors.reverse();
    for dir in ancestors {
        check(dir, ids, 0o1, "enter")?;
    }
    match need {
        Need::Execute => check(&path, ids, 0o1, "run"),
        Need::Enter => check(&path, ids, 0o1, "enter"),
        Need::Read if path.is_dir() => check(&path, ids, 0o5, "read"),
        Need::Read => check(&path, ids, 0o4, "read"),
    }
}

/// Whether `ids` has the permission `bits` (0o4 read, 0o2 write, 0o1 execute/search) on
/// `path` by its mode: the owner's, group's or others' bits, whichever apply.
fn check(path: &Path, (uid, gid): (u32, u32), bits: u32, what: &str) -> Result<(), String> {
    let meta = path
        .metadata()
        .map_err(|e| format!("can't {what} {}: {e}", path.display()))?;
    let mode = meta.mode();
    let shift = if meta.uid() == uid {
        6
    } else if meta.gid() == gid {
        3
    } else {
        0
    };
    if (mode >> shift) & bits == bits {
        Ok(())
    } else {
        Err(format!(
            "can't {what} {} (mode {:o}, owner {})",
            path.display(),
            mode & 0o7777,
            meta.uid()
        ))
    }
}
