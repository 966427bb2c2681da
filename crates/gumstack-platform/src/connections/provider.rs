//! The platform's calls to a server's OAuth provider code (docs/PROTOCOL.md §4): signed with
//! the platform's keys for that server, that route and that exact body, sent to the server's
//! running deployment on loopback.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::keys::SigningKeys;
use crate::oauth::tokens::server_audience;
use crate::store::now;
use crate::supervisor::Supervisor;

/// The JWS `typ` of a platform → server call.
pub const PLATFORM_CALL_TYP: &str = "gumstack-platform-call+jwt";
/// The header carrying it.
pub const PLATFORM_CALL_HEADER: &str = "gumstack-platform-call";
/// How long a signed call stays valid.
const CALL_LIFETIME_SECONDS: i64 = 60;
/// The longest token lifetime believed (ten years).
pub const MAX_EXPIRES_IN: i64 = 10 * 365 * 24 * 3600;
/// Provider replies are small JSON documents.
const MAX_REPLY_BYTES: usize = 256 * 1024;

/// The provider operations of docs/PROTOCOL.md §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    AuthorizationUrl,
    Exchange,
    Refresh,
    Nickname,
    Revoke,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationUrl => "authorization-url",
            Self::Exchange => "exchange",
            Self::Refresh => "refresh",
            Self::Nickname => "nickname",
            Self::Revoke => "revoke",
        }
    }
}

/// Why a provider operation gave no answer, by what the platform does about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderFailure {
    /// The provider said no, with an OAuth error code (`invalid_grant`, `invalid_client`…).
    #[error("the provider refused: {code}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Rejected {
        code: String,
        description: Option<String>,
    },
    /// The provider was unreachable, timed out, rate-limited or failed (429, 5xx).
    #[error("the provider is unavailable: {message}")]
    Transport {
        status: Option<u16>,
        retry_after: Option<u64>,
        message: String,
    },
    /// The provider's (or the server's) reply could not be understood.
    #[error("unreadable reply: {message}")]
    InvalidResponse { message: String },
    /// The provider's settings are missing on the server.
    #[error("{message}")]
    NotConfigured {
        message: String,
        missing_env: Vec<String>,
    },
    /// The server has no provider of that name.
    #[error("{message}")]
    UnknownProvider { message: String },
    /// The server process could not be reached (not running, restarting).
    #[error("the server is not reachable: {message}")]
    ServerUnavailable { message: String },
}

/// What the refresh outcome means for a connection (SPEC §3 step 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The refresh token is no good: the user must connect again.
    NeedsReauth,
    /// The developer must fix the integration; tokens kept.
    Integration,
    /// Try again later; tokens kept.
    Transient,
}

impl ProviderFailure {
    pub fn class(&self) -> FailureClass {
        match self {
            Self::Rejected { code, .. } if code == "invalid_grant" => FailureClass::NeedsReauth,
            Self::Rejected { .. }
            | Self::InvalidResponse { .. }
            | Self::NotConfigured { .. }
            | Self::UnknownProvider { .. } => FailureClass::Integration,
            Self::Transport { .. } | Self::ServerUnavailable { .. } => FailureClass::Transient,
        }
    }

