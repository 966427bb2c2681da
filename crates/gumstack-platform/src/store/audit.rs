//! The audit trail's records and its head ([`AuditStore`]): appended one at a time in a write
//! transaction that takes the head first, read newest first with filters, and walked oldest
//! first by `gumstackd audit verify`. The store computes no hash: the caller hands
//! [`AuditStore::append_audit`] a function that seals each record under the chain's key.

use async_trait::async_trait;
use uuid::Uuid;

use super::{StoreError, Timestamp};

/// A record as the service writes it, before it has a place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditDraft {
    pub at: Timestamp,
    /// The acting user's id (`None`: the operator at the command line). Text as stored, so a
    /// record whose id was altered into something else can still be read and reported.
    pub actor_id: Option<String>,
    /// The actor as people read it: the user's email then, or `cli (operator)`.
    pub actor_label: String,
    /// What was done (`server.created`, `env_var.set`…).
    pub action: String,
    /// What kind of thing it was done to (`server`, `user`…).
    pub target_kind: String,
    pub target_id: Option<String>,
    pub target_label: String,
    /// A JSON object of names and flags (never a secret value).
    pub details: String,
    /// The client's address; `None` from the command line.
    pub source: Option<String>,
}

/// A stored record: its draft, its place and its hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: i64,
    pub draft: AuditDraft,
    /// The hash of record `seq - 1` (zeros for the first), hex.
    pub prev_hash: String,
    /// HMAC-SHA256 over `prev_hash` and the record's encoding, hex.
    pub hash: String,
}

/// The chain's head row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    /// Records appended so far (the last record's `seq`).
    pub count: i64,
    /// The last record's hash (zeros when there is none).
    pub last_hash: String,
    /// A MAC over `count` and `last_hash` (absent until the key exists).
    pub head_mac: Option<String>,
    /// The chain key's id (the binding of its ciphertext) and the key sealed in the vault.
    pub key_id: Option<String>,
    pub key_ciphertext: Option<Vec<u8>>,
}

/// The hashes the caller computes for the record placed at `seq` after `prev_hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLink {
    /// The record's hash.
    pub hash: String,
    /// The head's MAC over (`seq`, `hash`).
    pub head_mac: String,
}

/// Which records a view shows; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub actor_id: Option<Uuid>,
    pub actor_label: Option<String>,
    pub action: Option<String>,
    pub target_kind: Option<String>,
    /// At or after this time.
    pub from: Option<Timestamp>,
    /// Before this time.
    pub until: Option<Timestamp>,
    /// Only records older than this `seq` (the keyset cursor of the next page).
    pub before: Option<i64>,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// The head row.
    async fn audit_head(&self) -> Result<AuditHead, StoreError>;

    /// Stores the chain key and the head's first MAC, unless a key is already there (another
    /// process won the race: read the head again). True when this call stored it.
    async fn init_audit_key(
        &self,
        key_id: &str,
        key_ciphertext: &[u8],
        head_mac: &str,
    ) -> Result<bool, StoreError>;

    /// Appends `draft` at the end of the chain, in one write transaction that locks the head
    /// before reading it (appends from several processes are serialised by the database):
    /// `link(seq, prev_hash)` gives the record's hash and the new head MAC.
    async fn append_audit(
        &self,
        draft: &AuditDraft,
        link: &(dyn for<'p> Fn(i64, &'p str) -> ChainLink + Send + Sync),
    ) -> Result<AuditRecord, StoreError>;

    /// Up to `limit` records matching `query`, newest first.
    async fn audit_records(
        &self,
        query: &AuditQuery,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError>;

    /// Up to `limit` records with `seq` after `after`, oldest first (the verifier's walk).
    async fn audit_chain(&self, after: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError>;
}
