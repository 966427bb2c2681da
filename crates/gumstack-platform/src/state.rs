//! What every request handler may need, passed explicitly: [`AppState`], with [`FromRef`] so
//! an extractor or handler can take just the part it uses. It sits below the surfaces (API,
//! pages, OAuth, internal routes, gateway), which read it, and above the services it holds;
//! [`crate::app`] builds it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::FromRef;

use crate::activity::ActivityLog;
use crate::api_tokens::ApiTokens;
use crate::audit::AuditTrail;
use crate::client_ip::TrustedProxies;
use crate::clock::Clock;
use crate::connections::Connections;
use crate::credentials::UserCredentials;
use crate::keys::SigningKeys;
use crate::limits::{LoginLimiter, RegistrationLimiter};
use crate::offboarding::Offboarding;
use crate::permissions::Permissions;
use crate::servers::Servers;
use crate::store::Store;
use crate::supervisor::Supervisor;
use crate::urls::PublicUrls;
use crate::users::Accounts;
use crate::vault::Vault;

mod visibility;

/// Everything a request handler may need.
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    /// Every table, behind the per-aggregate store traits.
    pub store: Arc<dyn Store>,
    /// Seals and opens secrets bound to their rows; its keys are swapped when the key files
    /// change.
    pub vault: Arc<Vault>,
    /// Accounts and passwords.
    pub accounts: Accounts,
    /// API tokens: creation, expiry, revocation, the caller behind one.
    pub api_tokens: ApiTokens,
    /// Disabling, enabling and deleting accounts.
    pub offboarding: Offboarding,
    /// The audit trail of admin and developer actions (hash-chained, append-only).
    pub audit: AuditTrail,
    /// Users' saved credentials of `cred` servers.
    pub credentials: UserCredentials,
    /// OAuth connections of `oauth` servers: connect flows, tokens, refresh.
    pub connections: Connections,
    /// Servers and their env vars.
    pub servers: Servers,
    /// Permission groups: which server and tool each group may use.
    pub permissions: Permissions,
    /// The activity log: calls in progress, and the writer of ended calls.
    pub activity: ActivityLog,
    /// Running deployments; where the gateway forwards a call.
    pub supervisor: Arc<Supervisor>,
    /// The public URL and the URLs derived from it.
    pub urls: PublicUrls,
    /// Failed logins per account and address.
    pub limiter: Arc<LoginLimiter>,
    /// The platform's Ed25519 signing keys (access tokens, identities, platform calls).
    pub keys: Arc<SigningKeys>,
    /// How OAuth clients are admitted.
    pub client_settings: ClientSettings,
    /// Dynamic registrations per address.
    pub registration_limiter: Arc<RegistrationLimiter>,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// The loopback address the platform listens on, when it listens.
    pub listen_addr: Option<SocketAddr>,
    /// The wall clock every expiry (codes, tokens, sessions, flows, clients) is decided by.
    pub clock: Arc<dyn Clock>,
    /// How often the master key files and the signing keys are checked for changes.
    pub key_reload_interval: std::time::Duration,
}

/// Settings of OAuth client handling.
#[derive(Debug, Clone, Default)]
pub struct ClientSettings {
    /// TEST ONLY: accept client ID metadata documents on loopback `http://` URLs. Never set in
    /// production: it lets a client make the platform fetch from its own machine.
    pub allow_loopback_metadata_documents: bool,
    /// The domains whose client ID metadata documents this platform accepts (a host matches
    /// its domain or any subdomain); empty: any public host. Dynamically registered clients are
    /// not affected.
    pub client_id_domains: Vec<String>,
}
