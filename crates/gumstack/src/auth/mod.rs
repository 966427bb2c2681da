//! Auth type `oauth`: the server's side of the OAuth connections the platform runs.
//!
//! The platform runs the connect flow and keeps the users' tokens; the provider-specific HTTP
//! calls are made by the server's own [`AuthProvider`], which the platform reaches through the
//! host's provider routes (docs/PROTOCOL.md §4). Register one per provider of config.yaml with
//! [`GumstackHost::register_auth`](crate::GumstackHost::register_auth):
//!
//! ```no_run
//! use gumstack::{Config, GumstackHost, auth::StandardOAuthProvider};
//! # #[derive(Clone)]
//! # struct Server;
//! # impl rmcp::ServerHandler for Server {}
//! # async fn run(config: Config) -> Result<(), gumstack::HostError> {
//! let linear = StandardOAuthProvider::new("linear")
//!     .authorize_url("https://linear.app/oauth/authorize")
//!     .token_url("https://api.linear.app/oauth/token")
//!     .userinfo_url("https://api.linear.app/oauth/userinfo")
//!     .scopes(["read"]);
//! GumstackHost::new(config, Server).register_auth(linear).serve().await
//! # }
//! ```
//!
//! Inside a tool, [`get_credentials`](crate::get_credentials) returns the caller's access
//! token; when the provider rejects it, [`report_invalid_token`](crate::report_invalid_token)
//! tells the platform to refresh it (docs/PROTOCOL.md §3.1) before fetching it again.
//!
//! # Layout
//!
//! - `provider.rs`: [`AuthProvider`], [`TokenResponse`], [`ProviderError`].
//! - `standard/`: [`StandardOAuthProvider`], a ready provider for standard OAuth 2.0.
//! - `routes.rs`: the provider routes (`POST /gumstack/providers/{provider}/{operation}`), which
//!   only accept calls the platform signed, and the host's set of providers.

mod provider;
pub(crate) mod routes;
mod standard;

pub use provider::{AccountName, AuthProvider, ProviderError, TokenResponse, with_scopes};
pub use standard::{ClientAuthMethod, DEFAULT_TIMEOUT, StandardOAuthProvider, pkce_challenge};
