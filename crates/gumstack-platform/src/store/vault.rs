//! Every sealed column, read and re-sealed in batches (master-key rotation and verification),
//! and which master keys each platform instance holds.

use async_trait::async_trait;
use uuid::Uuid;

use super::{StoreError, Timestamp};

/// A column holding vault ciphertexts. Every sealed column of the schema is here: a new one
/// must be added, or `gumstackd key rotate` leaves it under the old key and `key retire`
/// refuses to retire it only if it counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SealedColumn {
    /// `env_vars.value_ciphertext` (server, row).
    EnvVarValue,
    /// `credentials.values_ciphertext` (user, server, row).
    CredentialValues,
    /// `connections.access_ciphertext` (user, server, row).
    ConnectionAccess,
    /// `connections.refresh_ciphertext` (user, server, row; may be absent).
    ConnectionRefresh,
    /// `oauth_flows.verifier_ciphertext` (row, user, server).
    FlowVerifier,
    /// `signing_keys.private_ciphertext` (the key id).
    SigningKeyPrivate,
    /// `audit_head.key_ciphertext`: the audit chain's HMAC key (its key id).
    AuditChainKey,
}

impl SealedColumn {
    pub const ALL: [Self; 7] = [
        Self::EnvVarValue,
        Self::CredentialValues,
        Self::ConnectionAccess,
        Self::ConnectionRefresh,
        Self::FlowVerifier,
        Self::SigningKeyPrivate,
        Self::AuditChainKey,
    ];

    pub fn table(self) -> &'static str {
        match self {
            Self::EnvVarValue => "env_vars",
            Self::CredentialValues => "credentials",
            Self::ConnectionAccess | Self::ConnectionRefresh => "connections",
            Self::FlowVerifier => "oauth_flows",
            Self::SigningKeyPrivate => "signing_keys",
            Self::AuditChainKey => "audit_head",
        }
    }

    pub fn column(self) -> &'static str {
        match self {
            Self::EnvVarValue => "value_ciphertext",
            Self::CredentialValues => "values_ciphertext",
            Self::ConnectionAccess => "access_ciphertext",
            Self::ConnectionRefresh => "refresh_ciphertext",
            Self::FlowVerifier => "verifier_ciphertext",
            Self::SigningKeyPrivate => "private_ciphertext",
            Self::AuditChainKey => "key_ciphertext",
        }
    }
}

impl std::fmt::Display for SealedColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.table(), self.column())
    }
}

/// One sealed value with the ids its binding names.
#[derive(Debug, Clone)]
pub struct SealedValue {
    /// The row's primary key (a UUID, or a signing key's id).
    pub row_id: String,
    pub user_id: Option<Uuid>,
    pub server_id: Option<Uuid>,
    pub ciphertext: Vec<u8>,
}

/// A value sealed again: written only if the row still holds `old`.
#[derive(Debug, Clone)]
pub struct Reseal {
    pub row_id: String,
    pub old: Vec<u8>,
    pub new: Vec<u8>,
}

/// The master keys an instance reported with its heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceKeys {
    pub instance: Uuid,
    pub started_at: Timestamp,
    pub heartbeat_at: Timestamp,
    /// Every key id it holds (`None`: it did not say, e.g. an older version).
    pub key_ids: Option<Vec<String>>,
    /// The key it seals new values with.
    pub active_key: Option<String>,
}

/// The sealed columns across tables, for rotation and verification.
#[async_trait]
pub trait VaultStore: Send + Sync {
    /// Up to `limit` values of `column` whose row id sorts after `after` (all when `None`), by
    /// row id. Rows without a value (a connection without refresh token) are skipped.
    async fn sealed_values(
        &self,
        column: SealedColumn,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SealedValue>, StoreError>;

    /// Writes each re-sealed value in one transaction, each only where the row still holds its
    /// old ciphertext (a value the platform wrote meanwhile is never overwritten). How many
    /// rows were written.
    async fn reseal(&self, column: SealedColumn, batch: &[Reseal]) -> Result<u64, StoreError>;

    /// Records the master keys instance `id` holds and the one it seals with (written with
    /// each heartbeat, after [`beat_instance`](super::ConnectionStore::beat_instance)).
    async fn report_instance_keys(
        &self,
        id: Uuid,
        key_ids: &[String],
        active: &str,
    ) -> Result<(), StoreError>;

    /// The instances with a heartbeat at or after `live_since`, with the keys they reported.
    async fn live_instances(&self, live_since: Timestamp) -> Result<Vec<InstanceKeys>, StoreError>;
}
