//! The audit trail (SPEC §9, issue 12): who changed what — servers, env var names, roles,
//! groups, passwords, clients, API tokens, keys — when, and from which address.
//!
//! Records are appended after an action succeeded (a refused or invalid action records
//! nothing), by the surfaces that know the actor and the address: the dashboard and the JSON
//! API through the [`Audit`] extractor, `gumstackd` as the actor [`Actor::Operator`]. The trail
//! is append-only and tamper-evident: every record carries the hash of the one before, and its
//! own hash is an HMAC under a key sealed in the vault (`chain`), so whoever can write the
//! database but not read the master keys can neither change a record nor recompute the chain.
//! The head (count, last hash, MAC) catches records cut off the end. [`AuditTrail::verify`]
//! (`gumstackd audit verify`) names the first broken record.
//!
//! # Layout
//! - `chain`: the canonical encoding, the record hash and head MAC, the verifier's walk.
//! - `filter`: the views' filters as people type them, checked ([`AuditFilter`]).
//! - `csv`: the CSV export's rows, with formula injection neutralised.
//! - `request`: the [`Audit`] extractor (the trail and the client's address).

mod chain;
mod csv;
mod filter;
mod request;

use std::sync::Arc;

use futures_util::Stream;
use serde_json::Value;
use uuid::Uuid;

use crate::clock::Clock;
use crate::crypto::random_bytes;
use crate::error::Internal;
use crate::store::{AuditDraft, AuditRecord, ChainLink, Server, Store, User};
use crate::vault::{Aad, Vault};

pub use chain::Break;
pub use filter::{AuditFilter, DEFAULT_LIMIT, FilterError, FilterParams, MAX_LIMIT};
pub use request::Audit;

use chain::{ChainKey, Walk};

/// The actor label of the command line.
pub const OPERATOR: &str = "cli (operator)";

/// The vault binding of the chain key: its id.
pub(crate) fn chain_key_aad(key_id: Uuid) -> Aad {
    Aad::new("audit_head", "chain_key", &[key_id])
}

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A user of the dashboard or the API (their email at the time is kept).
    User { id: Uuid, email: String },
    /// The operator at the command line (`gumstackd`).
    Operator,
}

impl Actor {
    pub fn user(user: &User) -> Self {
        Self::User {
            id: user.id,
            email: user.email.clone(),
        }
    }
}

macro_rules! names {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($variant,)* }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text,)* }
            }

            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }
        }
    };
}

names! {
    /// What was done.
    AuditAction {
        ServerCreated = "server.created",
        ServerUpdated = "server.updated",
        ServerDisabled = "server.disabled",
        ServerEnabled = "server.enabled",
        ServerDeleted = "server.deleted",
        ServerRedeployed = "server.redeployed",
        MaintainerAdded = "server.maintainer_added",
        MaintainerRemoved = "server.maintainer_removed",
        EnvVarSet = "env_var.set",
        EnvVarDeleted = "env_var.deleted",
        UserCreated = "user.created",
        UserRoleChanged = "user.role_changed",
        UserGroupChanged = "user.group_changed",
        UserPasswordReset = "user.password_reset",
        UserDisabled = "user.disabled",
        UserEnabled = "user.enabled",
        UserDeleted = "user.deleted",
        GroupCreated = "group.created",
        GroupRenamed = "group.renamed",
        GroupDeleted = "group.deleted",
        GroupAccessChanged = "group.access_changed",
        ClientRevoked = "client.revoked",
        ApiTokenCreated = "api_token.created",
        ApiTokenRevoked = "api_token.revoked",
        MasterKeyAdded = "master_key.added",
        MasterKeyRotated = "master_key.rotated",
        MasterKeyRetired = "master_key.retired",
        SigningKeyRotated = "signing_key.rotated",
    }
}

names! {
    /// What kind of thing an action was done to.
    TargetKind {
        Server = "server",
        User = "user",
        Group = "group",
        Client = "client",
        ApiToken = "api_token",
        MasterKey = "master_key",
        SigningKey = "signing_key",
    }
}

/// What an action was done to: its kind, id and a label people recognise (slug, email, name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: TargetKind,
    pub id: Option<String>,
    pub label: String,
}

impl Target {
    pub fn new(kind: TargetKind, id: impl ToString, label: impl Into<String>) -> Self {
        Self {
            kind,
            id: Some(id.to_string()),
            label: label.into(),
        }
    }

    pub fn server(server: &Server) -> Self {
        Self::new(TargetKind::Server, server.id, server.slug.clone())
    }

    pub fn user(user: &User) -> Self {
        Self::new(TargetKind::User, user.id, user.email.clone())
    }
}

/// One action to record. `details` holds names and flags only — never a secret value (an env
/// var's name, never its value; a token's label, never the token).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub action: AuditAction,
    pub target: Target,
    pub details: Value,
}