    /// Seconds the provider asked to wait, if it did.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Transport { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Calls the provider code of a server's running deployment. A trait so the refresh logic can
/// be tested against a recording provider with a paused clock.
#[async_trait]
pub trait ProviderCalls: Send + Sync + fmt::Debug {
    /// Calls `operation` of `provider` on server `server_id` with the JSON `body`.
    async fn call(
        &self,
        server_id: Uuid,
        provider: &str,
        operation: Operation,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, ProviderFailure>;
}

/// Tokens a provider issued (the token response of docs/PROTOCOL.md §4).
#[derive(Clone, Deserialize)]
pub struct TokenSet {
    pub access_token: SecretString,
    #[serde(default)]
    pub refresh_token: Option<SecretString>,
    #[serde(default)]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub token_type: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl TokenSet {
    /// Reads a token response, refusing one without a usable bearer access token.
    pub fn from_reply(reply: serde_json::Value) -> Result<Self, ProviderFailure> {
        let tokens: Self =
            serde_json::from_value(reply).map_err(|e| ProviderFailure::InvalidResponse {
                message: format!("the token response does not have the expected fields: {e}"),
            })?;
        if tokens.access_token.expose_secret().is_empty() {
            return Err(ProviderFailure::InvalidResponse {
                message: "the token response has an empty access_token".into(),
            });
        }
        if let Some(kind) = &tokens.token_type
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(ProviderFailure::InvalidResponse {
                message: format!("token_type `{kind}` is not Bearer"),
            });
        }
        if tokens.expires_in.is_some_and(|s| s < 0) {
            return Err(ProviderFailure::InvalidResponse {
                message: "expires_in is negative".into(),
            });
        }
        // Nothing lives longer than this; an absurd lifetime must not overflow expiry sums.
        let mut tokens = tokens;
        tokens.expires_in = tokens.expires_in.map(|s| s.min(MAX_EXPIRES_IN));
        Ok(tokens)
    }
}

/// The claims of a platform → server call.
#[derive(Serialize)]
struct CallClaims<'a> {
    iss: &'a str,
    aud: String,
    htm: &'static str,
    htu: &'a str,
    bh: String,
    jti: String,
    iat: i64,
    exp: i64,
}

/// The failure body a server answers with (docs/PROTOCOL.md §4).
#[derive(Deserialize)]
struct FailureBody {
    error: FailureFields,
}

#[derive(Deserialize)]
struct FailureFields {
    kind: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    retry_after: Option<u64>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    missing_env: Vec<String>,
}

/// [`ProviderCalls`] over HTTP to the live deployments the supervisor runs.
#[derive(Clone)]
pub struct ServerProviders {
    http: reqwest::Client,
    supervisor: Arc<Supervisor>,
    keys: Arc<SigningKeys>,
    issuer: String,
    timeout: Duration,
}

impl fmt::Debug for ServerProviders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerProviders")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl ServerProviders {
    /// `timeout` bounds each call (the server's own provider call included).
    pub fn new(
        supervisor: Arc<Supervisor>,
        keys: Arc<SigningKeys>,
        issuer: String,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(2))
            .build()?;
        Ok(Self {
            http,
            supervisor,
            keys,
            issuer,
            timeout,
        })
    }
}

/// Provider names go into a URL path: config.yaml restricts them, this refuses anything else.
fn valid_provider_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[async_trait]
impl ProviderCalls for ServerProviders {
    async fn call(
        &self,
        server_id: Uuid,
        provider: &str,
        operation: Operation,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, ProviderFailure> {
        if !valid_provider_name(provider) {
            return Err(ProviderFailure::UnknownProvider {
                message: format!("`{provider}` is not a valid provider name"),
            });
        }
        let live =
            self.supervisor
                .live(server_id)
                .ok_or_else(|| ProviderFailure::ServerUnavailable {
                    message: "the server has no running deployment".into(),
                })?;
        let path = format!("/gumstack/providers/{provider}/{}", operation.as_str());
        let bytes = serde_json::to_vec(&body).expect("JSON values serialise");
        let issued = now();
        let claims = CallClaims {
            iss: &self.issuer,
            aud: server_audience(server_id),
            htm: "POST",
            htu: &path,
            bh: URL_SAFE_NO_PAD.encode(Sha256::digest(&bytes)),
            jti: Uuid::new_v4().to_string(),
            iat: issued,
            exp: issued + CALL_LIFETIME_SECONDS,
        };
        let signed = self.keys.sign(PLATFORM_CALL_TYP, &claims);
        let url = format!("http://{}{path}", live.addr());
        let sent = self
            .http
            .post(&url)
            .header(PLATFORM_CALL_HEADER, signed)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes)
            .timeout(self.timeout)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) if e.is_timeout() => {
                return Err(ProviderFailure::Transport {
                    status: None,
                    retry_after: None,
                    message: format!("no answer within {} s", self.timeout.as_secs()),
                });
            }
            Err(e) => {
                return Err(ProviderFailure::ServerUnavailable {
                    message: without_url(&e),
                });
            }
        };
        let status = response.status();
        let bytes = read_limited(response).await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| ProviderFailure::InvalidResponse {
                message: format!(
                    "the server's reply to {} is not JSON: {e}",
                    operation.as_str()
                ),
            });
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(ProviderFailure::InvalidResponse {
                message: "the server refused the platform's signed call (401)".into(),
            });
        }
        let Ok(failure) = serde_json::from_slice::<FailureBody>(&bytes) else {
            return Err(ProviderFailure::InvalidResponse {
                message: format!(
                    "the server answered {} to {}",
                    status.as_u16(),
                    operation.as_str()
                ),
            });
        };
        Err(failure_of(failure.error))
    }
}

