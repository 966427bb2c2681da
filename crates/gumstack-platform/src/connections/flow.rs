//! The connect flow (SPEC §3 steps 1–5); disconnecting (step 8) is `revoke`'s.
//!
//! 1. [`Connections::start`]: a fresh state (256 random bits, stored only as its SHA-256) and a
//!    PKCE verifier (sealed), bound to the user, server, provider and browser session, valid
//!    for 10 minutes; the server's provider code builds the authorization URL, which is checked
//!    (http(s) only, https unless loopback, exactly the state and redirect URI given) before the
//!    browser is sent there.
//! 2. [`Connections::finish`]: the callback consumes the state (single use, even when the rest
//!    of the checks then fail), checks user, session and expiry, handles the provider's
//!    `error=` reply, exchanges the code, asks for a nickname, and stores the connection with
//!    its tokens sealed. Connecting again replaces the row.

use secrecy::{ExposeSecret, SecretString};
use url::Url;
use uuid::Uuid;

use super::provider::{ProviderFailure, ProviderRequest, tokens_of};
use super::{Connections, access_aad, refresh_aad};
use crate::crypto::{constant_time_eq, random_token, token_hash};
use crate::error::Internal;
use crate::store::{Connection, ConnectionStatus, Constraint, OAuthFlow, Server, StoreError};
use crate::vault::Aad;
use gumstack_protocol::provider::{AuthorizationUrlRequest, ExchangeRequest, NicknameRequest};

/// How long a connect flow may take.
pub const FLOW_SECONDS: i64 = 10 * 60;
/// The platform's one callback path (`{public_url}/auth/callback`).
pub const CALLBACK_PATH: &str = "/auth/callback";
/// Longest nickname kept.
const MAX_NICKNAME_CHARS: usize = 200;

/// The longest account id kept, in bytes.
const MAX_SUBJECT_BYTES: usize = 255;

/// A provider-supplied name as it may be shown: no control or bidirectional-formatting
/// characters (which could make it read as another name), trimmed and bounded. (HTML is
/// escaped by the pages.)
fn displayable(name: &str) -> String {
    let is_bidi = |c: char| matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}');
    name.chars()
        .filter(|&c| !c.is_control() && !is_bidi(c))
        .take(MAX_NICKNAME_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The vault binding of a connect flow's PKCE verifier.
pub(crate) fn verifier_aad(flow_id: Uuid, user_id: Uuid, server_id: Uuid) -> Aad {
    Aad::new(
        "oauth_flows",
        "code_verifier",
        &[flow_id, user_id, server_id],
    )
}

/// Why a connect flow could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The provider's settings are missing on the server: the developer must set these.
    #[error("{message}")]
    NotConfigured {
        message: String,
        missing_env: Vec<String>,
    },
    /// The server is not running or its provider is unavailable; try again.
    #[error("{0}")]
    Unavailable(String),
    /// The server's config.yaml declares no provider of this name: the request is wrong, and
    /// the server process is not asked.
    #[error("{server} has no provider named `{provider}`")]
    UnknownProvider { server: String, provider: String },
    /// The server's provider code gave something unusable (a bad URL…).
    #[error("{0}")]
    Integration(String),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for ConnectError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.into())
    }
}

impl From<ProviderFailure> for ConnectError {
    fn from(failure: ProviderFailure) -> Self {
        match failure {
            ProviderFailure::NotConfigured {
                message,
                missing_env,
            } => Self::NotConfigured {
                message,
                missing_env,
            },
            ProviderFailure::Transport { .. } | ProviderFailure::ServerUnavailable { .. } => {
                Self::Unavailable(failure.to_string())
            }
            other => Self::Integration(other.to_string()),
        }
    }
}

/// Why a callback did not connect an account; each is a page for the user.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error(
        "The reply from the provider carries no state, so it cannot be matched to a connect request."
    )]
    MissingState,
    #[error(
        "This connect request has expired or was already used. Start again from the connections page."
    )]
    UnknownState,
    #[error(
        "This connect request was started by another user or in another browser session. Start again from the connections page."
    )]
    WrongSession,
    /// The provider answered `error=` (the user declined, or the provider refused).
    #[error("The provider did not connect your account: {code}{}", description.as_deref().map(|d| format!(" — {d}")).unwrap_or_default())]
    Denied {
        server: Box<Server>,
        code: String,
        description: Option<String>,
    },
    #[error("The reply from the provider carries no authorization code.")]
    MissingCode { server: Box<Server> },
    #[error("Connecting your account failed: {message}")]
    ExchangeFailed {
        server: Box<Server>,
        message: String,
    },
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for CallbackError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.into())
    }
}

/// The query of `/auth/callback`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CallbackQuery {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// A connection just made.
#[derive(Debug, Clone)]
pub struct Connected {
    pub server: Server,
    pub provider: String,
    pub nickname: String,
}

