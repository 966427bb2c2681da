//! [`StandardOAuthProvider`]: a ready [`AuthProvider`] for providers that follow OAuth 2.0
//! (RFC 6749) with a userinfo endpoint, configured by a few values in code and environment
//! variables.
//!
//! - `calls.rs`: each call to the provider's endpoints (client authentication, timeout).
//! - `settings.rs`: the settings of each call, from code and `{PREFIX}_…` variables.
//! - `reply.rs`: what each answer of the provider means ([`ProviderError`]).

mod calls;
mod reply;
mod settings;

use std::{collections::BTreeMap, fmt, sync::Arc, sync::OnceLock, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use self::settings::{Defaults, Settings, VarNames, Vars, split_scopes};
use super::{AccountName, AuthProvider, ProviderError, TokenResponse};

/// How long one call to the provider may take, answer included, unless set with
/// [`StandardOAuthProvider::timeout`].
/// The platform and the credentials fetch rely on it (`gumstack_protocol::timeouts`).
pub const DEFAULT_TIMEOUT: Duration = gumstack_protocol::timeouts::SDK_PROVIDER;

/// Parameters of the authorization URL the provider sets itself; extra parameters cannot
/// replace them.
const RESERVED_PARAMS: [&str; 7] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "scope",
    "code_challenge",
    "code_challenge_method",
];

/// How the provider authenticates the server's client at the token and revocation endpoints
/// (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuthMethod {
    /// `Authorization: Basic` with the form-encoded client id and secret (the default).
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A public client: `client_id` in the form body and no secret (use with PKCE).
    None,
}

/// A standard OAuth 2.0 provider: authorization code flow, refresh, a nickname from the
/// userinfo endpoint, and optional RFC 7009 revocation.
///
/// Configure it with the builder methods; each URL and the scopes can also come from an
/// environment variable, which wins when it is set. With prefix `OAUTH`
/// ([`env_prefix`](Self::env_prefix); by default the name upper-cased, `-` as `_`):
///
/// | variable | setting | required |
/// |---|---|---|
/// | `OAUTH_CLIENT_ID` | the client id | yes |
/// | `OAUTH_CLIENT_SECRET` | the client secret | unless [`ClientAuthMethod::None`] |
/// | `OAUTH_AUTHORIZE_URL` | [`authorize_url`](Self::authorize_url) | yes, here or in code |
/// | `OAUTH_TOKEN_URL` | [`token_url`](Self::token_url) | yes, here or in code |
/// | `OAUTH_USERINFO_URL` | [`userinfo_url`](Self::userinfo_url) | yes, here or in code |
/// | `OAUTH_REVOCATION_URL` | [`revocation_url`](Self::revocation_url) | no |
/// | `OAUTH_SCOPES` | [`scopes`](Self::scopes) (space- or comma-separated) | no |
///
/// The variables are read at each call, from the environment of the host serving it, so a
/// server whose settings are missing still starts: every operation then fails with
/// [`ProviderError::NotConfigured`] naming exactly the variables to set, which the platform
/// shows on the connect page. URLs must be `https` (`http` only to a loopback host).
///
/// The developer registers `{public_url}/auth/callback` (the platform's one callback URL) as
/// the redirect URI with the provider.
///
/// Calls to the provider follow no redirect and give up after [`DEFAULT_TIMEOUT`]; their
/// answers are classified as the platform needs them (see [`ProviderError`]): a token endpoint
/// that says `invalid_grant` is [`ProviderError::Rejected`], one that answers 429 or 5xx or
/// not at all is [`ProviderError::Transport`], a reply without an `access_token` is
/// [`ProviderError::InvalidResponse`].
///
/// ```
/// use gumstack::auth::{ClientAuthMethod, StandardOAuthProvider};
///
/// let github = StandardOAuthProvider::new("github")
///     .authorize_url("https://github.com/login/oauth/authorize")
///     .token_url("https://github.com/login/oauth/access_token")
///     .userinfo_url("https://api.github.com/user")
///     .scopes(["read:user", "user:email"])
///     .client_auth(ClientAuthMethod::ClientSecretPost)
///     .nickname_field("login");
/// // Client id and secret: GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET.
/// ```
pub struct StandardOAuthProvider {
    name: String,
    names: VarNames,
    defaults: Defaults,
    client_auth: ClientAuthMethod,
    pkce: bool,
    nickname_field: String,
    authorize_params: Vec<(String, String)>,
    timeout: Duration,
    vars: Vars,
    /// Built at the first call (building it can fail; a provider value cannot).
    http: OnceLock<Result<reqwest::Client, String>>,
}

