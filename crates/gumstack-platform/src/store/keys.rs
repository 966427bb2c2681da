//! The platform's signing keys, private halves sealed.

use async_trait::async_trait;

use super::{StoreError, Timestamp};

/// A platform signing key as stored (the private key sealed).
#[derive(Debug, Clone)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub private_ciphertext: Vec<u8>,
    /// Base64url Ed25519 public key.
    pub public_x: String,
    pub created_at: Timestamp,
    /// When it starts signing (`None`: from `created_at`); it is published from creation.
    pub activates_at: Option<Timestamp>,
}

/// The platform's Ed25519 signing keys.
#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// Every unretired signing key, oldest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError>;
    /// Removes a key whose tokens have all expired (nothing if it is gone already).
    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError>;
}