/// Checks the authorization URL a server's provider code built (SPEC §3 step 3).
pub fn check_authorization_url(url: &str, state: &str, redirect_uri: &str) -> Result<Url, String> {
    let parsed = Url::parse(url).map_err(|e| format!("it is not a URL ({e})"))?;
    let https = match parsed.scheme() {
        "https" => true,
        "http" => false,
        other => return Err(format!("its scheme `{other}` is not https")),
    };
    if parsed.host().is_none() {
        return Err("it has no host".into());
    }
    let loopback = gumstack_protocol::loopback::is_loopback_url(&parsed);
    if !https && !loopback {
        return Err("it is http to a host that is not loopback (https is required)".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("it carries user information".into());
    }
    let values = |name: &str| -> Vec<String> {
        parsed
            .query_pairs()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
            .collect()
    };
    if values("state") != [state] {
        return Err("it does not carry exactly the state the platform gave".into());
    }
    if values("redirect_uri") != [redirect_uri] {
        return Err("it does not carry exactly the redirect URI the platform gave".into());
    }
    Ok(parsed)
}

/// The scopes an authorization URL asks for (its `scope` parameters).
fn requested_scopes(url: &Url) -> Vec<String> {
    url.query_pairs()
        .filter(|(key, _)| key == "scope")
        .flat_map(|(_, value)| gumstack_protocol::scopes::split(&value))
        .collect()
}

/// The providers a server's config.yaml declares.
pub fn declared_providers(server: &Server) -> Result<Vec<String>, Internal> {
    Ok(crate::servers::stored_config(server)?.auth.providers)
}

impl Connections {
    /// The callback URL developers register with their providers.
    pub fn redirect_uri(&self) -> String {
        self.inner.urls.join(CALLBACK_PATH)
    }

    /// Starts connecting `user_id`'s account at `provider` of `server` from the browser session
    /// `session_token`, asking for `scopes` beyond the provider's own (a tool needs them); the
    /// URL to send the browser to.
    pub async fn start(
        &self,
        user_id: Uuid,
        session_token: &SecretString,
        server: &Server,
        provider: &str,
        scopes: &[String],
    ) -> Result<Url, ConnectError> {
        if !declared_providers(server)?.iter().any(|p| p == provider) {
            return Err(ConnectError::UnknownProvider {
                server: server.name.clone(),
                provider: provider.to_owned(),
            });
        }
        let state = random_token("");
        let verifier = random_token("");
        let redirect_uri = self.redirect_uri();
        let reply = self
            .inner
            .providers
            .call(
                server.id,
                provider,
                ProviderRequest::AuthorizationUrl(AuthorizationUrlRequest {
                    redirect_uri: redirect_uri.clone(),
                    state: state.clone(),
                    code_verifier: verifier.clone(),
                    scopes: scopes.to_vec(),
                }),
            )
            .await?;
        let url = reply.into_url().map_err(|_| {
            ConnectError::Integration("the server's authorization-url reply has no url".into())
        })?;
        let url = check_authorization_url(&url, state.expose_secret(), &redirect_uri).map_err(
            |reason| {
                ConnectError::Integration(format!(
                    "the provider authorization URL the server built was refused: {reason}"
                ))
            },
        )?;
        let asked = requested_scopes(&url);
        let ignored = gumstack_protocol::scopes::missing(&asked, scopes);
        if !ignored.is_empty() {
            return Err(ConnectError::Integration(format!(
                "the provider authorization URL the server built does not ask for the scopes a \
                 tool needs ({})",
                ignored.join(" ")
            )));
        }
        let now = self.inner.clock.now();
        let id = Uuid::new_v4();
        let flow = OAuthFlow {
            id,
            state_hash: token_hash(&state),
            user_id,
            server_id: server.id,
            provider: provider.to_owned(),
            session_hash: token_hash(session_token),
            verifier_ciphertext: self.inner.vault.encrypt(
                verifier.expose_secret().as_bytes(),
                &verifier_aad(id, user_id, server.id),
            ),
            requested_scope: (!asked.is_empty()).then(|| asked.join(" ")),
            created_at: now,
            expires_at: now + FLOW_SECONDS,
        };
        match self.inner.store.insert_oauth_flow(&flow).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(ConnectError::Unavailable(
                    "too many connect requests are waiting for the provider; finish one or try \
                     again in 10 minutes"
                        .into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(server = %server.slug, %provider, user = %user_id, "connect flow started");
        Ok(url)
    }

    /// Completes a flow at the callback, for the logged-in `user_id` in browser session
    /// `session_token`.
    pub async fn finish(
        &self,
        user_id: Uuid,
        session_token: &SecretString,
        query: CallbackQuery,
    ) -> Result<Connected, CallbackError> {
        let state = query
            .state
            .filter(|s| !s.is_empty())
            .ok_or(CallbackError::MissingState)?;
        let now = self.inner.clock.now();
        let flow = match self
            .inner
            .store
            .take_oauth_flow(&token_hash(&SecretString::from(state)), now)
            .await
        {
            Ok(flow) => flow,
            Err(StoreError::NotFound) => return Err(CallbackError::UnknownState),
            Err(e) => return Err(e.into()),
        };
        if flow.expires_at < now {
            return Err(CallbackError::UnknownState);
        }
        if flow.user_id != user_id
            || !constant_time_eq(&flow.session_hash, &token_hash(session_token))
        {
            tracing::warn!(flow = %flow.id, "a connect callback came from another user or session");
            return Err(CallbackError::WrongSession);
        }
        let server = match self.inner.store.server_by_id(flow.server_id).await {
            Ok(server) => Box::new(server),
            Err(StoreError::NotFound) => return Err(CallbackError::UnknownState),
            Err(e) => return Err(e.into()),
        };
        if let Some(code) = query.error {
            return Err(CallbackError::Denied {
                server,
                code,
                description: query.error_description,
            });
        }
        let Some(code) = query.code.filter(|c| !c.is_empty()) else {
            return Err(CallbackError::MissingCode { server });
        };
        let verifier = self
            .inner
            .vault
            .decrypt_string(
                &flow.verifier_ciphertext,
                &verifier_aad(flow.id, flow.user_id, flow.server_id),
            )
            .map_err(Internal::from)?;
        let failed = |server: &Server, failure: ProviderFailure| CallbackError::ExchangeFailed {
            server: Box::new(server.clone()),
            message: failure.to_string(),
        };
        let tokens = self
            .inner
            .providers
            .call(
                server.id,
                &flow.provider,
                ProviderRequest::Exchange(ExchangeRequest {
                    code: SecretString::from(code),
                    redirect_uri: self.redirect_uri(),
                    code_verifier: verifier,
                }),
            )
            .await
            .and_then(tokens_of)
            .map_err(|f| failed(&server, f))?;
        let (nickname, subject) = self
            .nickname(&server, &flow.provider, &tokens.access_token)
            .await;
        let now = self.inner.clock.now();
        let mut connection = Connection {
            id: Uuid::new_v4(),
            user_id,
            server_id: server.id,
            provider: flow.provider.clone(),
            nickname: nickname.clone(),
            subject,
            // Kept from the row this reconnect replaces; chosen by the store for a new account.
            label: None,
            is_default: false,
            access_ciphertext: Vec::new(),
            access_hash: token_hash(&tokens.access_token),
            refresh_ciphertext: None,
            expires_at: tokens.expires_in.map(|s| now.saturating_add(s)),
            // A provider that names no scope granted what was asked (RFC 6749 §5.1).
            scope: tokens.scope.clone().or(flow.requested_scope.clone()),
            status: ConnectionStatus::Active,
            failure_kind: None,
            failure_message: None,
            failures: 0,
            retry_at: None,
            version: 0,
            lease_holder: None,
            lease_until: None,
            obtained_at: now,
            created_at: now,
            updated_at: now,
        };
        connection.access_ciphertext = self.inner.vault.encrypt(
            tokens.access_token.expose_secret().as_bytes(),
            &access_aad(&connection),
        );
        connection.refresh_ciphertext = tokens.refresh_token.as_ref().map(|t| {
            self.inner
                .vault
                .encrypt(t.expose_secret().as_bytes(), &refresh_aad(&connection))
        });
        match self.inner.store.upsert_connection(&connection).await {
            Ok(()) => {}
            Err(StoreError::Conflict(Constraint::AccountName)) => {
                return Err(CallbackError::ExchangeFailed {
                    server,
                    message: format!(
                        "another of your {} accounts is also called {nickname}; disconnect it \
                         first, then connect this one",
                        flow.provider
                    ),
                });
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(server = %server.slug, provider = %flow.provider, user = %user_id, "account connected");
        Ok(Connected {
            server: *server,
            provider: flow.provider,
            nickname,
        })
    }

    /// The account's name at the provider (or the provider's name when it gives none), and its
    /// stable id there when the provider code gives a usable one.
    async fn nickname(
        &self,
        server: &Server,
        provider: &str,
        access: &SecretString,
    ) -> (String, Option<String>) {
        let reply = self
            .inner
            .providers
            .call(
                server.id,
                provider,
                ProviderRequest::Nickname(NicknameRequest {
                    access_token: access.clone(),
                }),
            )
            .await;
        let unnamed = || format!("{provider} account");
        match reply.map(|reply| reply.into_nickname()) {
            Ok(Ok(reply)) => {
                let name = displayable(&reply.nickname);
                // An id that is not plain text is no id: accounts are told apart by name.
                let subject = reply.subject.filter(|s| {
                    !s.is_empty()
                        && s.len() <= MAX_SUBJECT_BYTES
                        && !s.chars().any(char::is_control)
                });
                let name = if name.is_empty() { unnamed() } else { name };
                (name, subject)
            }
            Ok(Err(_)) => (unnamed(), None),
            Err(error) => {
                tracing::warn!(server = %server.slug, %provider, %error, "nickname unavailable");
                (unnamed(), None)
            }
        }
    }
}

#[cfg(test)]
mod tests;