impl fmt::Debug for StandardOAuthProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StandardOAuthProvider")
            .field("name", &self.name)
            .field("env_prefix", &self.names)
            .field("defaults", &self.defaults)
            .field("client_auth", &self.client_auth)
            .field("pkce", &self.pkce)
            .field("nickname_field", &self.nickname_field)
            .field("timeout", &self.timeout)
            .field("vars", &self.vars)
            .finish_non_exhaustive()
    }
}

impl StandardOAuthProvider {
    /// A provider named `name` (one of config.yaml's `auth.provider`), reading its variables
    /// with the prefix `name` upper-cased (`my-idp` → `MY_IDP_CLIENT_ID`, …), with
    /// `client_secret_basic`, no PKCE, no scopes and the nickname from `email`.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        let prefix: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        Self {
            names: VarNames::new(&prefix),
            name,
            defaults: Defaults::default(),
            client_auth: ClientAuthMethod::default(),
            pkce: false,
            nickname_field: "email".to_owned(),
            authorize_params: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            vars: Vars::Host,
            http: OnceLock::new(),
        }
    }

    /// Reads the variables `{prefix}_CLIENT_ID`, `{prefix}_CLIENT_SECRET`, … (for example
    /// `OAUTH`).
    pub fn env_prefix(mut self, prefix: &str) -> Self {
        self.names = VarNames::new(prefix);
        self
    }

    /// The authorization endpoint (`{prefix}_AUTHORIZE_URL` wins when set).
    pub fn authorize_url(mut self, url: impl Into<String>) -> Self {
        self.defaults.authorize_url = Some(url.into());
        self
    }

    /// The token endpoint (`{prefix}_TOKEN_URL` wins when set).
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.defaults.token_url = Some(url.into());
        self
    }

    /// The endpoint that describes the connected account, called with the access token
    /// (`{prefix}_USERINFO_URL` wins when set).
    pub fn userinfo_url(mut self, url: impl Into<String>) -> Self {
        self.defaults.userinfo_url = Some(url.into());
        self
    }

    /// The RFC 7009 revocation endpoint (`{prefix}_REVOCATION_URL` wins when set). Without
    /// one, [`revoke`](AuthProvider::revoke) revokes nothing and returns `Ok(false)`.
    pub fn revocation_url(mut self, url: impl Into<String>) -> Self {
        self.defaults.revocation_url = Some(url.into());
        self
    }

    /// The scopes to ask for (`{prefix}_SCOPES` wins when set). Each item may itself hold
    /// several scopes separated by spaces or commas.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.defaults.scopes = scopes
            .into_iter()
            .flat_map(|scope| split_scopes(scope.as_ref()))
            .collect();
        self
    }

    /// How the client authenticates at the token and revocation endpoints; the default is
    /// [`ClientAuthMethod::ClientSecretBasic`]. Use what the provider's documentation asks for.
    pub fn client_auth(mut self, method: ClientAuthMethod) -> Self {
        self.client_auth = method;
        self
    }

    /// Uses PKCE (RFC 7636, `S256`) with the verifier the platform creates for each flow.
    pub fn pkce(mut self, enabled: bool) -> Self {
        self.pkce = enabled;
        self
    }

    /// The field of the userinfo answer that names the account (default `email`); `sub` is
    /// used when it is absent.
    pub fn nickname_field(mut self, field: impl Into<String>) -> Self {
        self.nickname_field = field.into();
        self
    }

    /// An extra parameter of the authorization URL (for example `prompt=consent`, which
    /// OpenID providers need to issue a refresh token for `offline_access`). The parameters
    /// the provider sets itself (`response_type`, `client_id`, `redirect_uri`, `state`,
    /// `scope`, `code_challenge`, `code_challenge_method`) are ignored here.
    pub fn authorize_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        if RESERVED_PARAMS.contains(&name.as_str()) {
            tracing::warn!(
                provider = %self.name,
                param = %name,
                "ignoring an authorization URL parameter the provider sets itself"
            );
        } else {
            self.authorize_params.push((name, value.into()));
        }
        self
    }

    /// How long one call to the provider may take, answer included (default
    /// [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Reads the variables from `vars` instead of the host's environment (tests, embedding).
    pub fn env_vars<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars: BTreeMap<String, SecretString> = vars
            .into_iter()
            .map(|(name, value)| (name.into(), SecretString::from(value.into())))
            .collect();
        self.vars = Vars::Fixed(Arc::new(vars));
        self
    }

    /// The name of the variable for `setting` (`CLIENT_ID`, `TOKEN_URL`, …), e.g.
    /// `OAUTH_CLIENT_ID`.
    pub fn env_var(&self, setting: &str) -> String {
        self.names.name(setting)
    }

    /// The userinfo endpoint's JSON object for `access_token` (what
    /// [`get_nickname`](AuthProvider::get_nickname) reads). A tool can call it too: it needs
    /// only the userinfo URL to be configured; a token the provider rejects is
    /// [`ProviderError::Rejected`] with status 401.
    pub async fn userinfo(&self, access_token: &str) -> Result<Map<String, Value>, ProviderError> {
        let url = Settings::userinfo_url(&self.name, &self.names, &self.defaults, &self.vars)?;
        self.fetch_userinfo(url, access_token).await
    }
}

