//! `get_credentials()` and friends: the credentials a tool needs for third-party services.
//!
//! Where they come from depends on the server's auth type (config.yaml) and the mode:
//!
//! | auth type | production | local (`ENVIRONMENT=local`) |
//! |---|---|---|
//! | `none` | env var `NAME` for each `credentials` entry `name` | `LOCAL_NAME` |
//! | `cred` | the calling user's form values, fetched from the platform | `LOCAL_NAME` |
//! | `oauth` | `access_token` of the calling user's connection, fetched from the platform | `access_token` from `LOCAL_ACCESS_TOKEN` (`LOCAL_<PROVIDER>_ACCESS_TOKEN` with several providers) |
//!
//! An empty variable (or value) counts as unset.
//!
//! In production, `cred` and `oauth` credentials are fetched from the platform for every call
//! (`GET $GUMSTACK_BACKEND_URL/internal/v1/credentials`, docs/PROTOCOL.md §3), authenticated
//! with the deployment's `GUMSTACK_SERVER_TOKEN` and the identity of the call being served;
//! nothing is cached. The platform decides what is missing: a user who has not entered their
//! credentials (or connected their account) gets [`GumstackError::NeedsAuthorization`] with
//! the link to do so. How each answer maps to an error is described in `platform_api.rs`.
//!
//! An `oauth` tool whose access token the provider rejects (HTTP 401) calls
//! [`report_invalid_token`], then fetches the credentials again: the platform refreshes the
//! connection in between (docs/PROTOCOL.md §3.1).

use std::{collections::BTreeMap, fmt};

use gumstack_config::AuthType;
use secrecy::{ExposeSecret, SecretString};

use crate::{
    caller::GumstackContext,
    env::Mode,
    error::GumstackError,
    identity::Presented,
    platform_api::{Fetched, NO_USER, PlatformApi},
    scope::{HostState, RequestScope},
};

/// Credentials by name (`api_key`, `access_token`, …). Values are secrets: `Debug` shows names
/// only and there is no `Serialize`.
pub struct Credentials {
    values: BTreeMap<String, SecretString>,
    /// Declared credentials that are not set, with how they would be set.
    unset: BTreeMap<String, String>,
    /// `oauth` in production: the nickname of the account the token is of.
    account: Option<String>,
}

impl Credentials {
    /// `oauth` in production: the account (its nickname at the provider) whose access token
    /// this is: the user's default account, or the one asked for. `None` in local mode and
    /// for other auth types.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// The value of credential `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|value| value.expose_secret())
    }

    /// The value of credential `name`, or a [`GumstackError::Misconfigured`] saying how to set it.
    pub fn require(&self, name: &str) -> Result<&str, GumstackError> {
        if let Some(value) = self.get(name) {
            return Ok(value);
        }
        Err(GumstackError::misconfigured(match self.unset.get(name) {
            Some(how) => format!("credential `{name}` is not set: {how}"),
            None => format!("credential `{name}` is not declared in config.yaml"),
        }))
    }

    /// The names of the credentials that are set.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.values.keys().map(|name| (name, "[REDACTED]")))
            .finish()
    }
}

/// The credentials of a `none` server, read from the environment (synchronous, as in the
/// original SDK). For `oauth` and `cred` servers use [`get_credentials`].
///
/// Works inside a request and, for code outside requests, once a host was built in this
/// process; before that it fails with [`GumstackError::NoAuthContext`].
pub fn get_credentials_sync() -> Result<Credentials, GumstackError> {
    let host = HostState::current().ok_or_else(|| {
        GumstackError::no_auth_context(
            "no authentication context: get_credentials_sync() was called before a \
             GumstackHost was built in this process",
        )
    })?;
    match host.config.auth.kind {
        AuthType::None => declared_from_env(&host),
        AuthType::Oauth | AuthType::Cred => Err(GumstackError::misconfigured(format!(
            "get_credentials_sync() only serves servers with auth type `none`; this server's \
             auth type is `{}`: call get_credentials().await inside the tool instead",
            host.config.auth.kind.as_str()
        ))),
    }
}

