//! The persistence seam: one small `dyn` trait per aggregate, over plain records.
//!
//! # Layout
//! - `activity`: reading the activity log of tool calls ([`ActivityReads`]).
//! - `users`: the organisation, groups, accounts, browser sessions, disabling and deleting
//!   accounts ([`UserStore`]).
//! - `api_tokens`: API tokens with their expiry and last use ([`ApiTokenStore`]).
//! - `servers`: servers and env vars ([`ServerStore`]); deployments and their server tokens
//!   ([`DeploymentStore`]).
//! - `keys`: the platform's signing keys ([`SigningKeyStore`]).
//! - `oauth`: OAuth clients, grants, codes and refresh tokens ([`OAuthStore`]).
//! - `credentials`: users' sealed `cred` values ([`CredentialStore`]).
//! - `connections`: connect flows and OAuth connections with their refresh lease
//!   ([`ConnectionStore`]).
//! - `groups`: permission groups, their members and their access to servers
//!   ([`GroupStore`]).
//! - `maintainers`: who besides its owner may manage each server ([`MaintainerStore`]).
//! - `tools`: the tools discovered on each server, and each deployment's discovery outcome
//!   and redacted output ([`ToolStore`]).
//! - `vault`: every sealed column read and re-sealed in batches, and the master keys each
//!   platform instance reports ([`VaultStore`]).
//! - `audit`: the audit trail's hash-chained records and its head ([`AuditStore`]).
//! - `activity_writes`: the activity log's inserts, lost-record counts and pruning
//!   ([`ActivityWrites`]).
//! - `error`: [`StoreError`], and the [`Constraint`] a refused write violated.
//! - [`sqlite`]: every trait on SQLite, one file per aggregate; a PostgreSQL backend is a
//!   sibling folder implementing the same traits (SPEC §13).
//!
//! Callers hold an `Arc<dyn Store>`: [`Store`] is the sum of the aggregate traits, implemented
//! for every type that implements them all. Secrets arrive here already encrypted or hashed:
//! the store never sees a plaintext secret.

pub(crate) mod activity;
pub(crate) mod activity_writes;
pub(crate) mod api_tokens;
pub(crate) mod audit;
pub(crate) mod connections;
pub(crate) mod credentials;
pub(crate) mod error;
pub(crate) mod groups;
pub(crate) mod keys;
pub(crate) mod maintainers;
pub(crate) mod oauth;
pub(crate) mod servers;
pub mod sqlite;
pub(crate) mod tools;
pub(crate) mod users;
pub(crate) mod vault;

pub use gumstack_config::AuthType;
pub use uuid::Uuid;

pub use activity::{
    ActivityCursor, ActivityFilter, ActivityReads, ActivityRecord, ActivityStats, CallBodies,
    CallStatus, Visibility,
};
pub use activity_writes::{ActivityWrites, NewActivity};
pub use api_tokens::{ApiToken, ApiTokenStore, LAST_USED_GRANULARITY, NewApiToken};
pub use audit::{AuditDraft, AuditHead, AuditQuery, AuditRecord, AuditStore, ChainLink};
pub use connections::{
    Connection, ConnectionStatus, ConnectionStore, FailureKind, LeaseClaim, OAuthFlow,
    RefreshFailure, RefreshedTokens,
};
pub use credentials::{CredentialStore, SealedCredentials};
pub use error::{Constraint, StoreError};
pub use groups::{GroupStore, GroupSummary, ServerAccess};
pub use keys::{SigningKeyRecord, SigningKeyStore};
pub use maintainers::{Maintainer, MaintainerStore};
pub use oauth::{
    ClientKind, Consumed, Grant, Lookup, OAuthClient, OAuthStore, SingleUse, UserGrant,
};
pub use servers::{
    AUTH_TYPE_IMMUTABLE, Deployment, DeploymentStatus, DeploymentStore, EnvVarMeta, RuntimeSpec,
    SealedEnvVar, Server, ServerLimits, ServerStore, ServerUpdate, UidAssignment,
};
pub use tools::{DeploymentRecord, DiscoveredTool, Discovery, ToolStore};
pub use users::{Ended, Group, Org, Removed, Role, User, UserStore};
pub use vault::{InstanceKeys, Reseal, SealedColumn, SealedValue, VaultStore};

/// Unix seconds.
pub type Timestamp = i64;

/// Everything the platform persists: every aggregate's store. One implementation per database.
pub trait Store:
    UserStore
    + ApiTokenStore
    + ServerStore
    + DeploymentStore
    + SigningKeyStore
    + OAuthStore
    + CredentialStore
    + ConnectionStore
    + GroupStore
    + MaintainerStore
    + VaultStore
    + AuditStore
    + ActivityReads
    + ToolStore
    + ActivityWrites
    + std::fmt::Debug
{
}

impl<T> Store for T where
    T: UserStore
        + ApiTokenStore
        + ServerStore
        + DeploymentStore
        + SigningKeyStore
        + OAuthStore
        + CredentialStore
        + ConnectionStore
        + GroupStore
        + MaintainerStore
        + VaultStore
        + AuditStore
        + ActivityReads
        + ToolStore
        + ActivityWrites
        + std::fmt::Debug
{
}

/// Current Unix time in seconds.
pub fn now() -> Timestamp {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
