//! Keeping the platform's private paths (its data directory, its master key files) out of every
//! server's Landlock view. Landlock only adds access, so a private path under an allowed
//! directory can't be cut out of it: the allowed directory is replaced by its entries, except
//! the branch leading to the private path, level by level.

use std::path::{Path, PathBuf};

/// The private paths, resolved (symbolic links followed); paths that don't exist are left out.
pub(super) fn resolve(private: &[PathBuf]) -> Vec<PathBuf> {
    private
        .iter()
        .filter_map(|path| path.canonicalize().ok())
        .collect()
}

/// The private path `path` is inside of, if any.
pub(super) fn inside<'a>(path: &Path, private: &'a [PathBuf]) -> Option<&'a Path> {
    let path = path.canonicalize().ok()?;
    private
        .iter()
        .find(|p| path.starts_with(p))
        .map(PathBuf::as_path)
}

/// `allowed` with every private path carved out: an allowed path inside a private one is
/// dropped, one containing a private path is replaced by its entries but the branch towards it
/// (recursively), and the rest are kept as they are.
pub(super) fn carve(allowed: Vec<PathBuf>, private: &[PathBuf]) -> Vec<PathBuf> {
    let mut kept = Vec::with_capacity(allowed.len());
    for path in allowed {
        carve_one(path, private, &mut kept);
    }
    kept
}

fn carve_one(path: PathBuf, private: &[PathBuf], kept: &mut Vec<PathBuf>) {
    // Resolved, so that a symbolic link into a private path is seen as what it is.
    let Ok(path) = path.canonicalize() else {
        return;
    };
    if private.iter().any(|p| path.starts_with(p)) {
        return;
    }
    if !private.iter().any(|p| p.starts_with(&path)) {
        kept.push(path);
        return;
    }
    // A private path is below: keep the entries, descending into the one on its way.
    let Ok(entries) = std::fs::read_dir(&path) else {
        return;
    };
    for entry in entries.flatten() {
        carve_one(entry.path(), private, kept);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_path_is_carved_out_of_an_allowed_directory() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path().canonicalize().unwrap();
        for dir in ["opt/app", "opt/gumstack/data", "opt/gumstack/bin"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::write(root.join("opt/readme"), "x").unwrap();
        let private = vec![root.join("opt/gumstack/data")];

        let mut kept = carve(vec![root.join("opt"), root.join("missing")], &private);
        kept.sort();
        assert_eq!(
            kept,
            vec![
                root.join("opt/app"),
                root.join("opt/gumstack/bin"),
                root.join("opt/readme"),
            ]
        );
        assert!(carve(vec![root.join("opt/gumstack/data/x")], &private).is_empty());
        assert_eq!(
            inside(&root.join("opt/gumstack/data"), &private),
            Some(private[0].as_path())
        );
        assert_eq!(inside(&root.join("opt"), &private), None);
        // A symbolic link into the private path is no way in.
        std::os::unix::fs::symlink(root.join("opt/gumstack/data"), root.join("opt/app/link"))
            .unwrap();
        assert!(carve(vec![root.join("opt/app/link")], &private).is_empty());
    }
}
