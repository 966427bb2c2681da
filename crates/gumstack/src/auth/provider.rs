//! The provider contract: [`AuthProvider`], what it returns ([`TokenResponse`]) and how it fails
//! ([`ProviderError`]).

use std::{sync::Arc, time::Duration};

/// The provider-specific half of an OAuth 2.0 integration, for servers with auth type `oauth`.
///
/// The platform runs the connect flow and keeps the users' tokens; it asks the server's
/// provider (through the routes of docs/PROTOCOL.md §4) for the authorization URL, to exchange
/// a code, to refresh a token, for a nickname of the connected account and to revoke a token.
/// Register one with [`GumstackHost::register_auth`](crate::GumstackHost::register_auth); most
/// servers use the ready [`StandardOAuthProvider`](crate::auth::StandardOAuthProvider).
///
/// Errors say what the platform should do: [`ProviderError::Rejected`] (the provider said no),
/// [`ProviderError::Transport`] (try again later), [`ProviderError::InvalidResponse`] and
/// [`ProviderError::NotConfigured`] (the developer must fix the integration). Neither errors nor
/// logs may contain a token.
///
/// PKCE (RFC 7636) is a backward-compatible extension: the platform creates a verifier for each
/// flow and the host always calls [`get_url_with_pkce`](Self::get_url_with_pkce) and
/// [`exchange_with_pkce`](Self::exchange_with_pkce), whose defaults ignore it and call
/// [`get_url`](Self::get_url) and [`exchange`](Self::exchange). A provider that uses PKCE
/// overrides both.
#[async_trait::async_trait]
pub trait AuthProvider: Send + Sync + 'static {
    /// The provider's name: one of config.yaml's `auth.providers`, unique per server (it is used
    /// in routes and in the platform's storage).
    fn name(&self) -> &str;

    /// The URL to send the user's browser to, carrying `redirect_uri` (the platform's
    /// `{public_url}/auth/callback`) and `state` exactly once each.
    fn get_url(&self, redirect_uri: &str, state: &str) -> String;

    /// Exchanges the authorization `code` the provider sent to `redirect_uri` for tokens.
    async fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<TokenResponse, ProviderError>;

    /// New tokens for `refresh_token`. A response without a refresh token keeps the old one.
    async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse, ProviderError>;

    /// A name for the connected account, shown to the user (an email, a login…).
    async fn get_nickname(&self, access_token: &str) -> Result<String, ProviderError>;

    /// The connected account's name ([`get_nickname`](Self::get_nickname)) and, when the
    /// provider has one, its stable id (OpenID `sub`, a user id): the platform tells a user's
    /// accounts of the provider apart by it, so an account whose name changed is still the
    /// same account. The default has no id (accounts are told apart by name).
    async fn get_account(&self, access_token: &str) -> Result<AccountName, ProviderError> {
        Ok(AccountName {
            nickname: self.get_nickname(access_token).await?,
            subject: None,
        })
    }

    /// Revokes `access_token` at the provider when the user disconnects; whether it was. The
    /// default does nothing and returns `Ok(true)`.
    async fn revoke(&self, access_token: &str) -> Result<bool, ProviderError> {
        let _ = access_token;
        Ok(true)
    }

    /// Revokes the connection's grant when the user disconnects: the platform gives the access
    /// token and, when it holds one, the refresh token (revoking a refresh token ends the whole
    /// grant at most providers, RFC 7009 §2.1). The default calls [`revoke`](Self::revoke) with
    /// the access token.
    async fn revoke_grant(
        &self,
        access_token: &str,
        refresh_token: Option<&str>,
    ) -> Result<bool, ProviderError> {
        let _ = refresh_token;
        self.revoke(access_token).await
    }

    /// [`get_url`](Self::get_url) with the flow's PKCE `code_verifier`; a provider that uses
    /// PKCE puts `code_challenge = BASE64URL(SHA256(code_verifier))` and
    /// `code_challenge_method=S256` in the URL. It may fail, for example when the provider's
    /// settings are missing. The default ignores the verifier.
    fn get_url_with_pkce(
        &self,
        redirect_uri: &str,
        state: &str,
        code_verifier: &str,
    ) -> Result<String, ProviderError> {
        let _ = code_verifier;
        Ok(self.get_url(redirect_uri, state))
    }

    /// The authorization `url` ([`get_url_with_pkce`](Self::get_url_with_pkce)) asking for
    /// `scopes` as well: a tool needs them and the user's connection lacks them
    /// (docs/PROTOCOL.md §3, §4). The default adds them to the URL's `scope` parameter
    /// (space-separated, as RFC 6749 §3.3), which fits providers that take their scopes there;
    /// override it for a provider that takes them elsewhere.
    fn add_scopes(&self, url: String, scopes: &[String]) -> Result<String, ProviderError> {
        with_scopes(&url, scopes)
    }

    /// [`exchange`](Self::exchange) with the flow's PKCE `code_verifier`, which a provider that
    /// uses PKCE sends with the code. The default ignores the verifier.
    async fn exchange_with_pkce(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<TokenResponse, ProviderError> {
        let _ = code_verifier;
        self.exchange(code, redirect_uri).await
    }
}

