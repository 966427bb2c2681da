//! OAuth connections of `oauth` servers (SPEC §3): the connect flow ([`flow`]), the tokens each
//! user's connection holds, and their refresh ([`refresh`]), coordinated so that one refresh per
//! connection runs at a time across tasks and platform processes.
//!
//! The provider-specific HTTP calls are made by the server's own provider code
//! ([`provider::ProviderCalls`], docs/PROTOCOL.md §4); this module decides when to call and
//! keeps the results sealed in the store.

mod accounts;
pub mod flow;
mod lease;
pub mod provider;
pub mod refresh;
mod revoke;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use secrecy::SecretString;
use uuid::Uuid;

use crate::clock::Clock;
use crate::error::Internal;
use crate::store::{Connection, Store, StoreError, Timestamp};
use crate::urls::PublicUrls;
use crate::vault::{Aad, Vault};
use provider::ProviderCalls;

pub use accounts::{MAX_LABEL_CHARS, RenameError};
pub use flow::{CallbackError, ConnectError, Connected};
pub use refresh::{AccountToken, TokenError};
pub use revoke::{Revocation, RevokeOutcome};

/// When and how connections are refreshed.
#[derive(Debug, Clone)]
pub struct RefreshSettings {
    /// A token handed to a tool is refreshed first when it expires within this margin (or
    /// within half its lifetime, for short-lived tokens).
    pub margin: Duration,
    /// The background refresher renews tokens expiring within this window (or half their
    /// lifetime).
    pub ahead: Duration,
    /// How often the background refresher looks (±20 % jitter); `None` turns it off.
    pub background_interval: Option<Duration>,
    /// How long a refresh lease is held at most; longer than any provider call.
    pub lease: Duration,
    /// How long a call to a server's provider route may take.
    pub provider_call: Duration,
    /// How long a caller waits at most for its token: for a refresh another task or process is
    /// making, and for its own provider call (which goes on after the caller got its answer).
    pub wait: Duration,
    /// How often this process writes its instance heartbeat (the liveness of its leases).
    pub heartbeat: Duration,
    /// An instance whose last heartbeat is older than this is gone: its leases are taken over
    /// before they expire. Several heartbeats long, so one slow write does not lose a lease.
    pub instance_stale: Duration,
    /// Backoff after the first transient failure; doubles per failure up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// How long an integration error stops refreshes (the developer has to act).
    pub integration_backoff: Duration,
}

impl Default for RefreshSettings {
    fn default() -> Self {
        Self {
            margin: Duration::from_secs(60),
            ahead: Duration::from_secs(300),
            background_interval: Some(Duration::from_secs(30)),
            // The SDK relies on these (docs/PROTOCOL.md §3, `gumstack_protocol::timeouts`).
            lease: gumstack_protocol::timeouts::PLATFORM_REFRESH_LEASE,
            provider_call: gumstack_protocol::timeouts::PLATFORM_PROVIDER_CALL,
            wait: gumstack_protocol::timeouts::PLATFORM_REFRESH_WAIT,
            heartbeat: Duration::from_secs(3),
            instance_stale: Duration::from_secs(10),
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(300),
            integration_backoff: Duration::from_secs(60),
        }
    }
}

/// What a page shows of a connection: never a token.
#[derive(Debug, Clone)]
pub struct ConnectionView {
    pub id: Uuid,
    pub server_id: Uuid,
    pub provider: String,
    pub nickname: String,
    /// The user's own name for the account.
    pub label: Option<String>,
    /// The account tools get unless they name another.
    pub is_default: bool,
    pub status: crate::store::ConnectionStatus,
    pub failure_kind: Option<crate::store::FailureKind>,
    pub failure_message: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub connected_at: Timestamp,
}

/// The connections service, shared by the pages, the callback, the internal credential route
/// and the background refresher.
#[derive(Clone)]
pub struct Connections {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    vault: Arc<Vault>,
    providers: Arc<dyn ProviderCalls>,
    clock: Arc<dyn Clock>,
    settings: RefreshSettings,
    urls: PublicUrls,
    /// This process's instance id, new at every start: its leases name it, its heartbeat
    /// tells other processes (and itself after a restart) whether they are still held.
    instance: Uuid,
    /// When this instance started (recorded with its heartbeat).
    started_at: Timestamp,
    /// When this instance last wrote its heartbeat.
    last_beat: Mutex<Option<Timestamp>>,
    /// One refresh at a time per connection within this process; the store lease does the
    /// same across processes.
    in_flight: Mutex<HashMap<FlightKey, Weak<tokio::sync::Mutex<()>>>>,
}

