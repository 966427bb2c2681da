//! OAuth connections of `oauth` servers: connect flows in progress, and connected accounts with
//! their sealed tokens and refresh leases.

use async_trait::async_trait;
use uuid::Uuid;

use super::{StoreError, Timestamp};

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
    /// The scopes the authorization URL asks for (space-separated), if it names any.
    pub requested_scope: Option<String>,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Active,
    /// The provider refused the refresh token (`invalid_grant`), or the token expired with no
    /// way to refresh it: the user must connect again.
    NeedsReauth,
}

/// Why the last refresh failed while the tokens were kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(rename_all = "snake_case")]
pub enum FailureKind {
    /// The provider was unreachable, rate-limited or failed (429, 5xx, network, timeout).
    Transient,
    /// The provider refused the server's own client (`invalid_client`…), or answered
    /// something unreadable: the developer must fix the integration.
    Integration,
}

/// A user's connected account at one provider of one `oauth` server, tokens sealed.
///
/// A user may connect several accounts of one provider to a server (SPEC §3), told apart by
/// their nickname; one of them is the default.
#[derive(Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: Uuid,
    pub user_id: Uuid,
    pub server_id: Uuid,
    pub provider: String,
    /// The account's name at the provider (`get_nickname`); unique per user, server and
    /// provider.
    pub nickname: String,
    /// The account's stable id at the provider, when its provider code gives one; unique per
    /// user, server and provider.
    pub subject: Option<String>,
    /// The user's own name for the account, if they gave one.
    pub label: Option<String>,
    /// The account a tool gets unless it names another. The store keeps exactly one default
    /// per (user, server, provider) that has accounts; this field is ignored by
    /// [`ConnectionStore::upsert_connection`].
    pub is_default: bool,
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
            .field("is_default", &self.is_default)
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

/// A refresh lease to take on a connection.
#[derive(Debug, Clone, Copy)]
pub struct LeaseClaim<'a> {
    /// Names this one refresh: its outcome is stored only while it still holds the lease.
    pub holder: &'a str,
    /// The platform instance (process) taking it, whose heartbeat tells others it is alive.
    pub instance: Uuid,
    /// The lease ends by then even if its instance is alive.
    pub until: Timestamp,
}

/// Connect flows and connections, with the refresh lease that makes one refresh at a time.
///
/// A lease is held until `lease_until`, or until the instance that took it stops beating:
/// each platform process registers an instance id and writes a heartbeat every few seconds
/// ([`beat_instance`](Self::beat_instance)); a lease whose instance has no heartbeat at or
/// after `live_since` belongs to a process that is gone and may be taken over.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
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
    /// The user's account at `provider` of `server_id`: the default one when `account` is
    /// `None`, else the one whose nickname is `account` or, failing that, whose label is.
    async fn connection(
        &self,
        user_id: Uuid,
        server_id: Uuid,
        provider: &str,
        account: Option<&str>,
    ) -> Result<Connection, StoreError>;
    /// Every connection of a user, any server; defaults first within each provider.
    async fn user_connections(&self, user_id: Uuid) -> Result<Vec<Connection>, StoreError>;
    /// Inserts the connection, or replaces the row of the same account wholesale (a
    /// reconnect: new id, nickname, tokens, status; a refresh in flight on the old row loses
    /// its lease), keeping its label and whether it is the default. The same account is the
    /// user's account of the server and provider with the same subject, or, failing that, the
    /// same nickname and no other subject; `Conflict(AccountName)` when another subject goes
    /// by that nickname. A new account becomes the default when its provider has none.
    async fn upsert_connection(&self, connection: &Connection) -> Result<(), StoreError>;
    /// Makes connection `id` of `user_id` the default of its provider. `NotFound` when the
    /// user has no such connection.
    async fn set_default_connection(&self, user_id: Uuid, id: Uuid) -> Result<(), StoreError>;
    /// Sets (or, with `None`, removes) the label of connection `id` of `user_id`.
    /// `NotFound` when the user has no such connection; `Conflict(AccountName)` when another
    /// account of the same provider is called `label` (by nickname or label).
    async fn label_connection(
        &self,
        user_id: Uuid,
        id: Uuid,
        label: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Takes the refresh lease of connection `id` for `claim`, if its version is still
    /// `version` and no lease is held that is unexpired at `now` by an instance with a
    /// heartbeat at or after `live_since`. True when taken.
    async fn lease_connection(
        &self,
        id: Uuid,
        version: i64,
        claim: &LeaseClaim<'_>,
        now: Timestamp,
        live_since: Timestamp,
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
    /// Active connections of enabled users with a refresh token whose access token expires by `until`, not in
    /// backoff and not leased at `now` by a live instance (see
    /// [`lease_connection`](Self::lease_connection)); soonest first, at most `limit`.
    async fn connections_expiring(
        &self,
        until: Timestamp,
        now: Timestamp,
        live_since: Timestamp,
        limit: i64,
    ) -> Result<Vec<Connection>, StoreError>;
    /// Deletes a connection; when it was its provider's default, the user's oldest other
    /// account of that provider becomes the default.
    async fn delete_connection(&self, id: Uuid) -> Result<(), StoreError>;

    // Platform instances, for the leases they hold.
    /// Records that instance `id` (started at `started_at`) is alive at `now`.
    async fn beat_instance(
        &self,
        id: Uuid,
        started_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Forgets instances whose last heartbeat is before `before`; how many.
    async fn forget_instances(&self, before: Timestamp) -> Result<u64, StoreError>;
    /// Forgets one instance (it stopped cleanly).
    async fn remove_instance(&self, id: Uuid) -> Result<(), StoreError>;
}