/// A shared provider is a provider, so the server's tools can use the one they register (for
/// example to call the provider's API with its settings).
#[async_trait::async_trait]
impl<P: AuthProvider + ?Sized> AuthProvider for Arc<P> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn get_url(&self, redirect_uri: &str, state: &str) -> String {
        (**self).get_url(redirect_uri, state)
    }

    async fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<TokenResponse, ProviderError> {
        (**self).exchange(code, redirect_uri).await
    }

    async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse, ProviderError> {
        (**self).refresh(refresh_token).await
    }

    async fn get_nickname(&self, access_token: &str) -> Result<String, ProviderError> {
        (**self).get_nickname(access_token).await
    }

    async fn get_account(&self, access_token: &str) -> Result<AccountName, ProviderError> {
        (**self).get_account(access_token).await
    }

    async fn revoke(&self, access_token: &str) -> Result<bool, ProviderError> {
        (**self).revoke(access_token).await
    }

    async fn revoke_grant(
        &self,
        access_token: &str,
        refresh_token: Option<&str>,
    ) -> Result<bool, ProviderError> {
        (**self).revoke_grant(access_token, refresh_token).await
    }

    fn get_url_with_pkce(
        &self,
        redirect_uri: &str,
        state: &str,
        code_verifier: &str,
    ) -> Result<String, ProviderError> {
        (**self).get_url_with_pkce(redirect_uri, state, code_verifier)
    }

    fn add_scopes(&self, url: String, scopes: &[String]) -> Result<String, ProviderError> {
        (**self).add_scopes(url, scopes)
    }

    async fn exchange_with_pkce(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<TokenResponse, ProviderError> {
        (**self)
            .exchange_with_pkce(code, redirect_uri, code_verifier)
            .await
    }
}

/// Tokens from the provider, as the platform stores them: the token response of
/// docs/PROTOCOL.md §4, defined with the rest of the contract in `gumstack-protocol`.
/// Serialising it exposes the tokens (that is what the provider routes answer), `Debug` never
/// does.
pub use gumstack_protocol::provider::TokenResponse;

/// A connected account as the provider names it ([`AuthProvider::get_account`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountName {
    /// Shown to the user.
    pub nickname: String,
    /// The account's stable id at the provider, if it has one.
    pub subject: Option<String>,
}

/// `url` with `scopes` added to its `scope` query parameter (one parameter, space-separated,
/// the URL's own scopes first); every other parameter is kept as it was.
pub fn with_scopes(url: &str, scopes: &[String]) -> Result<String, ProviderError> {
    let mut parsed = url::Url::parse(url).map_err(|error| {
        ProviderError::invalid_response(format!("the authorization URL is not a URL: {error}"))
    })?;
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let own: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| gumstack_protocol::scopes::split(v))
        .collect();
    let all = gumstack_protocol::scopes::union(&own, scopes);
    {
        let mut query = parsed.query_pairs_mut();
        query.clear();
        for (k, v) in pairs.iter().filter(|(k, _)| k != "scope") {
            query.append_pair(k, v);
        }
        query.append_pair("scope", &all.join(" "));
    }
    Ok(parsed.into())
}

/// Why a provider operation failed, as the platform acts on it (the `kind`s of
/// docs/PROTOCOL.md §4). Messages and descriptions are for people; they never contain a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The provider said no (`kind` `provider`): an OAuth error `code` such as
    /// `invalid_grant` (the user must re-authorize) or `invalid_client` (the developer must
    /// fix the client), with the provider's HTTP `status`.
    #[error("the provider refused the request: {code}{} (HTTP {status})", describe(.description.as_deref()))]
    Rejected {
        /// The OAuth `error` code of the provider's reply (`invalid_grant`, …).
        code: String,
        /// The provider's `error_description`, if it sent one.
        description: Option<String>,
        /// The HTTP status of the provider's reply.
        status: u16,
    },
    /// The provider could not be reached, timed out, rate-limited (429) or failed (5xx)
    /// (`kind` `transport`): transient, try again later (after `retry_after` when it said).
    #[error("{message}")]
    Transport {
        /// The provider's HTTP status; `None` when no answer arrived.
        status: Option<u16>,
        /// How long the provider asked to wait (`Retry-After`); `None` when it did not say.
        retry_after: Option<Duration>,
        /// What failed, for the log and the platform's error page.
        message: String,
    },
    /// The provider's reply could not be understood (`kind` `invalid_response`): the
    /// developer must fix the integration.
    #[error("{message}")]
    InvalidResponse {
        /// What in the reply was wrong, for the developer.
        message: String,
    },
    /// The provider's settings are missing or invalid (`kind` `not_configured`): set
    /// `missing_env` (environment variable names) and redeploy.
    #[error("{message}")]
    NotConfigured {
        /// What is missing or invalid, for the developer.
        message: String,
        /// The environment variables to set (or fix); the platform shows them on the connect
        /// page.
        missing_env: Vec<String>,
    },
}

