//! The provider routes (§4): `POST /gumstack/providers/<provider>/<operation>`, one typed
//! request and reply per [`Operation`], the [`TokenResponse`] and the [`FailureBody`] a
//! server answers when an operation fails.
//!
//! Tokens, codes, verifiers and `state` are [`SecretString`]s: written on the wire by these
//! types' `Serialize` (that is what the routes carry), never shown by `Debug`.

use std::fmt;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::secret::{REDACTED, expose, expose_option, null_as_default};

/// The largest request body a server accepts on a provider route.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The route of a provider operation, below the server's root.
pub fn route(provider: &str, operation: Operation) -> String {
    format!("/gumstack/providers/{provider}/{}", operation.as_str())
}

/// The provider operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    AuthorizationUrl,
    Exchange,
    Refresh,
    Nickname,
    Revoke,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Self; 5] = [
        Self::AuthorizationUrl,
        Self::Exchange,
        Self::Refresh,
        Self::Nickname,
        Self::Revoke,
    ];

    /// The operation's name in the route.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationUrl => "authorization-url",
            Self::Exchange => "exchange",
            Self::Refresh => "refresh",
            Self::Nickname => "nickname",
            Self::Revoke => "revoke",
        }
    }

    /// The operation named `name` in a route.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str() == name)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `authorization-url`: build the provider's authorization URL.
#[derive(Clone, Serialize, Deserialize)]
pub struct AuthorizationUrlRequest {
    pub redirect_uri: String,
    #[serde(serialize_with = "expose")]
    pub state: SecretString,
    /// The PKCE verifier (RFC 7636, 43 characters) the platform keeps for this flow.
    #[serde(serialize_with = "expose")]
    pub code_verifier: SecretString,
    /// Scopes to ask for in addition to the provider's own (a tool needs them); absent when
    /// none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

/// The reply of `authorization-url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationUrlReply {
    pub url: String,
}

/// `exchange`: trade an authorization code for tokens.
#[derive(Clone, Serialize, Deserialize)]
pub struct ExchangeRequest {
    #[serde(serialize_with = "expose")]
    pub code: SecretString,
    pub redirect_uri: String,
    #[serde(serialize_with = "expose")]
    pub code_verifier: SecretString,
}

/// `refresh`: new tokens for a refresh token.
#[derive(Clone, Serialize, Deserialize)]
pub struct RefreshRequest {
    #[serde(serialize_with = "expose")]
    pub refresh_token: SecretString,
}

/// `nickname`: the account's name at the provider.
#[derive(Clone, Serialize, Deserialize)]
pub struct NicknameRequest {
    #[serde(serialize_with = "expose")]
    pub access_token: SecretString,
}

/// The reply of `nickname`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicknameReply {
    pub nickname: String,
    /// The account's stable id at the provider (OpenID `sub`), when it has one: the platform
    /// tells a user's accounts apart by it (a renamed account stays the same account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// `revoke`: the user disconnected; end the grant.
#[derive(Clone, Serialize, Deserialize)]
pub struct RevokeRequest {
    #[serde(serialize_with = "expose")]
    pub access_token: SecretString,
    /// Sent as `null` when there is none.
    #[serde(default, serialize_with = "expose_option")]
    pub refresh_token: Option<SecretString>,
}

/// The reply of `revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeReply {
    pub revoked: bool,
}

macro_rules! redacted_debug {
    ($($name:ident { $($field:ident),* }),* $(,)?) => {$(
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    $(.field(stringify!($field), &self.$field))*
                    .finish_non_exhaustive()
            }
        }
    )*};
}

redacted_debug! {
    AuthorizationUrlRequest { redirect_uri, scopes },
    ExchangeRequest { redirect_uri },
    RefreshRequest {},
    NicknameRequest {},
    RevokeRequest {},
}

/// Tokens from the provider: the reply of `exchange` and `refresh`.
///
/// `{"access_token", "refresh_token" (or null), "expires_in" (seconds or null), "token_type",
/// "scope" (or null)}`; serialising it exposes the tokens (that is what the provider routes
/// answer), `Debug` never does.
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    #[serde(serialize_with = "expose")]
    pub access_token: SecretString,
    /// `None` when the provider issued none (or, on refresh, kept the old one).
    #[serde(default, serialize_with = "expose_option")]
    pub refresh_token: Option<SecretString>,
    /// Lifetime of the access token in seconds; `None` when the provider did not say (the
    /// token is then refreshed when a tool reports it rejected, docs/PROTOCOL.md §3.1).
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// `Bearer` unless the provider says otherwise (missing or `null` reads as `Bearer`).
    #[serde(default = "bearer", deserialize_with = "bearer_if_null")]
    pub token_type: String,
    #[serde(default)]
    pub scope: Option<String>,
}

