//! The Gumstack platform: everything `gumstackd` runs.
//!
//! # Layout
//! Modules by layer; a module imports only from its own layer or below, which the
//! `module_cycles` test keeps free of cycles.
//!
//! **Surfaces** (HTTP in, each with its own error type):
//! - [`api`]: the JSON API for scripts (admin API tokens, `ApiError`).
//! - `web`: the browser side: login, logout, the dashboard and the Connections pages
//!   (`PageError`, HTML error pages; CSRF as an extractor).
//! - [`oauth`]: the OAuth 2.1 authorization server MCP clients log in through (`OAuthError`).
//! - `internal`: the routes server processes call (docs/PROTOCOL.md §3; the protocol's error
//!   codes; the server call authenticated by an extractor).
//! - `gateway`: the platform's decisions for the MCP gateway crate (token, grant, live
//!   deployment, identity).
//! - [`app`]: assembles [`AppState`] and the router from every surface, and runs them.
//!
//! **State and services**:
//! - `state`: [`AppState`], what every handler may take; `limits`: login and registration
//!   rate limits.
//! - [`auth`]: the browser session as an extractor, and the CSRF token derived from it.
//! - [`servers`]: servers and env vars: validation, the immutable auth type, sealing values.
//! - `permissions`: permission groups — who may use which server and call which tool; cached
//!   decisions the gateway reads on every call.
//! - `users`: accounts, argon2id passwords. `credentials`: users' sealed `cred` values.
//! - [`api_tokens`]: API tokens with expiry, last use and revocation.
//! - [`offboarding`]: disabling, re-enabling and deleting accounts, with the report of what
//!   was ended and revoked.
//! - [`audit`]: the audit trail of admin and developer actions: a hash chain keyed by a key
//!   sealed in the vault, its views' filters and CSV, and its verification.
//! - [`activity`]: the activity log: calls in progress, the queue and its writer (redacted,
//!   batched inserts), retention. `activity_views`: who may read which calls, the filters,
//!   the stats and the CSV export, for the pages and the JSON API.
//! - `elicitation`: what the platform signs when a call needs its user to connect an account
//!   or enter credentials (docs/PROTOCOL.md §5): the page link made for that user, and the
//!   `requestState` a 2026-07-28 client echoes back.
//! - [`connections`]: OAuth connections of `oauth` servers: the connect flow, sealed tokens,
//!   coordinated refresh, and the calls to servers' provider code (docs/PROTOCOL.md §4).
//! - [`server_tools`]: the tools of a server — config.yaml's joined with those the platform
//!   discovers at each deployment with an identity of its own (docs/PROTOCOL.md §2.1).
//! - `supervisor`: keeps server processes (via [`gumstack_runtime`]) in line with the store.
//! - [`keys`]: the platform's Ed25519 signing keys (access tokens, identities), JWKS, and
//!   their rotation with an overlap.
//! - [`rotation`]: master-key rotation: re-sealing every sealed column in batches while the
//!   platform serves, verifying, retiring a key nothing uses.
//! - `error`: the vocabulary services' own errors share (class and code), with no HTTP.
//!
//! **Below** (no HTTP, no services):
//! - [`store`]: one trait per aggregate ([`store::Store`] is their sum) and SQLite.
//! - [`vault`]: AES-256-GCM sealing of secrets bound to their rows; master keys.
//! - [`clock`]: the injected wall clock every expiry decision reads.
//! - [`crypto`], [`urls`], `redact`, `client_ip`, `csv`: small shared pieces; `deployment_log`:
//!   a deployment's output and discovery errors, redacted and bounded. The rules both sides
//!   of the platform↔server contract rely on (bearer parsing, loopback, token hashing, clock
//!   leeway) live in [`gumstack_protocol`].

#![warn(unreachable_pub)]

pub mod activity;
pub(crate) mod activity_views;
pub mod api;
pub mod api_tokens;
pub mod app;
pub mod audit;
pub mod auth;
pub(crate) mod client_ip;
pub mod clock;
pub mod connections;
pub(crate) mod credentials;
pub mod crypto;
pub(crate) mod csv;
pub(crate) mod deployment_log;
pub(crate) mod elicitation;
pub(crate) mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod gateway;
pub(crate) mod internal;
pub mod keys;
pub(crate) mod limits;
pub mod oauth;
pub mod offboarding;
pub(crate) mod permissions;
pub(crate) mod redact;
pub mod rotation;
pub mod server_tools;
pub mod servers;
pub(crate) mod state;
pub mod store;
pub(crate) mod supervisor;
pub mod urls;
pub(crate) mod users;
pub mod vault;
pub(crate) mod web;

pub use app::{Platform, PlatformOptions, StartupError};
pub use state::AppState;