impl AuditEvent {
    pub fn new(action: AuditAction, target: Target) -> Self {
        Self {
            action,
            target,
            details: Value::Object(serde_json::Map::new()),
        }
    }

    /// Adds a detail (a name or flag, never a secret).
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Value::Object(map) = &mut self.details {
            map.insert(key.to_owned(), value.into());
        }
        self
    }
}

/// A user moved to another permission group.
pub(crate) fn group_changed(user: &User, group_id: Uuid, group_name: &str) -> AuditEvent {
    AuditEvent::new(AuditAction::UserGroupChanged, Target::user(user))
        .with("group_id", group_id.to_string())
        .with("group", group_name)
}

/// A group's decisions for one server: enabled, the default, and each tool's decision.
pub(crate) fn access_changed(
    group_id: Uuid,
    group_name: &str,
    server: &Server,
    access: &crate::store::ServerAccess,
) -> AuditEvent {
    let decision = |allowed: bool| if allowed { "allow" } else { "deny" };
    let tools: serde_json::Map<String, Value> = access
        .tools
        .iter()
        .map(|(tool, allowed)| (tool.clone(), Value::from(decision(*allowed))))
        .collect();
    AuditEvent::new(
        AuditAction::GroupAccessChanged,
        Target::new(TargetKind::Group, group_id, group_name),
    )
    .with("server", server.slug.as_str())
    .with("server_id", server.id.to_string())
    .with("enabled", access.enabled)
    .with("default", decision(access.default_allow))
    .with("tools", Value::Object(tools))
}

/// A server's maintainer added or removed (`user_id`, and the email when known).
pub(crate) fn maintainer_changed(
    action: AuditAction,
    server: &Server,
    user_id: Uuid,
    email: Option<&str>,
) -> AuditEvent {
    AuditEvent::new(action, Target::server(server))
        .with("maintainer_id", user_id.to_string())
        .with("maintainer", email)
}

/// An API token revoked (its label and owner, never the token).
pub fn token_revoked(token: &crate::store::ApiToken) -> AuditEvent {
    AuditEvent::new(
        AuditAction::ApiTokenRevoked,
        Target::new(TargetKind::ApiToken, token.id, token.name.clone()),
    )
    .with("owner", token.user_email.as_str())
}

/// An API token created (its label, owner and expiry, never the token).
pub fn token_created(token: &crate::store::ApiToken) -> AuditEvent {
    AuditEvent::new(
        AuditAction::ApiTokenCreated,
        Target::new(TargetKind::ApiToken, token.id, token.name.clone()),
    )
    .with("owner", token.user_email.as_str())
    .with("expires_at", token.expires_at)
}

/// An account disabled or deleted, with what the offboarding ended (counts only).
pub fn offboarded(action: AuditAction, report: &crate::offboarding::OffboardReport) -> AuditEvent {
    AuditEvent::new(
        action,
        Target::new(TargetKind::User, report.user_id, report.email.clone()),
    )
    .with("sessions_ended", report.ended.sessions)
    .with("api_tokens_ended", report.ended.api_tokens)
    .with("mcp_grants_ended", report.ended.grants)
    .with("connections_not_revoked", report.failures())
}

/// The fields a server update changes (names only, for the record's details).
pub(crate) fn patched_fields(patch: &crate::servers::ServerPatch) -> Vec<&'static str> {
    [
        ("name", patch.name.is_some()),
        ("description", patch.description.is_some()),
        ("icon", patch.icon.is_some()),
        ("config_yaml", patch.config_yaml.is_some()),
        ("runtime", patch.runtime.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, given)| given.then_some(name))
    .collect()
}

/// One page of a view, newest first.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    /// The cursor of the next (older) page, when there is one.
    pub next_before: Option<i64>,
}

/// What `gumstackd audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub records: i64,
    /// The first broken record (or the head), if any.
    pub broken: Option<Break>,
}

/// The audit trail: appends records to the chain and reads them back.
#[derive(Clone)]
pub struct AuditTrail {
    store: Arc<dyn Store>,
    key: Arc<ChainKey>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AuditTrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditTrail").finish_non_exhaustive()
    }
}

