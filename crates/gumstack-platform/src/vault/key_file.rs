//! Master key files: one key per line (`<key id> <base64 32 bytes>`), blank lines and `#`
//! comments skipped. Reading them (several files merge; the last line of the last file is the
//! active key), noticing that they changed, and the edits `gumstackd key add` / `key retire`
//! make: always a whole new file written beside the old one (mode 0600, synced) and renamed
//! over it, so a reader never sees half a file.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::VaultError;
use crate::crypto::random_bytes;

/// The longest key id a ciphertext can carry (its length is one byte; ids are kept short).
const MAX_KEY_ID_LEN: usize = 64;

const HEADER: &str =
    "# Gumstack master keys: <key id> <base64 key>. The last line is the active key.\n";

/// One key as read from a file: its id and its 32 bytes.
pub(super) struct KeyLine {
    pub(super) id: String,
    pub(super) key: Zeroizing<[u8; 32]>,
}

/// Parses `<key id> <base64 key>` lines, in order.
pub(super) fn parse(text: &str) -> Result<Vec<KeyLine>, String> {
    let mut keys: Vec<KeyLine> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let n = index + 1;
        let (id, encoded) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("line {n}: expected `<key id> <base64 key>`"))?;
        check_key_id(id).map_err(|reason| format!("line {n}: {reason}"))?;
        let bytes = Zeroizing::new(
            STANDARD
                .decode(encoded.trim())
                .map_err(|_| format!("line {n}: key is not valid base64"))?,
        );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| format!("line {n}: key must be 32 bytes, found {}", bytes.len()))?;
        if keys.iter().any(|k| k.id == id) {
            return Err(format!("line {n}: duplicate key id `{id}`"));
        }
        keys.push(KeyLine {
            id: id.to_owned(),
            key: Zeroizing::new(key),
        });
    }
    Ok(keys)
}

/// Why `id` is not a usable key id, if it is not.
pub(crate) fn check_key_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_KEY_ID_LEN || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "key id must be 1-{MAX_KEY_ID_LEN} visible ASCII characters"
        ));
    }
    Ok(())
}

/// Reads and merges `files` in order. A key id found in two files must be the same key there.
pub(super) fn read_all(files: &[PathBuf]) -> Result<Vec<KeyLine>, VaultError> {
    let mut merged: Vec<KeyLine> = Vec::new();
    for path in files {
        let err = |reason: String| key_file_error(path, reason);
        check_permissions(path).map_err(err)?;
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?);
        for line in parse(&text).map_err(err)? {
            match merged.iter().position(|k| k.id == line.id) {
                Some(at) if *merged[at].key != *line.key => {
                    return Err(err(format!(
                        "key id `{}` is also in an earlier key file with another key",
                        line.id
                    )));
                }
                // The same key in two files: it counts once, at its latest place (the last
                // line of the last file is the active key).
                Some(at) => {
                    merged.remove(at);
                    merged.push(line);
                }
                None => merged.push(line),
            }
        }
    }
    if merged.is_empty() {
        let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        return Err(VaultError::KeyFile {
            path: names.join(", "),
            reason: "no key found".into(),
        });
    }
    Ok(merged)
}

/// What identifies a version of a file: a reload happens when any of it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    /// Inode, mode and status-change time: a file renamed over it, or new permissions.
    inode: u64,
    mode: u32,
    changed: (i64, i64),
}

/// The stamps of `files` now (`None` for a file that cannot be read).
pub(super) fn stamps(files: &[PathBuf]) -> Vec<Option<Stamp>> {
    files
        .iter()
        .map(|path| {
            let meta = std::fs::metadata(path).ok()?;
            #[cfg(unix)]
            let (inode, mode, changed) = {
                use std::os::unix::fs::MetadataExt as _;
                (meta.ino(), meta.mode(), (meta.ctime(), meta.ctime_nsec()))
            };
            #[cfg(not(unix))]
            let (inode, mode, changed) = (0, 0, (0, 0));
            Some(Stamp {
                modified: meta.modified().ok(),
                len: meta.len(),
                inode,
                mode,
                changed,
            })
        })
        .collect()
}

