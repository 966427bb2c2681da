//! API tokens: each belongs to a user, acts with that user's current role, and expires.

use async_trait::async_trait;
use uuid::Uuid;

use super::{Role, StoreError, Timestamp, User};

/// An API token as stored (its secret only as a SHA-256 hash, which is never read back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The user's email (joined, for lists).
    pub user_email: String,
    pub name: String,
    /// The role the user had when the token was made; a demotion below it ends the token.
    pub role: Role,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// Updated at most once a minute.
    pub last_used_at: Option<Timestamp>,
}

/// A token to store.
#[derive(Debug, Clone)]
pub struct NewApiToken<'a> {
    pub user_id: Uuid,
    pub name: &'a str,
    pub role: Role,
    pub token_hash: &'a [u8],
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// How stale `last_used_at` may get before a use writes it again.
pub const LAST_USED_GRANULARITY: i64 = 60;

#[async_trait]
pub trait ApiTokenStore: Send + Sync {
    /// Stores a token for an enabled user; `NotFound` when the user is gone or disabled.
    async fn insert_api_token(&self, token: &NewApiToken<'_>) -> Result<Uuid, StoreError>;
    /// The enabled user of an unexpired token, and the token's id. Records the use when the
    /// last recorded one is older than [`LAST_USED_GRANULARITY`] (so most calls only read).
    async fn api_token_user(
        &self,
        token_hash: &[u8],
        now: Timestamp,
    ) -> Result<(User, Uuid), StoreError>;
    /// One user's tokens (`Some`), or everyone's (`None`); newest first, expired ones included.
    async fn list_api_tokens(&self, user_id: Option<Uuid>) -> Result<Vec<ApiToken>, StoreError>;
    async fn api_token(&self, id: Uuid) -> Result<ApiToken, StoreError>;
    /// Deletes a token (of `user_id` only, when given); `NotFound` when there is none.
    async fn delete_api_token(&self, id: Uuid, user_id: Option<Uuid>) -> Result<(), StoreError>;
}
