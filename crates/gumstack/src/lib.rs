//! The Gumstack SDK: write an MCP server with [`rmcp`], and let the Gumstack platform host it,
//! authenticate its users and hand its tools their credentials.
//!
//! A server is an rmcp [`ServerHandler`](rmcp::ServerHandler) plus its `config.yaml`.
//! [`GumstackHost`] serves it over Streamable HTTP the way the platform expects. Inside a tool,
//! [`GumstackContext::current`] says who is calling and [`get_credentials`] (or
//! [`get_credentials_sync`] for auth type `none`) returns the credentials the tool needs; no
//! request object has to be passed around. Failures are a [`GumstackError`] saying what the
//! caller should do, which a tool can return as is.
//!
//! ```no_run
//! use gumstack::{Config, GumstackError, GumstackHost, get_credentials_sync};
//! use rmcp::{ServerHandler, handler::server::wrapper::Parameters, schemars, tool, tool_handler, tool_router};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct GreetArgs {
//!     name: String,
//! }
//!
//! #[derive(Clone)]
//! struct Greeter;
//!
//! #[tool_router]
//! impl Greeter {
//!     #[tool(description = "Greet someone")]
//!     fn greet(&self, Parameters(GreetArgs { name }): Parameters<GreetArgs>) -> Result<String, GumstackError> {
//!         let credentials = get_credentials_sync()?;
//!         Ok(format!("{}, {name}!", credentials.require("greeting")?))
//!     }
//! }
//!
//! #[tool_handler]
//! impl ServerHandler for Greeter {}
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let config = Config::parse(include_str!("../../../examples/none-server/config.yaml"))?;
//!     GumstackHost::new(config, Greeter).serve().await?;
//!     Ok(())
//! }
//! ```
//!
//! # Running it
//!
//! The platform starts the server with `ENVIRONMENT=production`, `PORT` and its `GUMSTACK_*`
//! system variables (docs/PROTOCOL.md §1); `GUMSTACK_SERVER_ID` and `GUMSTACK_BACKEND_URL` are
//! required, and the host refuses to start without them. Every call to `/mcp` must then carry
//! the identity the platform's gateway signed for this server in the `Gumstack-Identity` header
//! (docs/PROTOCOL.md §2): the host verifies it with the platform's published keys and answers
//! anything else with `401 {"error": {"code": "invalid_identity", "message": …}}` before the
//! server's code runs. The verified claims are the tool's [`GumstackContext`]. For `cred` and
//! `oauth` servers, [`get_credentials`] then fetches the calling user's credentials from the
//! platform (docs/PROTOCOL.md §3) with `GUMSTACK_SERVER_TOKEN` and that same identity; a user
//! who has not entered them (or connected the account) gets
//! [`GumstackError::NeedsAuthorization`] with the link to do so.
//!
//! To run it on your machine, set `ENVIRONMENT=local`: it then listens on `127.0.0.1:8000` (or
//! `PORT`), serves every call as a fixed local user without any authentication, and reads
//! credentials from `LOCAL_<NAME>` variables. Without `ENVIRONMENT` it refuses to start.
//!
//! To test a server in production mode, enable the `testing` feature in your dev-dependencies:
//! `gumstack::testing::TestPlatform` plays the platform (signing keys, signed identities, the
//! users' credentials, signed calls to the provider routes) and `TestProvider` a third-party
//! OAuth provider.
//!
//! # Auth type `oauth`
//!
//! The platform runs the users' connect flows and keeps their tokens; the server registers an
//! [`AuthProvider`](auth::AuthProvider) for each provider of its config.yaml with
//! [`GumstackHost::register_auth`] (most use the ready
//! [`StandardOAuthProvider`](auth::StandardOAuthProvider)), and the platform calls it through
//! the host's provider routes (docs/PROTOCOL.md §4), which accept only calls the platform
//! signed. A tool gets the caller's access token with [`get_credentials`] (the user's default
//! account; [`get_credentials_for_account`] with an account the user named, from the tool's
//! optional [`AccountArgs`]); when the provider rejects it, [`report_invalid_token`] has the
//! platform refresh it.
//!
//! # Layout
//!
//! - [`host`]: [`GumstackHost`], the HTTP server (`/mcp`, `/health_check`, the provider
//!   routes, shutdown).
//! - [`auth`]: auth type `oauth`: [`AuthProvider`](auth::AuthProvider) and its errors, the
//!   standard provider, the provider routes the platform calls.
//! - [`mod@env`]: [`HostEnv`], the environment read once at start (mode, port, system variables).
//! - `identity`: who made a request, checked before the handler runs: the local user, or in
//!   production the platform-signed identity (`identity/platform.rs`) verified with the
//!   platform's cached keys (`identity/jwks.rs`); and the platform's own signed calls to the
//!   provider routes (`identity/platform_call.rs`).
//! - `handler`: wraps the developer's handler so each request runs in its scope.
//! - `scope`: the task-local request scope, the process-wide host state, [`spawn`].
//! - [`context`]: [`GumstackContext::current`], the caller of the current tool call.
//! - `caller`: the [`GumstackContext`] type itself, below `identity`, `scope` and `context`
//!   so that they share it without using each other.
//! - [`credentials`]: [`Credentials`], [`get_credentials`] and its variants,
//!   [`report_invalid_token`].
//! - `platform_api`: the calls to the platform (the shared HTTP client, the credentials
//!   fetch, the invalid token report, and what each answer means).
//! - [`error`]: [`GumstackError`] (tools) and [`HostError`] (start-up).
//! - `testing` (feature `testing`): a stand-in platform (signing keys, identities, platform
//!   calls, the credentials routes) and a stand-in OAuth provider for tests.

#![warn(missing_docs)]

pub mod auth;
mod caller;
pub mod context;
pub mod credentials;
pub mod env;
pub mod error;
mod handler;
pub mod host;
mod identity;
mod platform_api;
mod scope;
#[cfg(feature = "testing")]
pub mod testing;

pub use context::GumstackContext;
pub use credentials::{
    AccountArgs, Credentials, OAuthRequest, get_credentials, get_credentials_for,
    get_credentials_for_account, get_credentials_sync, get_oauth_credentials, report_invalid_token,
};
pub use env::{HostEnv, Mode};
pub use error::{GumstackError, HostError};
pub use gumstack_config::Config;
pub use host::GumstackHost;
/// The rmcp version this SDK is built on, so servers can depend on the same one.
pub use rmcp;
pub use scope::spawn;

/// The log filter a server should start with when `RUST_LOG` is unset (a `tracing-subscriber`
/// `EnvFilter` directive): `info`, except rmcp's lines about each request (three per stateless
/// MCP request: initialized, input ended, finished), which show only at `debug`:
///
/// ```ignore
/// tracing_subscriber::fmt()
///     .with_env_filter(
///         EnvFilter::try_from_default_env()
///             .unwrap_or_else(|_| EnvFilter::new(gumstack::DEFAULT_LOG_FILTER)),
///     )
///     .init();
/// ```
pub const DEFAULT_LOG_FILTER: &str = "info,rmcp::service=warn";