#[async_trait::async_trait]
impl AuthProvider for StandardOAuthProvider {
    fn name(&self) -> &str {
        &self.name
    }

    /// The authorization URL without PKCE. When the settings are missing it is empty (and the
    /// cause is logged): the host calls [`get_url_with_pkce`](AuthProvider::get_url_with_pkce),
    /// which reports it.
    fn get_url(&self, redirect_uri: &str, state: &str) -> String {
        self.authorization_url(redirect_uri, state, None)
            .unwrap_or_else(|error| {
                tracing::error!(provider = %self.name, %error, "no authorization URL");
                String::new()
            })
    }

    fn get_url_with_pkce(
        &self,
        redirect_uri: &str,
        state: &str,
        code_verifier: &str,
    ) -> Result<String, ProviderError> {
        self.authorization_url(redirect_uri, state, Some(code_verifier))
    }

    async fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<TokenResponse, ProviderError> {
        self.exchange_code(code, redirect_uri, None).await
    }

    async fn exchange_with_pkce(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<TokenResponse, ProviderError> {
        self.exchange_code(code, redirect_uri, Some(code_verifier))
            .await
    }

    async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse, ProviderError> {
        let refresh_token = SecretString::from(refresh_token);
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
        ];
        self.token_call(&form, &[&refresh_token]).await
    }

    async fn get_nickname(&self, access_token: &str) -> Result<String, ProviderError> {
        Ok(self.get_account(access_token).await?.nickname)
    }

    /// The userinfo's `nickname_field` (else `sub`) as the name, and its `sub` (else `id`) as
    /// the account's stable id.
    async fn get_account(&self, access_token: &str) -> Result<AccountName, ProviderError> {
        let settings = self.settings()?;
        let userinfo = self
            .fetch_userinfo(settings.userinfo_url, access_token)
            .await?;
        let text = |field: &str| match userinfo.get(field)? {
            Value::String(text) if !text.trim().is_empty() => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        };
        let subject = text("sub").or_else(|| text("id"));
        text(&self.nickname_field)
            .or_else(|| text("sub"))
            .map(|nickname| AccountName { nickname, subject })
            .ok_or_else(|| {
                ProviderError::invalid_response(format!(
                    "the provider's userinfo answer has no `{}` or `sub` to name the account",
                    self.nickname_field
                ))
            })
    }

    /// Revokes the access token at the RFC 7009 revocation endpoint; without one configured,
    /// nothing is revoked (`Ok(false)`).
    async fn revoke(&self, access_token: &str) -> Result<bool, ProviderError> {
        self.revoke_token(access_token, "access_token").await
    }

    /// Revokes the refresh token (which ends the grant at most providers), then the access
    /// token; revoked when either was. An error only when both attempts failed.
    async fn revoke_grant(
        &self,
        access_token: &str,
        refresh_token: Option<&str>,
    ) -> Result<bool, ProviderError> {
        let refresh = match refresh_token {
            Some(token) => Some(self.revoke_token(token, "refresh_token").await),
            None => None,
        };
        let access = self.revoke_token(access_token, "access_token").await;
        match (refresh, access) {
            (Some(Ok(true)), _) | (_, Ok(true)) => Ok(true),
            (Some(Err(error)), Err(_)) | (None, Err(error)) => Err(error),
            _ => Ok(false),
        }
    }
}

/// `code_challenge` for `verifier` (RFC 7636 §4.2, `S256`).
pub use gumstack_protocol::hash::pkce_challenge;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_the_rfc_7636_example() {
        // RFC 7636 Appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_env_prefix_comes_from_the_name() {
        assert_eq!(
            StandardOAuthProvider::new("my-idp").env_var("CLIENT_ID"),
            "MY_IDP_CLIENT_ID"
        );
        assert_eq!(
            StandardOAuthProvider::new("oidc")
                .env_prefix("OAUTH")
                .env_var("TOKEN_URL"),
            "OAUTH_TOKEN_URL"
        );
    }

    #[test]
    fn reserved_parameters_cannot_be_overridden() {
        let provider = StandardOAuthProvider::new("oidc")
            .authorize_param("state", "mine")
            .authorize_param("prompt", "consent");
        assert_eq!(
            provider.authorize_params,
            [("prompt".to_owned(), "consent".to_owned())]
        );
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let provider =
            StandardOAuthProvider::new("oidc").env_vars([("OIDC_CLIENT_SECRET", "s3cret")]);
        let debug = format!("{provider:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("OIDC_CLIENT_SECRET"), "{debug}");
    }
}
