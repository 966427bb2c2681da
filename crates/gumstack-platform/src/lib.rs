//! The Gumstack platform: everything `gumstackd` runs.
//!
//! # Layout
//! - [`app`]: assembles the state ([`app::Platform`]) and the HTTP router, and runs them.
//! - [`api`]: the JSON API for scripts (admin API tokens).
//! - [`gateway`]: the platform's decisions for the MCP gateway (token, grant, live deployment, identity).
//! - [`oauth`]: the OAuth 2.1 authorization server MCP clients log in through.
//! - [`keys`]: the platform's Ed25519 signing keys (access tokens, forwarded identities), JWKS.
//! - [`web`]: the browser side: login, logout, the dashboard (servers, settings, users, MCP
//!   clients) and the Connections pages.
//! - [`auth`]: who is calling — API token or browser session — as extractors; CSRF tokens.
//! - [`servers`]: servers and env vars: validation, the immutable auth type, sealing values.
//! - [`users`]: accounts, argon2id passwords.
//! - [`connections`]: OAuth connections of `oauth` servers: the connect flow, sealed tokens,
//!   coordinated refresh, and the calls to servers' provider code (docs/PROTOCOL.md §4).
//! - [`credentials`]: users' sealed credentials of `cred` servers; [`internal`]: the route
//!   server processes fetch them from (docs/PROTOCOL.md §3).
//! - [`supervisor`]: keeps server processes (via [`gumstack_runtime`]) in line with the store.
//! - [`store`]: the persistence seam ([`store::Store`]) and its SQLite implementation.
//! - [`vault`]: AES-256-GCM sealing of secrets bound to their rows; master keys.
//! - [`clock`]: the injected wall clock every expiry decision reads.
//! - [`crypto`], [`redact`], [`urls`], [`client_ip`]: small shared pieces.

pub mod api;
pub mod app;
pub mod auth;
pub mod client_ip;
pub mod clock;
pub mod connections;
pub mod credentials;
pub mod crypto;
pub mod error;
pub mod gateway;
pub mod internal;
pub mod keys;
pub mod limits;
pub mod oauth;
pub mod redact;
pub mod servers;
pub mod state;
pub mod store;
pub mod supervisor;
pub mod urls;
pub mod users;
pub mod vault;
pub mod web;

pub use app::{Platform, PlatformOptions, StartupError};
pub use state::AppState;
