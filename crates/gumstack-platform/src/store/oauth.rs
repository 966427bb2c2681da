//! The authorization server's state: registered clients, grants, authorization codes and
//! refresh tokens (the last two single use, stored by hash).

use async_trait::async_trait;
use uuid::Uuid;

use super::User;
use super::{StoreError, Timestamp};

/// How an OAuth client came to be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
pub enum ClientKind {
    /// RFC 7591 dynamic registration.
    Dynamic,
    /// A client ID metadata document (the client id is its URL).
    MetadataDocument,
}

/// A registered OAuth client.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub client_id: String,
    pub kind: ClientKind,
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    /// `none`, `client_secret_basic` or `client_secret_post`.
    pub auth_method: String,
    /// SHA-256 of the client secret, for confidential clients.
    pub secret_hash: Option<Vec<u8>>,
    pub metadata_json: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A user's authorization of a client for one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: Uuid,
    pub user_id: Uuid,
    pub client_id: String,
    pub server_id: Uuid,
    pub resource: String,
    pub scope: Option<String>,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// A grant as the user's list of connected clients shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGrant {
    pub grant: Grant,
    /// The name the client registered, if any.
    pub client_name: Option<String>,
    pub server_slug: String,
    pub server_name: String,
    /// When a token was last issued under the grant (the code exchange or the latest refresh).
    pub last_token_at: Option<Timestamp>,
}

/// A single-use credential (authorization code or refresh token) as stored, by hash.
#[derive(Debug, Clone)]
pub struct SingleUse {
    pub hash: Vec<u8>,
    pub grant_id: Uuid,
    pub client_id: String,
    /// Authorization codes only.
    pub redirect_uri: String,
    /// Authorization codes only: the PKCE S256 challenge.
    pub code_challenge: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// What consuming a single-use credential found.
#[derive(Debug, Clone)]
pub enum Consumed {
    /// First use: now marked used.
    Fresh(SingleUse),
    /// It had been used before: a replay.
    Replayed(SingleUse),
    /// It belongs to another client; left untouched (a client holding someone else's token
    /// must not be able to burn it).
    OtherClient,
    NotFound,
}

/// A single-use credential as found by its hash, without using it.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// Not used yet.
    Unused(SingleUse),
    /// Used before: presenting it again is a replay.
    Used(SingleUse),
    NotFound,
}

/// OAuth clients, grants, codes and refresh tokens.
#[async_trait]
pub trait OAuthStore: Send + Sync {
    /// Inserts a client, or replaces one with the same client id (refreshed metadata documents).
    async fn upsert_oauth_client(&self, client: &OAuthClient) -> Result<(), StoreError>;
    async fn oauth_client(&self, client_id: &str) -> Result<OAuthClient, StoreError>;
    async fn insert_grant(&self, grant: &Grant) -> Result<(), StoreError>;
    /// A grant with its user, in one read (the gateway's check; it caches the answer).
    async fn grant_with_user(&self, id: Uuid) -> Result<(Grant, User), StoreError>;
    /// A number that changes after every write made through this store that can change what
    /// a grant authorizes: a grant revoked; a user disabled, enabled, deleted, or given another
    /// role or group; a group deleted; a server deleted. A cache of grants is valid only while
    /// it stays the same. Writes of another process (the `gumstackd user` commands on the same
    /// database) are not counted: such a cache also expires by time
    /// (docs/ARCHITECTURE.md, "The gateway's caches").
    fn access_version(&self) -> u64;
    /// Revokes a grant; every code and token issued under it stops working.
    async fn revoke_grant(&self, id: Uuid, at: Timestamp) -> Result<(), StoreError>;
    /// A user's unrevoked grants, newest first, with their client's and server's names (the
    /// dashboard's list of connected MCP clients).
    async fn user_grants(&self, user_id: Uuid) -> Result<Vec<UserGrant>, StoreError>;
    async fn insert_code(&self, code: &SingleUse) -> Result<(), StoreError>;
    /// Marks an authorization code of `client_id` used, atomically.
    /// The authorization code hashing to `hash`, left as it is (every check of a request is
    /// made before the code is consumed).
    async fn find_code(&self, hash: &[u8]) -> Result<Lookup, StoreError>;
    /// The refresh token hashing to `hash`, left as it is.
    async fn find_refresh_token(&self, hash: &[u8]) -> Result<Lookup, StoreError>;
    async fn consume_code(
        &self,
        hash: &[u8],
        client_id: &str,
        at: Timestamp,
    ) -> Result<Consumed, StoreError>;
    async fn insert_refresh_token(&self, token: &SingleUse) -> Result<(), StoreError>;
    /// Marks a refresh token of `client_id` used (rotated), atomically.
    async fn consume_refresh_token(
        &self,
        hash: &[u8],
        client_id: &str,
        at: Timestamp,
    ) -> Result<Consumed, StoreError>;
}