/// The credentials of the user calling the current tool (for `none` servers: the server's own,
/// as [`get_credentials_sync`]).
///
/// Must run inside a tool call handled by [`GumstackHost`](crate::GumstackHost) (or a task
/// started with [`crate::spawn`]), else [`GumstackError::NoAuthContext`]. An `oauth` server with
/// several providers must use [`get_credentials_for`].
///
/// In production, `cred` and `oauth` servers fetch the values from the platform on every call.
/// It fails with [`GumstackError::NeedsAuthorization`] (the link to follow) when the user has
/// not entered their credentials or connected their account, [`GumstackError::RetryLater`]
/// when the platform is unavailable or its answer unreadable, and
/// [`GumstackError::Misconfigured`] when the platform refuses this server's request. Return the
/// error from the tool as is: the user sees what to do.
pub async fn get_credentials() -> Result<Credentials, GumstackError> {
    let scope = current_scope("get_credentials()")?;
    let host = scope.host();
    match host.config.auth.kind {
        AuthType::None => declared_from_env(host),
        AuthType::Cred => match host.env.mode() {
            Mode::Local => declared_from_env(host),
            Mode::Production => from_platform(&scope, None, None, &[]).await,
        },
        AuthType::Oauth => match host.config.auth.providers.as_slice() {
            [provider] => match host.env.mode() {
                Mode::Local => local_oauth_token(host, provider),
                // The platform knows the server's one provider.
                Mode::Production => from_platform(&scope, None, None, &[]).await,
            },
            providers => Err(GumstackError::misconfigured(format!(
                "this server has several OAuth providers ({}): call \
                 get_credentials_for(provider).await",
                providers.join(", ")
            ))),
        },
    }
}

/// The OAuth credentials (`access_token`) of the calling user's default account at
/// `provider`, for `oauth` servers with several providers.
pub async fn get_credentials_for(provider: &str) -> Result<Credentials, GumstackError> {
    get_oauth_credentials(OAuthRequest {
        provider: Some(provider),
        ..OAuthRequest::default()
    })
    .await
}

/// Which OAuth credentials a tool asks for ([`get_oauth_credentials`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct OAuthRequest<'a> {
    /// The provider; `None` for the server's one provider.
    pub provider: Option<&'a str>,
    /// One of the user's accounts there (nickname or label); `None` for their default account.
    pub account: Option<&'a str>,
    /// The provider scopes the tool needs. When the account was granted fewer, the user is
    /// asked to connect it again for them ([`GumstackError::NeedsAuthorization`], or inside
    /// the call when their MCP client supports it); the server's other tools keep working.
    pub scopes: &'a [&'a str],
}

/// The OAuth credentials (`access_token`) `request` describes: a provider, one of the user's
/// accounts there, and the scopes the tool needs (docs/PROTOCOL.md §3).
///
/// ```no_run
/// use gumstack::{GumstackError, OAuthRequest, get_oauth_credentials};
///
/// async fn list_org_repos() -> Result<String, GumstackError> {
///     let credentials = get_oauth_credentials(OAuthRequest {
///         scopes: &["read:org"],
///         ..OAuthRequest::default()
///     })
///     .await?;
///     let _token = credentials.require("access_token")?;
///     Ok(String::new())
/// }
/// ```
///
/// In local mode the account and scopes are not checked: the one local token is used.
pub async fn get_oauth_credentials(
    request: OAuthRequest<'_>,
) -> Result<Credentials, GumstackError> {
    let scope = current_scope("get_oauth_credentials()")?;
    let host = scope.host();
    if !matches!(host.config.auth.kind, AuthType::Oauth) {
        return Err(GumstackError::misconfigured(format!(
            "OAuth credentials are for servers with auth type `oauth`; this server's auth type \
             is `{}`: call get_credentials() instead",
            host.config.auth.kind.as_str()
        )));
    }
    let named = provider_meant(host, request.provider, "name one in the OAuthRequest")?;
    if let Some(bad) = request
        .scopes
        .iter()
        .find(|s| !gumstack_protocol::scopes::is_scope_token(s))
    {
        return Err(GumstackError::misconfigured(format!(
            "`{}` is not an OAuth scope (printable ASCII without spaces, commas, quotes or \
             backslashes)",
            bad.escape_default()
        )));
    }
    let account = request
        .account
        .map(str::trim)
        .filter(|name| !name.is_empty());
    match host.env.mode() {
        Mode::Local => local_oauth_token(host, named),
        // Unnamed, the platform knows the server's one provider.
        Mode::Production => from_platform(&scope, request.provider, account, request.scopes).await,
    }
}

