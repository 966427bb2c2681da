//! The credential vault (SPEC §11): AES-256-GCM with the key id in every ciphertext and
//! associated data binding each ciphertext to its owner's stable identity.
//!
//! Ciphertext layout (stored as a BLOB):
//!
//! ```text
//! 0x01 | key-id length (1 byte) | key id (ASCII) | nonce (12 bytes) | AES-256-GCM ciphertext + tag
//! ```
//!
//! The associated data is `gumstack/v1|<key id>|<table>|<field>|<uuid>|<uuid>…`, built from an
//! [`Aad`]: the table, the field and the UUIDs of the row that owns the value (never database
//! row numbers). A ciphertext copied into another row, another field or another table therefore
//! fails to decrypt, and so does one whose key id was edited.
//!
//! Master keys live in key files ([`key_file`]), one key per line; with several files their
//! keys merge and the last line of the last file is the active key used for new ciphertexts,
//! the others still decrypt. Without an operator file the platform generates
//! `<data-dir>/master.key` (mode 0600) on first start. A running platform notices a changed key
//! file ([`Vault::reload_if_changed`]) and swaps its key set atomically: the hot path
//! (`encrypt`, `decrypt`) reads the current set with one atomic load, and a file that does not
//! parse leaves the keys as they were.

pub mod key_file;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use arc_swap::ArcSwap;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::crypto::random_bytes;

const FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// What a ciphertext belongs to: the table, the field and the owning row's stable UUIDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aad {
    table: &'static str,
    field: &'static str,
    ids: Vec<Uuid>,
}

impl Aad {
    /// Binds a value to `table.field` of the row identified by `ids` (e.g. server id + row id).
    pub fn new(table: &'static str, field: &'static str, ids: &[Uuid]) -> Self {
        Self {
            table,
            field,
            ids: ids.to_vec(),
        }
    }

    fn encode(&self, key_id: &str) -> Vec<u8> {
        let mut out = format!("gumstack/v1|{key_id}|{}|{}", self.table, self.field);
        for id in &self.ids {
            out.push('|');
            out.push_str(&id.hyphenated().to_string());
        }
        out.into_bytes()
    }
}

/// Why the vault could not load its keys or decrypt a value. Never carries plaintext or keys.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("master key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("ciphertext is malformed")]
    Malformed,
    #[error("ciphertext was encrypted with key `{0}`, which this platform does not have")]
    UnknownKey(String),
    #[error("ciphertext does not decrypt: it was altered or belongs to another row or field")]
    Rejected,
}

/// One loaded set of master keys, one of them active. Replaced whole on reload.
struct KeyRing {
    keys: HashMap<String, Aes256Gcm>,
    /// The key ids in the order of the files (the last is active).
    order: Vec<String>,
    active: String,
}

impl KeyRing {
    fn from_lines(lines: Vec<key_file::KeyLine>) -> Result<Self, String> {
        let mut keys = HashMap::new();
        let mut order = Vec::new();
        for line in lines {
            let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(line.key.as_slice()));
            order.push(line.id.clone());
            keys.insert(line.id, cipher);
        }
        let active = order
            .last()
            .cloned()
            .ok_or_else(|| "no key found".to_owned())?;
        Ok(Self {
            keys,
            order,
            active,
        })
    }
}

/// Where the keys come from, for reloading.
#[derive(Debug, Clone)]
enum Source {
    /// Generated or given as text: nothing to reload.
    Memory,
    Files(Vec<PathBuf>),
}

/// The master keys, reloadable while the platform runs.
pub struct Vault {
    ring: ArcSwap<KeyRing>,
    source: Source,
    /// The files' stamps as of the last load attempt (successful or not), so a bad file is
    /// reported once, not at every check.
    seen: Mutex<Vec<Option<key_file::Stamp>>>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ring = self.ring.load();
        f.debug_struct("Vault")
            .field("active_key_id", &ring.active)
            .field("key_ids", &ring.order)
            .field("source", &self.source)
            .finish()
    }
}

/// What a reload changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChange {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub active: String,
}

impl Vault {
    fn with(ring: KeyRing, source: Source, seen: Vec<Option<key_file::Stamp>>) -> Self {
        Self {
            ring: ArcSwap::from_pointee(ring),
            source,
            seen: Mutex::new(seen),
        }
    }

    /// Loads the key file at `path`, creating it (mode 0600, one fresh key) if it does not exist.
    pub fn open_or_create(path: &Path) -> Result<Self, VaultError> {
        if !path.exists() {
            key_file::create(path)?;
        }
        Self::open(path)
    }

    /// Loads an operator-supplied key file; it must exist.
    pub fn open(path: &Path) -> Result<Self, VaultError> {
        Self::open_files(&[path.to_path_buf()])
    }

    /// Loads operator-supplied key files, in order; each must exist. The last key of the last
    /// file is the active one.
    pub fn open_files(files: &[PathBuf]) -> Result<Self, VaultError> {
        let seen = key_file::stamps(files);
        let ring = Self::read(files)?;
        Ok(Self::with(ring, Source::Files(files.to_vec()), seen))
    }

    fn read(files: &[PathBuf]) -> Result<KeyRing, VaultError> {
        let lines = key_file::read_all(files)?;
        KeyRing::from_lines(lines).map_err(|reason| VaultError::KeyFile {
            path: String::new(),
            reason,
        })
    }

