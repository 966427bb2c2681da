//! Users' sealed credentials of `cred` servers.

use async_trait::async_trait;
use uuid::Uuid;

use super::{StoreError, Timestamp};

/// A user's saved credentials for one `cred` server, sealed.
#[derive(Debug, Clone)]
pub struct SealedCredentials {
    pub id: Uuid,
    pub user_id: Uuid,
    pub server_id: Uuid,
    pub ciphertext: Vec<u8>,
    /// JSON object: field name → what may be shown (e.g. `"set · ends in ••34"`).
    pub hints_json: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Users' saved credentials of `cred` servers, one sealed row per (user, server).
#[async_trait]
pub trait CredentialStore: Send + Sync {
    async fn credentials(
        &self,
        user_id: Uuid,
        server_id: Uuid,
    ) -> Result<SealedCredentials, StoreError>;
    /// Inserts or replaces the (user, server) row; the row takes `sealed.id`.
    async fn upsert_credentials(&self, sealed: &SealedCredentials) -> Result<(), StoreError>;
    async fn delete_credentials(&self, user_id: Uuid, server_id: Uuid) -> Result<(), StoreError>;
}