/// The OAuth credentials (`access_token`) of one of the calling user's accounts at `provider`
/// (`None`: the server's one provider): the account called `account` (its nickname at the
/// provider, or the label the user gave it), or the user's default account when `None`.
///
/// A user may connect several accounts of a provider (docs/PROTOCOL.md §3); a tool that lets
/// them choose takes an optional `account` argument ([`AccountArgs`]) and passes it here.
/// An account the user has not connected fails with [`GumstackError::NeedsAuthorization`],
/// whose message names the accounts they did connect. [`Credentials::account`] says which
/// account answered. In local mode `account` is ignored: the one local token is used.
pub async fn get_credentials_for_account(
    provider: Option<&str>,
    account: Option<&str>,
) -> Result<Credentials, GumstackError> {
    get_oauth_credentials(OAuthRequest {
        provider,
        account,
        scopes: &[],
    })
    .await
}

/// The arguments of a tool that lets the user choose which of their accounts to use: add
/// them to the tool's own (`#[serde(flatten)]`) or take them as they are, and pass `account`
/// to [`get_credentials_for_account`] (or [`OAuthRequest::account`]).
#[derive(Debug, Clone, Default, serde::Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct AccountArgs {
    /// Which of your connected accounts to use (its name at the provider, or the label you
    /// gave it); leave it out for your default account.
    #[serde(default)]
    pub account: Option<String>,
}

/// Tells the platform that the provider rejected `access_token` (an HTTP 401 from its API),
/// which [`get_credentials`] (or [`get_credentials_for`] with `provider`) returned in this same
/// call; fetch the credentials again afterwards. The platform refreshes the connection before
/// the next fetch, or marks it as needing re-authorization when it cannot, in which case the
/// fetch fails with [`GumstackError::NeedsAuthorization`] (docs/PROTOCOL.md §3.1). Tokens the
/// provider issued without an expiry are refreshed this way.
///
/// `provider` may be `None` when the server has one provider. Report a token once, and retry
/// once: a token that is rejected again is not the platform's to fix.
///
/// ```no_run
/// use gumstack::{GumstackError, get_credentials, report_invalid_token};
///
/// /// Calls the provider's API; `Err(status)` when it refuses.
/// async fn call_api(token: &str) -> Result<String, u16> {
///     # let _ = token;
///     Ok(String::new())
/// }
///
/// async fn tool() -> Result<String, GumstackError> {
///     let token = get_credentials().await?.require("access_token")?.to_owned();
///     let answer = match call_api(&token).await {
///         Err(401) => {
///             report_invalid_token(None, &token).await?;
///             let fresh = get_credentials().await?.require("access_token")?.to_owned();
///             call_api(&fresh).await
///         }
///         other => other,
///     };
///     answer.map_err(|status| GumstackError::RetryLater {
///         message: format!("The API answered HTTP {status}."),
///     })
/// }
/// ```
///
/// Must run inside a tool call handled by the host, else [`GumstackError::NoAuthContext`]. In
/// local mode there is no platform to refresh the token: it fails with
/// [`GumstackError::Misconfigured`] naming the `LOCAL_…ACCESS_TOKEN` variable to renew.
pub async fn report_invalid_token(
    provider: Option<&str>,
    access_token: &str,
) -> Result<(), GumstackError> {
    let scope = current_scope("report_invalid_token()")?;
    let host = scope.host();
    if !matches!(host.config.auth.kind, AuthType::Oauth) {
        return Err(GumstackError::misconfigured(format!(
            "report_invalid_token() is for servers with auth type `oauth`; this server's auth \
             type is `{}`",
            host.config.auth.kind.as_str()
        )));
    }
    let name = provider_meant(
        host,
        provider,
        "name the provider whose token was rejected in report_invalid_token(Some(provider), …)",
    )?;
    match host.env.mode() {
        Mode::Local => Err(GumstackError::misconfigured(format!(
            "the provider `{name}` rejected the access token from {}: local mode has no \
             platform to refresh it, set a fresh one",
            local_token_var(host, name)
        ))),
        Mode::Production => {
            let (platform, identity) = platform_and_identity(&scope)?;
            let access_token = SecretString::from(access_token);
            platform
                .report_invalid_token(identity, provider, &access_token)
                .await
        }
    }
}

