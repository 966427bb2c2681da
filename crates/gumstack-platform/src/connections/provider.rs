//! The platform's calls to a server's OAuth provider code (docs/PROTOCOL.md §4): signed with
//! the platform's keys for that server, that route and that exact body, sent to the server's
//! running deployment on loopback.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gumstack_protocol::claims::PlatformCallClaims;
use gumstack_protocol::headers::{PLATFORM_CALL, PLATFORM_CALL_TYP};
use gumstack_protocol::provider::{Failure, FailureBody};
pub use gumstack_protocol::provider::{Operation, ProviderReply, ProviderRequest, TokenResponse};
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::keys::SigningKeys;
use crate::store::now;
use crate::supervisor::Supervisor;

/// The longest token lifetime believed (ten years).
pub const MAX_EXPIRES_IN: i64 = 10 * 365 * 24 * 3600;
/// Provider replies are small JSON documents.
const MAX_REPLY_BYTES: usize = 256 * 1024;

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
    /// Calls the operation of `request` of `provider` on server `server_id`; its typed reply.
    async fn call(
        &self,
        server_id: Uuid,
        provider: &str,
        request: ProviderRequest,
    ) -> Result<ProviderReply, ProviderFailure>;
}

/// A reply that is not the one of the operation called.
fn unexpected(error: impl fmt::Display) -> ProviderFailure {
    ProviderFailure::InvalidResponse {
        message: error.to_string(),
    }
}

/// The tokens of an `exchange` or `refresh` reply, refusing one without a usable bearer access
/// token.
pub fn tokens_of(reply: ProviderReply) -> Result<TokenSet, ProviderFailure> {
    let tokens = reply.into_tokens().map_err(unexpected)?;
    if tokens.access_token.expose_secret().is_empty() {
        return Err(ProviderFailure::InvalidResponse {
            message: "the token response has an empty access_token".into(),
        });
    }
    if !tokens.token_type.eq_ignore_ascii_case("bearer") {
        return Err(ProviderFailure::InvalidResponse {
            message: format!("token_type `{}` is not Bearer", tokens.token_type),
        });
    }
    // Nothing lives longer than this; an absurd lifetime must not overflow expiry sums.
    let expires_in = tokens.expires_in.map(|s| {
        i64::try_from(s)
            .unwrap_or(MAX_EXPIRES_IN)
            .min(MAX_EXPIRES_IN)
    });
    Ok(TokenSet { tokens, expires_in })
}

/// Tokens a provider issued, checked, with their lifetime bounded by [`MAX_EXPIRES_IN`].
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub tokens: TokenResponse,
    /// Seconds, at most [`MAX_EXPIRES_IN`].
    pub expires_in: Option<i64>,
}

impl std::ops::Deref for TokenSet {
    type Target = TokenResponse;

    fn deref(&self) -> &TokenResponse {
        &self.tokens
    }
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
        request: ProviderRequest,
    ) -> Result<ProviderReply, ProviderFailure> {
        let operation = request.operation();
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
        let path = gumstack_protocol::provider::route(provider, operation);
        let bytes = request.to_body();
        let claims = PlatformCallClaims::post(
            &self.issuer,
            server_id,
            &path,
            &bytes,
            Uuid::new_v4().to_string(),
            now(),
        );
        let signed = self.keys.sign(PLATFORM_CALL_TYP, &claims);
        let url = format!("http://{}{path}", live.addr());
        let sent = self
            .http
            .post(&url)
            .header(PLATFORM_CALL, signed)
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
            return ProviderReply::parse(operation, &bytes).map_err(|e| {
                ProviderFailure::InvalidResponse {
                    message: format!(
                        "the server's reply to {operation} does not have the expected fields: {e}"
                    ),
                }
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

fn failure_of(failure: Failure) -> ProviderFailure {
    match failure {
        Failure::Provider {
            code, description, ..
        } => ProviderFailure::Rejected { code, description },
        Failure::Transport {
            status,
            retry_after,
            message,
        } => ProviderFailure::Transport {
            status,
            retry_after,
            message,
        },
        Failure::NotConfigured {
            message,
            missing_env,
        } => ProviderFailure::NotConfigured {
            message,
            missing_env,
        },
        Failure::UnknownProvider { message } => ProviderFailure::UnknownProvider { message },
        Failure::InvalidResponse { message }
        | Failure::UnknownOperation { message }
        | Failure::InvalidRequest { message } => ProviderFailure::InvalidResponse { message },
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
        // What `ServerProviders::call` does with a reply's bytes, then `tokens_of`.
        let read = |reply: &serde_json::Value| {
            ProviderReply::parse(Operation::Refresh, reply.to_string().as_bytes())
                .map_err(unexpected)
                .and_then(tokens_of)
        };
        let bad = [
            serde_json::json!({}),
            serde_json::json!({ "access_token": "" }),
            serde_json::json!({ "access_token": "t", "token_type": "mac" }),
            serde_json::json!({ "access_token": "t", "expires_in": -5 }),
            serde_json::json!({ "access_token": 7 }),
        ];
        for reply in bad {
            assert!(
                matches!(read(&reply), Err(ProviderFailure::InvalidResponse { .. })),
                "{reply} was accepted"
            );
        }
        let good = read(&serde_json::json!({
            "access_token": "a", "refresh_token": null, "expires_in": 60, "token_type": "bearer"
        }))
        .unwrap();
        assert_eq!(good.expires_in, Some(60));
        assert!(good.refresh_token.is_none());
        for forever in [serde_json::json!(i64::MAX), serde_json::json!(u64::MAX)] {
            let tokens =
                read(&serde_json::json!({ "access_token": "a", "expires_in": forever })).unwrap();
            assert_eq!(tokens.expires_in, Some(MAX_EXPIRES_IN));
        }
        let url = ProviderReply::parse(Operation::Nickname, br#"{"nickname": "n"}"#).unwrap();
        assert!(tokens_of(url).is_err(), "a reply of another operation");
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