impl TokenResponse {
    /// A `Bearer` access token, with nothing else known.
    pub fn bearer(access_token: impl Into<String>) -> Self {
        Self {
            access_token: SecretString::from(access_token.into()),
            refresh_token: None,
            expires_in: None,
            token_type: bearer(),
            scope: None,
        }
    }

    pub fn with_refresh_token(mut self, refresh_token: impl Into<String>) -> Self {
        self.refresh_token = Some(SecretString::from(refresh_token.into()));
        self
    }

    pub fn with_expires_in(mut self, seconds: u64) -> Self {
        self.expires_in = Some(seconds);
        self
    }

    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &REDACTED)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| REDACTED),
            )
            .field("expires_in", &self.expires_in)
            .field("token_type", &self.token_type)
            .field("scope", &self.scope)
            .finish()
    }
}

fn bearer() -> String {
    "Bearer".to_owned()
}

fn bearer_if_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_else(bearer))
}

/// A request to any operation.
#[derive(Debug, Clone)]
pub enum ProviderRequest {
    AuthorizationUrl(AuthorizationUrlRequest),
    Exchange(ExchangeRequest),
    Refresh(RefreshRequest),
    Nickname(NicknameRequest),
    Revoke(RevokeRequest),
}

impl ProviderRequest {
    /// The operation it is a request of.
    pub fn operation(&self) -> Operation {
        match self {
            Self::AuthorizationUrl(_) => Operation::AuthorizationUrl,
            Self::Exchange(_) => Operation::Exchange,
            Self::Refresh(_) => Operation::Refresh,
            Self::Nickname(_) => Operation::Nickname,
            Self::Revoke(_) => Operation::Revoke,
        }
    }

    /// The JSON body (it carries secrets: send it, never log it).
    pub fn to_body(&self) -> Vec<u8> {
        let body = match self {
            Self::AuthorizationUrl(r) => serde_json::to_vec(r),
            Self::Exchange(r) => serde_json::to_vec(r),
            Self::Refresh(r) => serde_json::to_vec(r),
            Self::Nickname(r) => serde_json::to_vec(r),
            Self::Revoke(r) => serde_json::to_vec(r),
        };
        body.expect("requests serialise to JSON")
    }

    /// The request of `operation` in `body`.
    pub fn parse(operation: Operation, body: &[u8]) -> Result<Self, serde_json::Error> {
        Ok(match operation {
            Operation::AuthorizationUrl => Self::AuthorizationUrl(serde_json::from_slice(body)?),
            Operation::Exchange => Self::Exchange(serde_json::from_slice(body)?),
            Operation::Refresh => Self::Refresh(serde_json::from_slice(body)?),
            Operation::Nickname => Self::Nickname(serde_json::from_slice(body)?),
            Operation::Revoke => Self::Revoke(serde_json::from_slice(body)?),
        })
    }
}

/// A successful reply of any operation.
#[derive(Debug, Clone)]
pub enum ProviderReply {
    AuthorizationUrl(AuthorizationUrlReply),
    /// `exchange` and `refresh`.
    Tokens(TokenResponse),
    Nickname(NicknameReply),
    Revoke(RevokeReply),
}

impl ProviderReply {
    /// The JSON body (a token response carries secrets: send it, never log it).
    pub fn to_body(&self) -> Vec<u8> {
        let body = match self {
            Self::AuthorizationUrl(r) => serde_json::to_vec(r),
            Self::Tokens(r) => serde_json::to_vec(r),
            Self::Nickname(r) => serde_json::to_vec(r),
            Self::Revoke(r) => serde_json::to_vec(r),
        };
        body.expect("replies serialise to JSON")
    }

    /// The reply of `operation` in `body`.
    pub fn parse(operation: Operation, body: &[u8]) -> Result<Self, serde_json::Error> {
        Ok(match operation {
            Operation::AuthorizationUrl => Self::AuthorizationUrl(serde_json::from_slice(body)?),
            Operation::Exchange | Operation::Refresh => Self::Tokens(serde_json::from_slice(body)?),
            Operation::Nickname => Self::Nickname(serde_json::from_slice(body)?),
            Operation::Revoke => Self::Revoke(serde_json::from_slice(body)?),
        })
    }

    /// The operation kind of this reply, for messages.
    fn kind(&self) -> &'static str {
        match self {
            Self::AuthorizationUrl(_) => "authorization-url",
            Self::Tokens(_) => "token",
            Self::Nickname(_) => "nickname",
            Self::Revoke(_) => "revoke",
        }
    }

    /// The tokens of an `exchange` or `refresh` reply.
    pub fn into_tokens(self) -> Result<TokenResponse, UnexpectedReply> {
        match self {
            Self::Tokens(tokens) => Ok(tokens),
            other => Err(UnexpectedReply(other.kind())),
        }
    }

    /// The URL of an `authorization-url` reply.
    pub fn into_url(self) -> Result<String, UnexpectedReply> {
        match self {
            Self::AuthorizationUrl(reply) => Ok(reply.url),
            other => Err(UnexpectedReply(other.kind())),
        }
    }

    /// The name of a `nickname` reply.
    pub fn into_nickname(self) -> Result<NicknameReply, UnexpectedReply> {
        match self {
            Self::Nickname(reply) => Ok(reply),
            other => Err(UnexpectedReply(other.kind())),
        }
    }

    /// The answer of a `revoke` reply.
    pub fn into_revoked(self) -> Result<bool, UnexpectedReply> {
        match self {
            Self::Revoke(reply) => Ok(reply.revoked),
            other => Err(UnexpectedReply(other.kind())),
        }
    }
}