/// The provider a call means: `named`, which config.yaml must declare, or the server's one
/// provider; with several and none named, the error says `how` to name one.
fn provider_meant<'a>(
    host: &'a HostState,
    named: Option<&'a str>,
    how: &str,
) -> Result<&'a str, GumstackError> {
    match (named, host.config.auth.providers.as_slice()) {
        (Some(provider), _) => {
            check_declared(host, provider)?;
            Ok(provider)
        }
        (None, [provider]) => Ok(provider.as_str()),
        (None, providers) => Err(GumstackError::misconfigured(format!(
            "this server has several OAuth providers ({}): {how}",
            providers.join(", ")
        ))),
    }
}

/// `provider` is one of config.yaml's `auth.provider`.
fn check_declared(host: &HostState, provider: &str) -> Result<(), GumstackError> {
    if host.config.auth.providers.iter().any(|p| p == provider) {
        return Ok(());
    }
    Err(GumstackError::misconfigured(format!(
        "provider `{provider}` is not declared in config.yaml (auth.provider: {})",
        host.config.auth.providers.join(", ")
    )))
}

/// At start-up: what will make every credential call fail, so the developer reads about it in
/// the log before a user hits it: a required credential of a `none` server that is not set,
/// or the missing server token of a production `cred`/`oauth` server.
pub(crate) fn check_at_start(host: &HostState) -> Result<(), GumstackError> {
    match host.config.auth.kind {
        AuthType::None => declared_from_env(host).map(drop),
        AuthType::Oauth | AuthType::Cred
            if host.env.mode() == Mode::Production && host.env.server_token().is_none() =>
        {
            Err(GumstackError::misconfigured(format!(
                "GUMSTACK_SERVER_TOKEN is not set: the users' credentials of this `{}` server \
                 cannot be fetched from the platform",
                host.config.auth.kind.as_str()
            )))
        }
        AuthType::Oauth | AuthType::Cred => Ok(()),
    }
}

fn current_scope(function: &str) -> Result<RequestScope, GumstackError> {
    RequestScope::current().ok_or_else(|| {
        GumstackError::no_auth_context(format!(
            "no authentication context: {function} was called outside a tool call handled by \
             GumstackHost"
        ))
    })
}

/// Every `credentials` entry of config.yaml from its environment variable.
fn declared_from_env(host: &HostState) -> Result<Credentials, GumstackError> {
    let mut credentials = Credentials {
        values: BTreeMap::new(),
        unset: BTreeMap::new(),
        account: None,
    };
    for field in &host.config.auth.credentials {
        let variable = match host.env.mode() {
            Mode::Production => field.env_var_name(),
            Mode::Local => format!("LOCAL_{}", field.env_var_name()),
        };
        match env_value(host, &variable) {
            Some(value) => {
                credentials.values.insert(field.name.clone(), value);
            }
            None if field.required => {
                return Err(GumstackError::misconfigured(format!(
                    "the required credential `{}` is not set: {}",
                    field.name,
                    how_to_set(host.env.mode(), &variable)
                )));
            }
            None => {
                credentials
                    .unset
                    .insert(field.name.clone(), how_to_set(host.env.mode(), &variable));
            }
        }
    }
    Ok(credentials)
}