    /// Parses `<key id> <base64 key>` lines; blank lines and `#` comments are skipped.
    pub fn from_key_lines(text: &str) -> Result<Self, String> {
        let ring = KeyRing::from_lines(key_file::parse(text)?)?;
        Ok(Self::with(ring, Source::Memory, Vec::new()))
    }

    /// Generates a vault with one fresh key, without touching the disk (tests, in-memory use).
    pub fn generate() -> Self {
        let (_, line) = key_file::new_key_line();
        Self::from_key_lines(&line).expect("a freshly generated key line parses")
    }

    /// The key files this vault reads (none for an in-memory vault).
    pub fn files(&self) -> &[PathBuf] {
        match &self.source {
            Source::Memory => &[],
            Source::Files(files) => files,
        }
    }

    /// Reads the key files again if any of them changed since the last attempt. `Ok(None)`:
    /// nothing changed. On an error the keys stay as they were (and the same bad files are
    /// not reported again until they change).
    pub fn reload_if_changed(&self) -> Result<Option<KeyChange>, VaultError> {
        let Source::Files(files) = &self.source else {
            return Ok(None);
        };
        let now = key_file::stamps(files);
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if *seen == now {
                return Ok(None);
            }
            *seen = now;
        }
        let ring = Self::read(files)?;
        let old = self.ring.load();
        let change = KeyChange {
            added: ring
                .order
                .iter()
                .filter(|id| !old.keys.contains_key(*id))
                .cloned()
                .collect(),
            removed: old
                .order
                .iter()
                .filter(|id| !ring.keys.contains_key(*id))
                .cloned()
                .collect(),
            active: ring.active.clone(),
        };
        let unchanged =
            change.added.is_empty() && change.removed.is_empty() && change.active == old.active;
        self.ring.store(Arc::new(ring));
        Ok((!unchanged).then_some(change))
    }

    /// The id of the key new ciphertexts are sealed with.
    pub fn active_key_id(&self) -> String {
        self.ring.load().active.clone()
    }

    /// The ids of every key held, in file order (the last is active).
    pub fn key_ids(&self) -> Vec<String> {
        self.ring.load().order.clone()
    }

    /// Whether key `id` is held.
    pub fn has_key(&self, id: &str) -> bool {
        self.ring.load().keys.contains_key(id)
    }

    /// Encrypts `plaintext` for the row described by `aad` with the active key.
    pub fn encrypt(&self, plaintext: &[u8], aad: &Aad) -> Vec<u8> {
        let ring = self.ring.load();
        seal(&ring.keys[&ring.active], &ring.active, plaintext, aad)
    }

    /// Encrypts `plaintext` for the row described by `aad` with key `key_id` (re-sealing under
    /// the key a rotation moves to, whatever the active key becomes meanwhile).
    pub fn encrypt_with(
        &self,
        key_id: &str,
        plaintext: &[u8],
        aad: &Aad,
    ) -> Result<Vec<u8>, VaultError> {
        let ring = self.ring.load();
        let cipher = ring
            .keys
            .get(key_id)
            .ok_or_else(|| VaultError::UnknownKey(key_id.to_owned()))?;
        Ok(seal(cipher, key_id, plaintext, aad))
    }

    /// Decrypts a ciphertext made by [`Vault::encrypt`] for the same `aad`.
    pub fn decrypt(&self, ciphertext: &[u8], aad: &Aad) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let (kid, nonce, sealed) = split(ciphertext)?;
        let ring = self.ring.load();
        let cipher = ring
            .keys
            .get(kid)
            .ok_or_else(|| VaultError::UnknownKey(kid.to_owned()))?;
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad.encode(kid),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Rejected)
    }

    /// Decrypts into a UTF-8 secret string.
    pub fn decrypt_string(
        &self,
        ciphertext: &[u8],
        aad: &Aad,
    ) -> Result<secrecy::SecretString, VaultError> {
        let bytes = self.decrypt(ciphertext, aad)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| VaultError::Malformed)?;
        Ok(secrecy::SecretString::from(text.to_owned()))
    }
}

/// The id of the key a ciphertext was sealed with (read from its header; nothing decrypted).
pub fn key_id_of(ciphertext: &[u8]) -> Result<&str, VaultError> {
    split(ciphertext).map(|(kid, _, _)| kid)
}

/// A ciphertext's key id, nonce and sealed bytes.
fn split(ciphertext: &[u8]) -> Result<(&str, &[u8], &[u8]), VaultError> {
    let (&version, rest) = ciphertext.split_first().ok_or(VaultError::Malformed)?;
    if version != FORMAT_VERSION {
        return Err(VaultError::Malformed);
    }
    let (&kid_len, rest) = rest.split_first().ok_or(VaultError::Malformed)?;
    let kid_len = usize::from(kid_len);
    if rest.len() < kid_len + NONCE_LEN {
        return Err(VaultError::Malformed);
    }
    let (kid, rest) = rest.split_at(kid_len);
    let kid = std::str::from_utf8(kid).map_err(|_| VaultError::Malformed)?;
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    Ok((kid, nonce, sealed))
}

fn seal(cipher: &Aes256Gcm, kid: &str, plaintext: &[u8], aad: &Aad) -> Vec<u8> {
    let nonce = random_bytes::<NONCE_LEN>();
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad.encode(kid),
            },
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let kid = kid.as_bytes();
    let mut out = Vec::with_capacity(2 + kid.len() + NONCE_LEN + sealed.len());
    out.push(FORMAT_VERSION);
    out.push(u8::try_from(kid.len()).expect("key ids are at most 64 bytes"));
    out.extend_from_slice(kid);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

#[cfg(test)]
mod tests;