/// A new random key: its id and its line (`<id> <base64>`), which is secret.
pub fn new_key_line() -> (String, Zeroizing<String>) {
    let id = format!("k{}", hex::encode(random_bytes::<4>()));
    let key = Zeroizing::new(random_bytes::<32>());
    let line = Zeroizing::new(format!("{id} {}", STANDARD.encode(key.as_slice())));
    (id, line)
}

/// Parses one key line given by an operator (`gumstackd key add --stdin`); its id.
pub fn check_key_line(line: &str) -> Result<String, String> {
    let mut keys = parse(line)?;
    match (keys.pop(), keys.is_empty()) {
        (Some(key), true) => Ok(key.id.clone()),
        (None, _) => Err("no key line given".into()),
        (Some(_), false) => Err("give exactly one key line".into()),
    }
}

/// Creates `path` (mode 0600) with one fresh key; fails if it exists.
pub(super) fn create(path: &Path) -> Result<(), VaultError> {
    let (_, line) = new_key_line();
    let content = Zeroizing::new(format!("{HEADER}{}\n", line.as_str()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| key_file_error(path, e.to_string()))?;
    file.write_all(content.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| key_file_error(path, e.to_string()))
}

/// Appends `line` (one key, checked) to the key file at `path`, making it the active key of
/// that file. The key id must be new to the file.
pub fn append_key(path: &Path, line: &str) -> Result<String, VaultError> {
    let err = |reason: String| key_file_error(path, reason);
    let id = check_key_line(line).map_err(err)?;
    check_permissions(path).map_err(err)?;
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?);
    if parse(&text).map_err(err)?.iter().any(|k| k.id == id) {
        return Err(err(format!("key id `{id}` is already in the file")));
    }
    let mut content = Zeroizing::new(text.to_string());
    if !content.is_empty() && !content.ends_with('\n') {
        content.push('\n');
    }
    content.push_str(line.trim());
    content.push('\n');
    replace(path, &content)?;
    Ok(id)
}

/// Removes the line of key `id` from the key file at `path`; false when it has no such key.
/// Comments and the other keys stay as they are.
pub fn remove_key(path: &Path, id: &str) -> Result<bool, VaultError> {
    let err = |reason: String| key_file_error(path, reason);
    check_permissions(path).map_err(err)?;
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?);
    let keys = parse(&text).map_err(err)?;
    if !keys.iter().any(|k| k.id == id) {
        return Ok(false);
    }
    if keys.len() == 1 {
        return Err(err(format!("`{id}` is the file's only key")));
    }
    let mut content = Zeroizing::new(String::with_capacity(text.len()));
    for line in text.lines() {
        let first = line.split_whitespace().next();
        if first == Some(id) && !line.trim_start().starts_with('#') {
            continue;
        }
        content.push_str(line);
        content.push('\n');
    }
    replace(path, &content)?;
    Ok(true)
}

/// Writes `content` to a new file beside `path` (mode 0600, synced) and renames it over
/// `path`, then syncs the directory.
fn replace(path: &Path, content: &str) -> Result<(), VaultError> {
    let err = |reason: String| key_file_error(path, reason);
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = dir.unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| err("not a file name".into()))?
        .to_string_lossy();
    let temp = dir.join(format!(".{name}.{}.tmp", hex::encode(random_bytes::<6>())));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let written = options.open(&temp).and_then(|mut file| {
        file.write_all(content.as_bytes())?;
        file.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&temp, path)) {
        let _ = std::fs::remove_file(&temp);
        return Err(err(e.to_string()));
    }
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn key_file_error(path: &Path, reason: String) -> VaultError {
    VaultError::KeyFile {
        path: path.display().to_string(),
        reason,
    }
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)
        .map_err(|e| e.to_string())?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "permissions are {:o}; the key file must be readable by its owner only (chmod 600)",
            mode & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<(), String> {
    Ok(())
}
