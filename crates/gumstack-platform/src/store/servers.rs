//! Servers, their env vars and their deployments.

use std::ops::RangeInclusive;

use async_trait::async_trait;
use uuid::Uuid;

use super::AuthType;

/// What a client is told when it tries to change a server's auth type.
pub const AUTH_TYPE_IMMUTABLE: &str = "the auth type of a server cannot change after creation \
     (users' connections and credentials depend on it); create a new server instead";
use super::{StoreError, Timestamp};

/// How the platform runs a server (SPEC §12).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RuntimeSpec {
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub working_dir: Option<String>,
    /// Resource limits of its processes; each one unset is the platform's default.
    #[serde(default)]
    pub limits: ServerLimits,
}

/// A server's own resource limits (`setrlimit` of its processes), each overriding the
/// platform's default (`--server-memory-mib`, `--server-open-files`, `--server-processes`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerLimits {
    /// Memory in MiB (`RLIMIT_DATA`: the heap and private writable mappings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    /// Open file descriptors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_files: Option<u64>,
    /// Processes and threads of the server's own uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes: Option<u64>,
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
    /// The uid its processes run under when the platform runs as root: given at its first
    /// launch as root ([`ServerStore::assign_server_uid`]) and kept; `None` until then. No
    /// update writes it.
    pub uid: Option<u32>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What [`ServerStore::assign_server_uid`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UidAssignment {
    /// The server keeps the uid it had.
    Kept(u32),
    /// The server has a new uid, stored. `replaced` is the one it had, outside the range asked
    /// for (a range configured since).
    Assigned { uid: u32, replaced: Option<u32> },
    /// Every uid of the range belongs to another server; nothing was stored.
    Exhausted,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(rename_all = "lowercase")]
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

/// Servers and their env vars.
#[async_trait]
pub trait ServerStore: Send + Sync {
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
    /// The uid the server's processes run under: the one stored with it when it lies in
    /// `range`, else the lowest uid of `range` (never 0) no other server has, stored. One
    /// transaction, so two servers launched at once never get the same uid (the column is
    /// unique as well).
    async fn assign_server_uid(
        &self,
        id: Uuid,
        range: RangeInclusive<u32>,
    ) -> Result<UidAssignment, StoreError>;

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
}

/// Deployments of servers, and the server tokens that name them.
#[async_trait]
pub trait DeploymentStore: Send + Sync {
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

    // Deployments by their server token (server processes calling the platform).
    /// The deployment whose server token hashes to `hash`.
    async fn deployment_by_token(&self, hash: &[u8]) -> Result<Deployment, StoreError>;
}
