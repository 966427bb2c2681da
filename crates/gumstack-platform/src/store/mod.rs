//! The persistence seam. Callers see [`Store`], a small `dyn` trait over plain records; SQLite
//! ([`sqlite::SqliteStore`]) fills it today and a PostgreSQL implementation can fill it without
//! touching callers (SPEC §13). Secrets arrive here already encrypted or hashed: the store never
//! sees a plaintext secret.

pub mod sqlite;
mod sqlite_oauth;

use async_trait::async_trait;
pub use uuid::Uuid;

pub use gumstack_config::AuthType;

/// Unix seconds.
pub type Timestamp = i64;

/// What a store operation can fail with, by kind (never by parsing driver messages in callers).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness constraint refused the write; the string names what was duplicated.
    #[error("already exists: {0}")]
    Conflict(String),
    /// The auth type of a server cannot change (enforced by the database as well).
    #[error("the auth type of a server cannot change")]
    AuthTypeImmutable,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// A user's role (SPEC §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Developer,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Developer => "developer",
            Self::Member => "member",
        }
    }

    /// Admins and developers manage servers and their env vars.
    pub fn manages_servers(self) -> bool {
        matches!(self, Self::Admin | Self::Developer)
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Self::Admin),
            "developer" => Ok(Self::Developer),
            "member" => Ok(Self::Member),
            other => Err(format!(
                "unknown role `{other}`: expected admin, developer or member"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
}

#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub org_id: Uuid,
    pub group_id: Uuid,
    /// Lower-cased.
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub role: Role,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// How the platform runs a server (SPEC §12).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RuntimeSpec {
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub working_dir: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub icon: Option<String>,
    pub auth_type: AuthType,
    pub config_yaml: String,
    pub runtime: Option<RuntimeSpec>,
    pub enabled: bool,
    pub owner_id: Option<Uuid>,
    /// Bumped by every change that needs a new deployment (redeploy, runtime or env changes
    /// applied by a redeploy). The supervisor deploys whenever it differs from what runs.
    pub deploy_generation: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The fields of a server an update may change. `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ServerUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub icon: Option<Option<String>>,
    pub config_yaml: Option<String>,
    pub runtime: Option<Option<RuntimeSpec>>,
    pub enabled: Option<bool>,
}

/// An env var as listed: never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVarMeta {
    pub id: Uuid,
    pub server_id: Uuid,
    pub name: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An env var with its sealed value, for building a process environment.
#[derive(Debug, Clone)]
pub struct SealedEnvVar {
    pub id: Uuid,
    pub name: String,
    pub ciphertext: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeploymentStatus {
    Deploying,
    Live,
    Failed,
    Stopped,
}

impl DeploymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploying => "deploying",
            Self::Live => "live",
            Self::Failed => "failed",
            Self::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub id: Uuid,
    pub server_id: Uuid,
    pub generation: i64,
    pub status: DeploymentStatus,
    /// `host:port` the process listens on, once started.
    pub address: Option<String>,
    /// Why it failed, redacted.
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A platform signing key as stored (the private key sealed).
#[derive(Debug, Clone)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub private_ciphertext: Vec<u8>,
    /// Base64url Ed25519 public key.
    pub public_x: String,
    pub created_at: Timestamp,
}

/// How an OAuth client came to be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// RFC 7591 dynamic registration.
    Dynamic,
    /// A client ID metadata document (the client id is its URL).
    MetadataDocument,
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dynamic => "dynamic",
            Self::MetadataDocument => "metadata_document",
        }
    }
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

/// Everything the platform persists. One implementation per database.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    // Organisation and groups.
    /// The single organisation and its default group, created on first call.
    async fn default_org(&self) -> Result<(Org, Group), StoreError>;

    // Users.
    async fn insert_user(&self, user: &User) -> Result<(), StoreError>;
    async fn user_by_id(&self, id: Uuid) -> Result<User, StoreError>;
    async fn user_by_email(&self, email: &str) -> Result<User, StoreError>;
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    async fn count_users(&self) -> Result<i64, StoreError>;
    async fn set_password_hash(&self, user_id: Uuid, hash: &str) -> Result<(), StoreError>;

    // Browser sessions.
    async fn insert_session(
        &self,
        user_id: Uuid,
        token_hash: &[u8],
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;
    /// The user of an unexpired session.
    async fn session_user(&self, token_hash: &[u8], now: Timestamp) -> Result<User, StoreError>;
    async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError>;

    // Admin API tokens.
    async fn insert_api_token(
        &self,
        user_id: Uuid,
        name: &str,
        token_hash: &[u8],
    ) -> Result<Uuid, StoreError>;
    async fn api_token_user(&self, token_hash: &[u8], now: Timestamp) -> Result<User, StoreError>;

    // Servers.
    async fn insert_server(&self, server: &Server) -> Result<(), StoreError>;
    async fn server_by_id(&self, id: Uuid) -> Result<Server, StoreError>;
    async fn server_by_slug(&self, slug: &str) -> Result<Server, StoreError>;
    async fn list_servers(&self) -> Result<Vec<Server>, StoreError>;
    async fn update_server(&self, id: Uuid, update: &ServerUpdate) -> Result<Server, StoreError>;
    /// Asks for a new deployment; returns the new generation.
    async fn bump_deploy_generation(&self, id: Uuid) -> Result<i64, StoreError>;
    /// Deletes the server and, by cascade, everything that belongs to it.
    async fn delete_server(&self, id: Uuid) -> Result<(), StoreError>;

    // Env vars.
    /// The id of an existing env var, so a new value can be sealed to it before it is written.
    async fn env_var_id(&self, server_id: Uuid, name: &str) -> Result<Option<Uuid>, StoreError>;
    /// Inserts or replaces by (server, name); the row takes `id` (the id the value is sealed to).
    async fn upsert_env_var(
        &self,
        id: Uuid,
        server_id: Uuid,
        name: &str,
        ciphertext: &[u8],
    ) -> Result<(), StoreError>;
    async fn list_env_vars(&self, server_id: Uuid) -> Result<Vec<EnvVarMeta>, StoreError>;
    async fn sealed_env_vars(&self, server_id: Uuid) -> Result<Vec<SealedEnvVar>, StoreError>;
    async fn delete_env_var(&self, server_id: Uuid, name: &str) -> Result<(), StoreError>;

    // Deployments.
    async fn insert_deployment(
        &self,
        deployment: &Deployment,
        server_token_hash: &[u8],
    ) -> Result<(), StoreError>;
    async fn update_deployment(
        &self,
        id: Uuid,
        status: DeploymentStatus,
        address: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Newest first.
    async fn list_deployments(
        &self,
        server_id: Uuid,
        limit: i64,
    ) -> Result<Vec<Deployment>, StoreError>;

    // Signing keys.
    /// Every unretired signing key, oldest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError>;

    // OAuth clients, grants, codes and refresh tokens.
    /// Inserts a client, or replaces one with the same client id (refreshed metadata documents).
    async fn upsert_oauth_client(&self, client: &OAuthClient) -> Result<(), StoreError>;
    async fn oauth_client(&self, client_id: &str) -> Result<OAuthClient, StoreError>;
    async fn insert_grant(&self, grant: &Grant) -> Result<(), StoreError>;
    /// A grant with its user, in one read (the gateway's per-call check).
    async fn grant_with_user(&self, id: Uuid) -> Result<(Grant, User), StoreError>;
    /// Revokes a grant; every code and token issued under it stops working.
    async fn revoke_grant(&self, id: Uuid, at: Timestamp) -> Result<(), StoreError>;
    async fn insert_code(&self, code: &SingleUse) -> Result<(), StoreError>;
    /// Marks an authorization code of `client_id` used, atomically.
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

    // Deployments by their server token (server processes calling the platform).
    /// The deployment whose server token hashes to `hash`.
    async fn deployment_by_token(&self, hash: &[u8]) -> Result<Deployment, StoreError>;

    // Credentials of `cred` servers.
    async fn credentials(
        &self,
        user_id: Uuid,
        server_id: Uuid,
    ) -> Result<SealedCredentials, StoreError>;
    /// Inserts or replaces the (user, server) row; the row takes `sealed.id`.
    async fn upsert_credentials(&self, sealed: &SealedCredentials) -> Result<(), StoreError>;
    async fn delete_credentials(&self, user_id: Uuid, server_id: Uuid) -> Result<(), StoreError>;
}

/// Current Unix time in seconds.
pub fn now() -> Timestamp {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
