//! The persistence seam. Callers see [`Store`], a small `dyn` trait over plain records; SQLite
//! ([`sqlite::SqliteStore`]) fills it today and a PostgreSQL implementation can fill it without
//! touching callers (SPEC §13). Secrets arrive here already encrypted or hashed: the store never
//! sees a plaintext secret.

pub mod sqlite;
mod sqlite_connections;
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

/// An OAuth connect flow in progress (SPEC §3 step 2): found by the hash of its state, single
/// use, bound to the user, server, provider and browser session that started it.
#[derive(Clone)]
pub struct OAuthFlow {
    pub id: Uuid,
    /// SHA-256 of the state sent to the provider.
    pub state_hash: Vec<u8>,
    pub user_id: Uuid,
    pub server_id: Uuid,
    pub provider: String,
    /// SHA-256 of the browser session's token.
    pub session_hash: Vec<u8>,
    /// The flow's PKCE verifier, sealed to the flow id.
    pub verifier_ciphertext: Vec<u8>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for OAuthFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthFlow")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("server_id", &self.server_id)
            .field("provider", &self.provider)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Whether a connection's tokens can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Active,
    /// The provider refused the refresh token (`invalid_grant`), or the token expired with no
    /// way to refresh it: the user must connect again.
    NeedsReauth,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::NeedsReauth => "needs_reauth",
        }
    }
}

/// Why the last refresh failed while the tokens were kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The provider was unreachable, rate-limited or failed (429, 5xx, network, timeout).
    Transient,
    /// The provider refused the server's own client (`invalid_client`…), or answered
    /// something unreadable: the developer must fix the integration.
    Integration,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Integration => "integration",
        }
    }
}

/// A user's connected account at one provider of one `oauth` server, tokens sealed.
#[derive(Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: Uuid,
    pub user_id: Uuid,
    pub server_id: Uuid,
    pub provider: String,
    pub nickname: String,
    /// Sealed to (connections, access_token, user, server, id).
    pub access_ciphertext: Vec<u8>,
    /// SHA-256 of the access token.
    pub access_hash: Vec<u8>,
    /// Sealed to (connections, refresh_token, user, server, id).
    pub refresh_ciphertext: Option<Vec<u8>>,
    pub expires_at: Option<Timestamp>,
    pub scope: Option<String>,
    pub status: ConnectionStatus,
    pub failure_kind: Option<FailureKind>,
    pub failure_message: Option<String>,
    /// Consecutive failed refreshes (for backoff).
    pub failures: i64,
    /// No refresh is tried before this time (backoff after a failure).
    pub retry_at: Option<Timestamp>,
    /// Grows with every change; leases are taken against it.
    pub version: i64,
    pub lease_holder: Option<String>,
    pub lease_until: Option<Timestamp>,
    /// When the current access token was obtained.
    pub obtained_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("server_id", &self.server_id)
            .field("provider", &self.provider)
            .field("status", &self.status)
            .field("expires_at", &self.expires_at)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Tokens a refresh obtained, sealed to the connection.
#[derive(Clone)]
pub struct RefreshedTokens {
    pub access_ciphertext: Vec<u8>,
    pub access_hash: Vec<u8>,
    /// `None` keeps the stored refresh token (the provider did not rotate it).
    pub refresh_ciphertext: Option<Vec<u8>>,
    pub expires_at: Option<Timestamp>,
    /// `None` keeps the stored scope.
    pub scope: Option<String>,
    pub obtained_at: Timestamp,
}

impl std::fmt::Debug for RefreshedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshedTokens")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// How a refresh that got no tokens ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshFailure {
    /// The connection needs the user to connect again; `message` says why.
    NeedsReauth { message: String },
    /// Tokens kept; no refresh before `retry_at`.
    Kept {
        kind: FailureKind,
        message: String,
        retry_at: Timestamp,
    },
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
    /// Sets a new password; ends the account's browser sessions and revokes its MCP clients'
    /// grants.
    async fn set_password_hash(&self, user_id: Uuid, hash: &str) -> Result<(), StoreError>;
    /// Changes a user's role, unless that would leave no admin (checked in the same statement,
    /// so two admins demoting each other at once cannot both succeed): `Conflict` then.
    async fn set_user_role(&self, user_id: Uuid, role: Role) -> Result<(), StoreError>;

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
    /// A user's unrevoked grants, newest first, with their client's and server's names (the
    /// dashboard's list of connected MCP clients).
    async fn user_grants(&self, user_id: Uuid) -> Result<Vec<UserGrant>, StoreError>;
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
    // OAuth connect flows (SPEC §3).
    /// Stores a flow (forgetting expired ones); `Conflict` when its user already has 20.
    async fn insert_oauth_flow(&self, flow: &OAuthFlow) -> Result<(), StoreError>;
    /// Removes and returns the flow whose state hashes to `state_hash` (single use), and
    /// forgets every flow expired before `now`.
    async fn take_oauth_flow(
        &self,
        state_hash: &[u8],
        now: Timestamp,
    ) -> Result<OAuthFlow, StoreError>;

    // OAuth connections.
    async fn connection(
        &self,
        user_id: Uuid,
        server_id: Uuid,
        provider: &str,
    ) -> Result<Connection, StoreError>;
    /// Every connection of a user, any server.
    async fn user_connections(&self, user_id: Uuid) -> Result<Vec<Connection>, StoreError>;
    /// Inserts the connection, or replaces the (user, server, provider) row wholesale (a
    /// reconnect: new id, tokens, status; a refresh in flight on the old row loses its lease).
    async fn upsert_connection(&self, connection: &Connection) -> Result<(), StoreError>;
    /// Takes the refresh lease of connection `id` for `holder` until `until`, if its version is
    /// still `version` and no unexpired lease is held. True when taken.
    async fn lease_connection(
        &self,
        id: Uuid,
        version: i64,
        holder: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Stores refreshed tokens and releases the lease, if `holder` still holds it.
    async fn finish_refresh(
        &self,
        id: Uuid,
        holder: &str,
        tokens: &RefreshedTokens,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Records a failed refresh and releases the lease, if `holder` still holds it.
    async fn fail_refresh(
        &self,
        id: Uuid,
        holder: &str,
        failure: &RefreshFailure,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Marks the connection's access token expired when it is still the one hashing to
    /// `access_hash` (a tool reported the provider rejected it). True when it was.
    async fn expire_access_token(
        &self,
        id: Uuid,
        access_hash: &[u8],
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Marks a connection whose token expired with no refresh token as needing re-auth, if
    /// its version is still `version`.
    async fn mark_needs_reauth(
        &self,
        id: Uuid,
        version: i64,
        message: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Active connections with a refresh token whose access token expires by `until`, not in
    /// backoff and not leased at `now`; soonest first, at most `limit`.
    async fn connections_expiring(
        &self,
        until: Timestamp,
        now: Timestamp,
        limit: i64,
    ) -> Result<Vec<Connection>, StoreError>;
    async fn delete_connection(&self, id: Uuid) -> Result<(), StoreError>;
}

/// Current Unix time in seconds.
pub fn now() -> Timestamp {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
