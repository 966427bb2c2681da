//! The credentials routes (§3): a server fetches the calling user's credentials and reports
//! an access token the provider rejected, with `Authorization: Bearer
//! $GUMSTACK_SERVER_TOKEN` and the call's `Gumstack-Identity`.
//!
//! Every answer is `Cache-Control: no-store`; errors are [`ErrorBody`]s whose [`ErrorCode`]
//! says what the server should do.

use std::collections::BTreeMap;
use std::fmt;

use http::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

use crate::secret::{REDACTED, expose};

/// `GET`: the caller's credentials (`?provider=<name>` for one of several OAuth providers).
pub const CREDENTIALS_PATH: &str = "/internal/v1/credentials";
/// `POST`: an access token the provider rejected ([`InvalidTokenReport`]).
pub const INVALID_TOKEN_PATH: &str = "/internal/v1/credentials/invalid";
/// The query parameter naming the provider.
pub const PROVIDER_QUERY: &str = "provider";
/// The query parameter naming one of the user's accounts of an OAuth provider (its nickname
/// or the user's label for it); without it, the default account.
pub const ACCOUNT_QUERY: &str = "account";
/// The query parameter listing the provider scopes the tool needs (space-separated): an
/// account granted fewer must be connected again for them first.
pub const SCOPE_QUERY: &str = "scope";

/// 200 `{"credentials": {"name": "value", …}}`: a `cred` server's saved form values, or an
/// `oauth` server's `{"access_token": …}` with `"account"`, the nickname of the account it is
/// of. A `null` value counts as not set.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct CredentialsReply {
    #[serde(serialize_with = "expose_values")]
    pub credentials: BTreeMap<String, Option<SecretString>>,
    /// `oauth`: the account's nickname at the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

impl CredentialsReply {
    /// The reply carrying `values`.
    pub fn new(values: impl IntoIterator<Item = (String, SecretString)>) -> Self {
        Self {
            credentials: values.into_iter().map(|(k, v)| (k, Some(v))).collect(),
            account: None,
        }
    }

    /// The reply of an `oauth` server: the access token of `account`.
    pub fn access_token(token: SecretString, account: String) -> Self {
        Self {
            account: Some(account),
            ..Self::new([("access_token".to_owned(), token)])
        }
    }
}

impl fmt::Debug for CredentialsReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialsReply")
            .field(
                "credentials",
                &self
                    .credentials
                    .iter()
                    .map(|(k, v)| (k, v.as_ref().map(|_| REDACTED)))
                    .collect::<BTreeMap<_, _>>(),
            )
            .field("account", &self.account)
            .finish()
    }
}

fn expose_values<S: Serializer>(
    values: &BTreeMap<String, Option<SecretString>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(
        values
            .iter()
            .map(|(name, value)| (name, value.as_ref().map(|v| v.expose_secret()))),
    )
}

/// What went wrong, and so what the server should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 409: the user must enter credentials or (re)connect the account at `connect_url`.
    CredentialsRequired,
    /// 400: the server's auth type has no per-user credentials (or no tokens to report).
    NotSupported,
    /// 401: the server token is not one of a running deployment.
    InvalidServerToken,
    /// 401: the forwarded identity was refused.
    InvalidIdentity,
    /// 403: the identity is the platform's own (tool discovery at deployment, §2.1): there
    /// is no user, so there are no credentials. Answer the call without them.
    NoUser,
    /// 400: several OAuth providers and no `?provider=`.
    ProviderRequired,
    /// 400: a provider config.yaml does not declare.
    UnknownProvider,
    /// 400: the server's stored config.yaml cannot be read.
    InvalidConfig,
    /// 400: the report's body is not the JSON of an [`InvalidTokenReport`].
    InvalidRequest,
    /// 502: the provider refused the server's own client; the developer must fix it.
    IntegrationError,
    /// 503: transient; try again later (may carry `Retry-After`).
    RetryLater,
    /// 500: the platform failed; the cause is in its log, never in the message.
    Internal,
    /// A code this version does not know.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The HTTP status the platform answers with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::CredentialsRequired => StatusCode::CONFLICT,
            Self::NotSupported
            | Self::ProviderRequired
            | Self::UnknownProvider
            | Self::InvalidConfig
            | Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::InvalidServerToken | Self::InvalidIdentity => StatusCode::UNAUTHORIZED,
            Self::NoUser => StatusCode::FORBIDDEN,
            Self::IntegrationError => StatusCode::BAD_GATEWAY,
            Self::RetryLater => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal | Self::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// `{"error": {"code", "message", "connect_url"?}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The fields of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// For people (the user for 409, the developer for 502); never a secret.
    #[serde(default)]
    pub message: String,
    /// Where to send the user (409 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_url: Option<String>,
}

impl ErrorBody {
    /// An error without a `connect_url`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code,
                message: message.into(),
                connect_url: None,
            },
        }
    }

    /// 409 `credentials_required`, sending the user to `connect_url`.
    pub fn credentials_required(
        message: impl Into<String>,
        connect_url: impl Into<String>,
    ) -> Self {
        Self {
            error: ErrorDetail {
                code: ErrorCode::CredentialsRequired,
                message: message.into(),
                connect_url: Some(connect_url.into()),
            },
        }
    }
}

/// `POST /internal/v1/credentials/invalid`: `{"provider"?, "access_token"}`.
#[derive(Clone, Serialize, Deserialize)]
pub struct InvalidTokenReport {
    /// The provider; optional when the server has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(serialize_with = "expose")]
    pub access_token: SecretString,
}

impl fmt::Debug for InvalidTokenReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvalidTokenReport")
            .field("provider", &self.provider)
            .field("access_token", &REDACTED)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_their_status() {
        let table = [
            ("credentials_required", 409),
            ("not_supported", 400),
            ("invalid_server_token", 401),
            ("invalid_identity", 401),
            ("provider_required", 400),
            ("unknown_provider", 400),
            ("invalid_config", 400),
            ("invalid_request", 400),
            ("integration_error", 502),
            ("retry_later", 503),
        ];
        for (name, status) in table {
            let code: ErrorCode = serde_json::from_value(serde_json::json!(name)).unwrap();
            assert_eq!(code.status().as_u16(), status, "{name}");
            assert_eq!(serde_json::to_value(code).unwrap(), name);
        }
        let unknown: ErrorCode = serde_json::from_value(serde_json::json!("new_code")).unwrap();
        assert_eq!(unknown, ErrorCode::Unknown);
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let reply = CredentialsReply::access_token("at-secret".into(), "ada".into());
        let report = InvalidTokenReport {
            provider: None,
            access_token: "at-secret".into(),
        };
        for text in [format!("{reply:?}"), format!("{report:?}")] {
            assert!(!text.contains("secret"), "{text}");
        }
    }
}
