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
//! Master keys live in a key file, one key per line (`<key id> <base64 32 bytes>`); the last
//! line is the active key used for new ciphertexts, the others still decrypt. On first start the
//! platform generates the file with mode 0600.

use std::collections::HashMap;
use std::fmt;
use std::io::Write as _;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
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

/// The set of master keys, one of them active.
pub struct Vault {
    keys: HashMap<String, Aes256Gcm>,
    active: String,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("active_key_id", &self.active)
            .field("key_count", &self.keys.len())
            .finish()
    }
}

impl Vault {
    /// Loads the key file at `path`, creating it (mode 0600, one fresh key) if it does not exist.
    pub fn open_or_create(path: &Path) -> Result<Self, VaultError> {
        if !path.exists() {
            Self::create_key_file(path)?;
        }
        Self::open(path)
    }

    /// Loads an operator-supplied key file; it must exist.
    pub fn open(path: &Path) -> Result<Self, VaultError> {
        let err = |reason: String| VaultError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
        check_permissions(path).map_err(err)?;
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?);
        Self::from_key_lines(&text).map_err(err)
    }

    /// Parses `<key id> <base64 key>` lines; blank lines and `#` comments are skipped.
    pub fn from_key_lines(text: &str) -> Result<Self, String> {
        let mut keys = HashMap::new();
        let mut active = None;
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let n = index + 1;
            let (id, encoded) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("line {n}: expected `<key id> <base64 key>`"))?;
            if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!(
                    "line {n}: key id must be 1-64 visible ASCII characters"
                ));
            }
            let bytes = Zeroizing::new(
                STANDARD
                    .decode(encoded.trim())
                    .map_err(|_| format!("line {n}: key is not valid base64"))?,
            );
            if bytes.len() != 32 {
                return Err(format!(
                    "line {n}: key must be 32 bytes, found {}",
                    bytes.len()
                ));
            }
            let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes));
            if keys.insert(id.to_owned(), cipher).is_some() {
                return Err(format!("line {n}: duplicate key id `{id}`"));
            }
            active = Some(id.to_owned());
        }
        let active = active.ok_or_else(|| "no key found".to_owned())?;
        Ok(Self { keys, active })
    }

    /// Generates a vault with one fresh key, without touching the disk (tests, in-memory use).
    pub fn generate() -> Self {
        let line = Zeroizing::new(new_key_line());
        Self::from_key_lines(&line).expect("a freshly generated key line parses")
    }

    fn create_key_file(path: &Path) -> Result<(), VaultError> {
        let err = |reason: String| VaultError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|e| err(e.to_string()))?;
        let content = Zeroizing::new(format!(
            "# Gumstack master keys: <key id> <base64 key>. The last line is the active key.\n{}\n",
            new_key_line().as_str()
        ));
        file.write_all(content.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| err(e.to_string()))
    }

    /// The id of the key new ciphertexts are sealed with.
    pub fn active_key_id(&self) -> &str {
        &self.active
    }

    /// Encrypts `plaintext` for the row described by `aad`.
    pub fn encrypt(&self, plaintext: &[u8], aad: &Aad) -> Vec<u8> {
        let cipher = &self.keys[&self.active];
        let nonce = random_bytes::<NONCE_LEN>();
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad.encode(&self.active),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let kid = self.active.as_bytes();
        let mut out = Vec::with_capacity(2 + kid.len() + NONCE_LEN + sealed.len());
        out.push(FORMAT_VERSION);
        out.push(u8::try_from(kid.len()).expect("key ids are at most 64 bytes"));
        out.extend_from_slice(kid);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts a ciphertext made by [`Vault::encrypt`] for the same `aad`.
    pub fn decrypt(&self, ciphertext: &[u8], aad: &Aad) -> Result<Zeroizing<Vec<u8>>, VaultError> {
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
        let cipher = self
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

fn new_key_line() -> String {
    let id = format!("k{}", hex::encode(random_bytes::<4>()));
    let key = Zeroizing::new(random_bytes::<32>());
    format!("{id} {}", STANDARD.encode(key.as_slice()))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn aad(ids: &[Uuid]) -> Aad {
        Aad::new("env_vars", "value", ids)
    }

    #[test]
    fn round_trip_carries_key_id() {
        let vault = Vault::generate();
        let ids = [Uuid::new_v4(), Uuid::new_v4()];
        let ct = vault.encrypt(b"hunter2", &aad(&ids));
        let kid = vault.active_key_id().as_bytes();
        assert_eq!(&ct[2..2 + kid.len()], kid);
        assert_eq!(
            vault.decrypt(&ct, &aad(&ids)).unwrap().as_slice(),
            b"hunter2"
        );
    }

    #[test]
    fn ciphertext_moved_to_another_row_or_field_is_rejected() {
        let vault = Vault::generate();
        let (server, row) = (Uuid::new_v4(), Uuid::new_v4());
        let ct = vault.encrypt(b"secret", &aad(&[server, row]));
        let other_row = aad(&[server, Uuid::new_v4()]);
        assert!(matches!(
            vault.decrypt(&ct, &other_row),
            Err(VaultError::Rejected)
        ));
        let other_field = Aad::new("env_vars", "name", &[server, row]);
        assert!(matches!(
            vault.decrypt(&ct, &other_field),
            Err(VaultError::Rejected)
        ));
        let other_table = Aad::new("credentials", "value", &[server, row]);
        assert!(matches!(
            vault.decrypt(&ct, &other_table),
            Err(VaultError::Rejected)
        ));
    }

    #[test]
    fn tampering_is_detected() {
        let vault = Vault::generate();
        let ids = [Uuid::new_v4()];
        let mut ct = vault.encrypt(b"secret", &aad(&ids));
        let last = ct.len() - 1;
        ct[last] ^= 1;
        assert!(matches!(
            vault.decrypt(&ct, &aad(&ids)),
            Err(VaultError::Rejected)
        ));
        assert!(matches!(
            vault.decrypt(&[], &aad(&ids)),
            Err(VaultError::Malformed)
        ));
        assert!(matches!(
            vault.decrypt(&[1, 40, 1], &aad(&ids)),
            Err(VaultError::Malformed)
        ));
    }

    #[test]
    fn old_keys_still_decrypt_and_unknown_keys_are_named() {
        let old = Vault::generate();
        let ids = [Uuid::new_v4()];
        let ct = old.encrypt(b"v", &aad(&ids));
        let other = Vault::generate();
        assert!(matches!(
            other.decrypt(&ct, &aad(&ids)),
            Err(VaultError::UnknownKey(_))
        ));
        // A key file gaining a newer active key still decrypts what the older key sealed.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let vault = Vault::open_or_create(&path).unwrap();
        let ct2 = vault.encrypt(b"w", &aad(&ids));
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&new_key_line());
        text.push('\n');
        std::fs::write(&path, text).unwrap();
        let rotated = Vault::open(&path).unwrap();
        assert_ne!(rotated.active_key_id(), vault.active_key_id());
        assert_eq!(rotated.decrypt(&ct2, &aad(&ids)).unwrap().as_slice(), b"w");
    }

    #[test]
    fn key_file_is_created_owner_only_and_loose_permissions_are_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let vault = Vault::open_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Reopening yields the same key.
        let ids = [Uuid::new_v4()];
        let ct = vault.encrypt(b"x", &aad(&ids));
        assert!(Vault::open(&path).unwrap().decrypt(&ct, &aad(&ids)).is_ok());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Vault::open(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }

    #[test]
    fn malformed_key_lines_are_explained() {
        assert!(Vault::from_key_lines("").unwrap_err().contains("no key"));
        assert!(
            Vault::from_key_lines("k1 !!!")
                .unwrap_err()
                .contains("base64")
        );
        assert!(
            Vault::from_key_lines("k1 AAAA")
                .unwrap_err()
                .contains("32 bytes")
        );
    }
}