/// Production `cred` and `oauth`: the calling user's credentials, from the platform
/// (`provider` names the OAuth provider for servers with several, `account` one of the user's
/// accounts there, `scopes` the provider scopes the tool needs).
async fn from_platform(
    scope: &RequestScope,
    provider: Option<&str>,
    account: Option<&str>,
    scopes: &[&str],
) -> Result<Credentials, GumstackError> {
    let host = scope.host();
    let (platform, identity) = platform_and_identity(scope)?;
    let Fetched { values, account } = platform
        .credentials(identity, provider, account, scopes)
        .await?;
    let expected: Vec<&str> = match host.config.auth.kind {
        AuthType::Oauth => vec!["access_token"],
        _ => host
            .config
            .auth
            .credentials
            .iter()
            .map(|field| field.name.as_str())
            .collect(),
    };
    let unset = expected
        .into_iter()
        .filter(|name| !values.contains_key(*name))
        .map(|name| {
            let how = "the platform's answer has no value for it (the user left it empty)";
            (name.to_owned(), how.to_owned())
        })
        .collect();
    Ok(Credentials {
        values,
        unset,
        account,
    })
}

/// Production: the client of the platform, and what the call being served presented.
fn platform_and_identity(
    scope: &RequestScope,
) -> Result<(&PlatformApi, &Presented), GumstackError> {
    let platform = scope.host().platform.as_ref().ok_or_else(|| {
        GumstackError::misconfigured("this host has no client of the Gumstack platform")
    })?;
    if scope.caller().is_some_and(GumstackContext::is_platform) {
        return Err(GumstackError::no_auth_context(NO_USER));
    }
    let identity = scope.presented().ok_or_else(|| {
        GumstackError::no_auth_context(
            "no authentication context: this request carries no platform identity to fetch the \
             caller's credentials with",
        )
    })?;
    Ok((platform, identity))
}

/// Local `oauth`: the variable holding the access token for `provider`:
/// `LOCAL_ACCESS_TOKEN` (one provider) or `LOCAL_<PROVIDER>_ACCESS_TOKEN`.
fn local_token_var(host: &HostState, provider: &str) -> String {
    if host.config.auth.providers.len() == 1 {
        "LOCAL_ACCESS_TOKEN".to_owned()
    } else {
        format!("LOCAL_{}_ACCESS_TOKEN", env_name_part(provider))
    }
}

/// Local `oauth`: the access token for `provider` from its variable ([`local_token_var`]).
fn local_oauth_token(host: &HostState, provider: &str) -> Result<Credentials, GumstackError> {
    let variable = local_token_var(host, provider);
    let value = env_value(host, &variable).ok_or_else(|| {
        GumstackError::misconfigured(format!(
            "no access token for provider `{provider}` in local mode: {}",
            how_to_set(Mode::Local, &variable)
        ))
    })?;
    Ok(Credentials {
        values: BTreeMap::from([("access_token".to_owned(), value)]),
        unset: BTreeMap::new(),
        account: None,
    })
}

fn env_value(host: &HostState, variable: &str) -> Option<SecretString> {
    host.env
        .var(variable)
        .filter(|value| !value.expose_secret().is_empty())
        .map(|value| SecretString::from(value.expose_secret()))
}

fn how_to_set(mode: Mode, variable: &str) -> String {
    match mode {
        Mode::Production => format!(
            "set the environment variable {variable} for this server on the Gumstack platform, \
             then redeploy"
        ),
        Mode::Local => format!("set the environment variable {variable} (local mode)"),
    }
}

/// `my-provider` → `MY_PROVIDER`.
fn env_name_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}