impl AuditTrail {
    /// Unseals the chain key, creating and sealing it when the trail has none yet (the first
    /// start after migration 0009; two processes racing store one key, both use it).
    pub async fn open(
        store: Arc<dyn Store>,
        vault: &Vault,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Internal> {
        let mut head = store.audit_head().await?;
        if head.key_ciphertext.is_none() {
            let id = Uuid::new_v4();
            let fresh = ChainKey::new(random_bytes::<32>());
            let sealed = vault.encrypt(fresh.bytes(), &chain_key_aad(id));
            let head_mac = fresh.head_mac(head.count, &head.last_hash);
            store
                .init_audit_key(&id.to_string(), &sealed, &head_mac)
                .await?;
            head = store.audit_head().await?;
        }
        let (Some(id), Some(sealed)) = (head.key_id.as_deref(), head.key_ciphertext.as_deref())
        else {
            return Err(Internal::other(
                "the audit trail has records but no chain key: audit_head was altered",
            ));
        };
        let id =
            Uuid::parse_str(id).map_err(|_| Internal::other("audit_head.key_id is not a UUID"))?;
        let bytes = vault.decrypt(sealed, &chain_key_aad(id))?;
        let key = ChainKey::from_slice(&bytes)
            .ok_or_else(|| Internal::other("the audit chain key is not 32 bytes"))?;
        Ok(Self {
            store,
            key: Arc::new(key),
            clock,
        })
    }

    /// Appends one record. `source` is the client's address (`None` from the command line).
    pub async fn record(
        &self,
        actor: &Actor,
        source: Option<std::net::IpAddr>,
        event: AuditEvent,
    ) -> Result<AuditRecord, Internal> {
        let (actor_id, actor_label) = match actor {
            Actor::User { id, email } => (Some(id.to_string()), email.clone()),
            Actor::Operator => (None, OPERATOR.to_owned()),
        };
        let draft = AuditDraft {
            at: self.clock.now(),
            actor_id,
            actor_label,
            action: event.action.as_str().to_owned(),
            target_kind: event.target.kind.as_str().to_owned(),
            target_id: event.target.id,
            target_label: event.target.label,
            details: event.details.to_string(),
            source: source.map(|ip| ip.to_string()),
        };
        let key = Arc::clone(&self.key);
        let link_draft = draft.clone();
        let link = move |seq: i64, prev_hash: &str| {
            let hash = key.record_hash(seq, prev_hash, &link_draft);
            ChainLink {
                head_mac: key.head_mac(seq, &hash),
                hash,
            }
        };
        Ok(self.store.append_audit(&draft, &link).await?)
    }

    /// [`record`](Self::record), logging a failure instead of returning it: for surfaces whose
    /// action already happened (the action is not undone; the log says what went unrecorded).
    pub async fn record_or_log(
        &self,
        actor: &Actor,
        source: Option<std::net::IpAddr>,
        event: AuditEvent,
    ) {
        let action = event.action.as_str();
        if let Err(err) = self.record(actor, source, event).await {
            tracing::error!(%err, action, "the audit trail could not record an action");
        }
    }

    /// One page of records matching `filter`, newest first.
    pub async fn page(&self, filter: &AuditFilter, limit: u32) -> Result<AuditPage, Internal> {
        let limit = limit.max(1);
        // One more than asked says whether there is a next page.
        let mut records = self
            .store
            .audit_records(&filter.query, limit.saturating_add(1))
            .await?;
        let more = records.len() > limit as usize;
        records.truncate(limit as usize);
        let next_before = more.then(|| records.last().map(|r| r.seq)).flatten();
        Ok(AuditPage {
            records,
            next_before,
        })
    }

    /// Every record matching `filter` as CSV (a header line, then one line per record, newest
    /// first), read in pages of 500 as the stream is consumed.
    pub fn csv(
        &self,
        filter: &AuditFilter,
    ) -> impl Stream<Item = Result<String, Internal>> + use<> {
        let trail = self.clone();
        let query = filter.query.clone();
        // (next cursor, header written, done)
        futures_util::stream::unfold((query, false, false), move |(mut query, header, done)| {
            let trail = trail.clone();
            async move {
                if done {
                    return None;
                }
                if !header {
                    return Some((Ok(csv::header()), (query, true, false)));
                }
                match trail.store.audit_records(&query, 500).await {
                    Err(err) => Some((Err(err.into()), (query, true, true))),
                    Ok(records) if records.is_empty() => None,
                    Ok(records) => {
                        let mut out = String::new();
                        for record in &records {
                            out.push_str(&csv::row(record));
                        }
                        let last = records.last().map(|r| r.seq);
                        let finished = records.len() < 500;
                        query.before = last;
                        Some((Ok(out), (query, true, finished)))
                    }
                }
            }
        })
    }

    /// Walks the whole chain, oldest first: each record's HMAC, its place and its link to the
    /// one before, then the head (MAC, count, last hash). The head is read before and after
    /// the walk; an append in between (the head moved) makes it walk again, so a running
    /// platform's appends are not mistaken for tampering.
    pub async fn verify(&self) -> Result<Verification, Internal> {
        let mut attempts = 0;
        loop {
            let before = self.store.audit_head().await?;
            let mut walk = Walk::new(&self.key);
            let mut after = 0;
            loop {
                let batch = self.store.audit_chain(after, 1000).await?;
                let Some(last) = batch.last() else { break };
                after = last.seq;
                for record in &batch {
                    walk.step(record);
                }
            }
            let head = self.store.audit_head().await?;
            attempts += 1;
            if head != before && attempts < 5 {
                continue;
            }
            return Ok(Verification {
                records: walk.records(),
                broken: walk.finish(&head),
            });
        }
    }
}