/// A connection's id: each account refreshes on its own.
type FlightKey = Uuid;

impl fmt::Debug for Connections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connections")
            .field("instance", &self.inner.instance)
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

/// The vault binding of a connection's access token.
fn access_aad(c: &Connection) -> Aad {
    access_aad_of(c.user_id, c.server_id, c.id)
}

/// The vault binding of the access token of connection `id` of `user_id` at `server_id`.
pub(crate) fn access_aad_of(user_id: Uuid, server_id: Uuid, id: Uuid) -> Aad {
    Aad::new("connections", "access_token", &[user_id, server_id, id])
}

/// The vault binding of a connection's refresh token.
fn refresh_aad(c: &Connection) -> Aad {
    refresh_aad_of(c.user_id, c.server_id, c.id)
}

/// The vault binding of the refresh token of connection `id` of `user_id` at `server_id`.
pub(crate) fn refresh_aad_of(user_id: Uuid, server_id: Uuid, id: Uuid) -> Aad {
    Aad::new("connections", "refresh_token", &[user_id, server_id, id])
}

/// Whole seconds of `d`, as store timestamps count them.
fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Connections {
    pub fn new(
        store: Arc<dyn Store>,
        vault: Arc<Vault>,
        providers: Arc<dyn ProviderCalls>,
        clock: Arc<dyn Clock>,
        settings: RefreshSettings,
        urls: PublicUrls,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                vault,
                providers,
                started_at: clock.now(),
                clock,
                settings,
                urls,
                instance: Uuid::new_v4(),
                last_beat: Mutex::new(None),
                in_flight: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn settings(&self) -> &RefreshSettings {
        &self.inner.settings
    }

    /// The page where the user connects accounts of the server `slug`.
    pub fn connect_url(&self, slug: &str) -> String {
        self.inner.urls.join(&format!("/connections/{slug}"))
    }

    /// The user's connections, for pages.
    pub async fn views(&self, user_id: Uuid) -> Result<Vec<ConnectionView>, Internal> {
        let rows = self.inner.store.user_connections(user_id).await?;
        Ok(rows
            .into_iter()
            .map(|c| ConnectionView {
                id: c.id,
                server_id: c.server_id,
                provider: c.provider,
                nickname: c.nickname,
                label: c.label,
                is_default: c.is_default,
                status: c.status,
                failure_kind: c.failure_kind,
                failure_message: c.failure_message,
                expires_at: c.expires_at,
                connected_at: c.created_at,
            })
            .collect())
    }

    /// The user's default account at the provider, or the one called `account`, if any.
    async fn find(
        &self,
        user_id: Uuid,
        server_id: Uuid,
        provider: &str,
        account: Option<&str>,
    ) -> Result<Option<Connection>, Internal> {
        match self
            .inner
            .store
            .connection(user_id, server_id, provider, account)
            .await
        {
            Ok(c) => Ok(Some(c)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn access_token_of(&self, c: &Connection) -> Result<SecretString, Internal> {
        Ok(self
            .inner
            .vault
            .decrypt_string(&c.access_ciphertext, &access_aad(c))?)
    }

    fn refresh_token_of(&self, c: &Connection) -> Result<Option<SecretString>, Internal> {
        c.refresh_ciphertext
            .as_ref()
            .map(|sealed| {
                self.inner
                    .vault
                    .decrypt_string(sealed, &refresh_aad(c))
                    .map_err(Internal::from)
            })
            .transpose()
    }

    /// The in-process lock of the refreshes of connection `id`.
    fn flight(&self, id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self
            .inner
            .in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = id;
        if let Some(lock) = map.get(&key).and_then(Weak::upgrade) {
            return lock;
        }
        if map.len() >= 1024 {
            map.retain(|_, lock| lock.strong_count() > 0);
        }
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        map.insert(key, Arc::downgrade(&lock));
        lock
    }
}