impl ProviderError {
    /// The provider said no with OAuth error `code`.
    pub fn rejected(code: impl Into<String>, description: Option<String>, status: u16) -> Self {
        Self::Rejected {
            code: code.into(),
            description,
            status,
        }
    }

    /// A transport failure without an answer from the provider.
    pub fn transport(message: impl Into<String>) -> Self {
        Self::Transport {
            status: None,
            retry_after: None,
            message: message.into(),
        }
    }

    /// The provider answered, but with something that is not the reply the protocol
    /// promises (not JSON, no `access_token`, …).
    pub fn invalid_response(message: impl Into<String>) -> Self {
        Self::InvalidResponse {
            message: message.into(),
        }
    }

    /// The provider cannot run until the developer sets the variables `missing_env` (and
    /// redeploys).
    pub fn not_configured(message: impl Into<String>, missing_env: Vec<String>) -> Self {
        Self::NotConfigured {
            message: message.into(),
            missing_env,
        }
    }

    /// The `kind` of the error in docs/PROTOCOL.md §4: `provider`, `transport`,
    /// `invalid_response` or `not_configured`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Rejected { .. } => "provider",
            Self::Transport { .. } => "transport",
            Self::InvalidResponse { .. } => "invalid_response",
            Self::NotConfigured { .. } => "not_configured",
        }
    }
}

fn describe(description: Option<&str>) -> String {
    match description {
        Some(description) if !description.is_empty() => format!(" ({description})"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;
    use serde_json::json;

    use super::*;

    #[test]
    fn a_token_response_is_the_json_of_the_protocol() {
        let tokens = TokenResponse::bearer("at-1")
            .with_refresh_token("rt-1")
            .with_expires_in(3600)
            .with_scope("openid email");
        let json = serde_json::to_value(&tokens).unwrap();
        assert_eq!(
            json,
            json!({
                "access_token": "at-1",
                "refresh_token": "rt-1",
                "expires_in": 3600,
                "token_type": "Bearer",
                "scope": "openid email",
            })
        );
        let back: TokenResponse = serde_json::from_value(json).unwrap();
        assert_eq!(back.access_token.expose_secret(), "at-1");
        assert_eq!(back.refresh_token.unwrap().expose_secret(), "rt-1");

        let minimal = serde_json::to_value(TokenResponse::bearer("at-2")).unwrap();
        assert_eq!(
            minimal,
            json!({
                "access_token": "at-2",
                "refresh_token": null,
                "expires_in": null,
                "token_type": "Bearer",
                "scope": null,
            })
        );
        let parsed: TokenResponse = serde_json::from_value(json!({ "access_token": "x" })).unwrap();
        assert_eq!(parsed.token_type, "Bearer");
    }

    #[test]
    fn debug_output_hides_the_tokens() {
        let tokens = TokenResponse::bearer("at-secret").with_refresh_token("rt-secret");
        let debug = format!("{tokens:?}");
        assert!(!debug.contains("at-secret"), "{debug}");
        assert!(!debug.contains("rt-secret"), "{debug}");
    }

    #[test]
    fn a_rejection_says_the_code_and_status() {
        let error = ProviderError::rejected("invalid_grant", Some("expired".to_owned()), 400);
        assert_eq!(
            error.to_string(),
            "the provider refused the request: invalid_grant (expired) (HTTP 400)"
        );
        assert_eq!(error.kind(), "provider");
    }

    #[test]
    fn scopes_are_added_to_the_one_scope_parameter_and_the_rest_is_kept() {
        let url = "https://idp.example/authorize?client_id=c&scope=openid%20email&state=s%26t&redirect_uri=https%3A%2F%2Fp%2Fcb";
        let more = ["profile".to_owned(), "email".to_owned()];
        let out = url::Url::parse(&with_scopes(url, &more).unwrap()).unwrap();
        let pairs: Vec<(String, String)> = out
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("client_id", "c"),
                ("state", "s&t"),
                ("redirect_uri", "https://p/cb"),
                ("scope", "openid email profile"),
            ]
        );
        // A URL without scopes gets the parameter.
        let bare = with_scopes("https://idp.example/a?state=x", &more).unwrap();
        assert_eq!(bare, "https://idp.example/a?state=x&scope=profile+email");
        assert!(with_scopes("not a url", &more).is_err());
    }
}