/// A reply of another operation than the one asked (a bug of whoever built it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnexpectedReply(&'static str);

impl fmt::Display for UnexpectedReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an unexpected {} reply", self.0)
    }
}

impl std::error::Error for UnexpectedReply {}

/// `{"error": {"kind": …, …}}`: how a server answers an operation that failed (502), or a
/// call it cannot serve (400, 404, 413).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureBody {
    pub error: Failure,
}

/// Why an operation failed, by `kind`; the platform acts on the kind. Messages and
/// descriptions are for people and never contain a token. Fields a server leaves out read as
/// empty, so a terse server is still understood.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// The provider said no, with an OAuth error `code` and its HTTP `status`.
    Provider {
        #[serde(default = "unknown_error", deserialize_with = "unknown_error_if_null")]
        code: String,
        #[serde(default)]
        description: Option<String>,
        #[serde(default)]
        status: Option<u16>,
        #[serde(default, deserialize_with = "null_as_default")]
        message: String,
    },
    /// The provider could not be reached, timed out, rate-limited (429) or failed (5xx);
    /// `retry_after` in whole seconds.
    Transport {
        #[serde(default)]
        status: Option<u16>,
        #[serde(default)]
        retry_after: Option<u64>,
        #[serde(default, deserialize_with = "null_as_default")]
        message: String,
    },
    /// The provider's reply could not be understood.
    InvalidResponse {
        #[serde(default, deserialize_with = "null_as_default")]
        message: String,
    },
    /// The provider's settings are missing: the env vars to set.
    NotConfigured {
        #[serde(default, deserialize_with = "null_as_default")]
        message: String,
        #[serde(default, deserialize_with = "null_as_default")]
        missing_env: Vec<String>,
    },
    /// No provider of that name (404).
    UnknownProvider {
        #[serde(default, deserialize_with = "null_as_default")]
        message: String,
    },
    /// No operation of that name (404).
    UnknownOperation {
        #[serde(default, deserialize_with = "null_as_default")]
        message: String,
    },
    /// The body is not the operation's request (400, 413).
    InvalidRequest {
        #[serde(default, deserialize_with = "null_as_default")]
        message: String,
    },
}

fn unknown_error() -> String {
    "unknown_error".to_owned()
}

fn unknown_error_if_null<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_else(unknown_error))
}

impl Failure {
    /// The `kind` on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Provider { .. } => "provider",
            Self::Transport { .. } => "transport",
            Self::InvalidResponse { .. } => "invalid_response",
            Self::NotConfigured { .. } => "not_configured",
            Self::UnknownProvider { .. } => "unknown_provider",
            Self::UnknownOperation { .. } => "unknown_operation",
            Self::InvalidRequest { .. } => "invalid_request",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_round_trip_through_their_names() {
        for op in Operation::ALL {
            assert_eq!(Operation::parse(op.as_str()), Some(op));
        }
        assert_eq!(Operation::parse("Refresh"), None);
        assert_eq!(
            route("github", Operation::Exchange),
            "/gumstack/providers/github/exchange"
        );
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let request = ProviderRequest::Revoke(RevokeRequest {
            access_token: "at-secret".into(),
            refresh_token: Some("rt-secret".into()),
        });
        let tokens = TokenResponse::bearer("at-secret").with_refresh_token("rt-secret");
        for text in [format!("{request:?}"), format!("{tokens:?}")] {
            assert!(!text.contains("secret"), "{text}");
        }
    }

    #[test]
    fn a_terse_failure_is_still_understood() {
        let body: FailureBody = serde_json::from_str(r#"{"error": {"kind": "provider"}}"#).unwrap();
        assert_eq!(
            body.error,
            Failure::Provider {
                code: "unknown_error".into(),
                description: None,
                status: None,
                message: String::new()
            }
        );
        assert!(serde_json::from_str::<FailureBody>(r#"{"error": {"kind": "other"}}"#).is_err());
    }

    #[test]
    fn token_type_null_reads_as_bearer() {
        let tokens: TokenResponse =
            serde_json::from_str(r#"{"access_token": "a", "token_type": null}"#).unwrap();
        assert_eq!(tokens.token_type, "Bearer");
    }
}