fn failure_of(f: FailureFields) -> ProviderFailure {
    let message = f.message.unwrap_or_default();
    match f.kind.as_str() {
        "provider" => ProviderFailure::Rejected {
            code: f.code.unwrap_or_else(|| "unknown_error".into()),
            description: f.description,
        },
        "transport" => ProviderFailure::Transport {
            status: f.status,
            retry_after: f.retry_after,
            message,
        },
        "not_configured" => ProviderFailure::NotConfigured {
            message,
            missing_env: f.missing_env,
        },
        "unknown_provider" => ProviderFailure::UnknownProvider { message },
        _ => ProviderFailure::InvalidResponse { message },
    }
}

/// A transport error's text without its URL (which is harmless here, but keeps messages short).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "the server");
    }
    text
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, ProviderFailure> {
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > MAX_REPLY_BYTES {
                    return Err(ProviderFailure::InvalidResponse {
                        message: "the server's reply is too large".into(),
                    });
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(bytes),
            Err(e) => {
                return Err(ProviderFailure::Transport {
                    status: None,
                    retry_after: None,
                    message: format!("reading the reply failed: {}", without_url(&e)),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified_as_the_spec_says() {
        let rejected = |code: &str| ProviderFailure::Rejected {
            code: code.into(),
            description: None,
        };
        assert_eq!(rejected("invalid_grant").class(), FailureClass::NeedsReauth);
        assert_eq!(
            rejected("invalid_client").class(),
            FailureClass::Integration
        );
        assert_eq!(
            rejected("unauthorized_client").class(),
            FailureClass::Integration
        );
        let transport = ProviderFailure::Transport {
            status: Some(503),
            retry_after: None,
            message: String::new(),
        };
        assert_eq!(transport.class(), FailureClass::Transient);
        let down = ProviderFailure::ServerUnavailable {
            message: String::new(),
        };
        assert_eq!(down.class(), FailureClass::Transient);
        let garbage = ProviderFailure::InvalidResponse {
            message: String::new(),
        };
        assert_eq!(garbage.class(), FailureClass::Integration);
    }

    #[test]
    fn token_replies_without_a_bearer_access_token_are_refused() {
        let bad = [
            serde_json::json!({}),
            serde_json::json!({ "access_token": "" }),
            serde_json::json!({ "access_token": "t", "token_type": "mac" }),
            serde_json::json!({ "access_token": "t", "expires_in": -5 }),
            serde_json::json!({ "access_token": 7 }),
        ];
        for reply in bad {
            assert!(
                matches!(
                    TokenSet::from_reply(reply.clone()),
                    Err(ProviderFailure::InvalidResponse { .. })
                ),
                "{reply} was accepted"
            );
        }
        let good = TokenSet::from_reply(serde_json::json!({
            "access_token": "a", "refresh_token": null, "expires_in": 60, "token_type": "bearer"
        }))
        .unwrap();
        assert_eq!(good.expires_in, Some(60));
        assert!(good.refresh_token.is_none());
        let forever = TokenSet::from_reply(serde_json::json!({
            "access_token": "a", "expires_in": i64::MAX
        }))
        .unwrap();
        assert_eq!(forever.expires_in, Some(MAX_EXPIRES_IN));
    }

    #[test]
    fn provider_names_that_would_change_the_path_are_refused() {
        assert!(valid_provider_name("github"));
        assert!(valid_provider_name("my_provider-2"));
        for bad in ["", "../admin", "a/b", "a?b", "a b", "%2e"] {
            assert!(!valid_provider_name(bad), "{bad}");
        }
    }
}
