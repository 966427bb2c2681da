//! API tokens (`gsk_…`) for scripts: each belongs to a user and acts with that user's
//! *current* role (a member's token can do only what a member can), expires (90 days unless
//! chosen otherwise, at most [`ApiTokenSettings::max_days`]), and records when it was last
//! used (at most once a minute). Only its SHA-256 is stored; the token is shown once.
//!
//! A token is made in the dashboard or with `gumstackd token create`, never with another
//! token: a stolen token must not be able to mint a longer-lived one. A password reset, a
//! demotion below the role the token was made under, and disabling the user end tokens (in
//! the store, in the same transaction as the change).

use std::sync::Arc;

use secrecy::SecretString;
use uuid::Uuid;

use crate::clock::Clock;
use crate::crypto::{random_token, token_hash};
use crate::error::{DomainError, ErrorClass, Internal};
use crate::store::{ApiToken, NewApiToken, Role, Store, StoreError, User};

/// Prefix of API tokens.
pub const API_TOKEN_PREFIX: &str = "gsk_";
/// Longest token name.
pub const MAX_NAME_CHARS: usize = 100;
const DAY: i64 = 24 * 3600;

/// How long tokens live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiTokenSettings {
    /// The lifetime of a token made without one (days).
    pub default_days: u32,
    /// The longest lifetime anyone may choose (days).
    pub max_days: u32,
}

impl Default for ApiTokenSettings {
    fn default() -> Self {
        Self {
            default_days: 90,
            max_days: 365,
        }
    }
}

impl ApiTokenSettings {
    /// Checks the operator's settings (at start).
    pub fn check(&self) -> Result<(), String> {
        if self.max_days == 0 || self.default_days == 0 || self.default_days > self.max_days {
            return Err(format!(
                "API token lifetime: the default ({} days) must be between 1 and the maximum ({} days)",
                self.default_days, self.max_days
            ));
        }
        Ok(())
    }
}

/// Why a token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// A value of the request is invalid (`invalid_name`, `invalid_expiry`).
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// No such token (or not one the caller may see).
    #[error("no such API token")]
    NotFound,
    /// The account is disabled or gone.
    #[error("{0} is disabled; enable the account first")]
    UserDisabled(String),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for TokenError {
    fn from(err: StoreError) -> Self {
        Self::Internal(err.into())
    }
}

impl DomainError for TokenError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Invalid { .. } => ErrorClass::Invalid,
            Self::NotFound => ErrorClass::NotFound,
            Self::UserDisabled(_) => ErrorClass::Conflict,
            Self::Internal(err) => err.class(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Invalid { code, .. } => code,
            Self::NotFound => "not_found",
            Self::UserDisabled(_) => "user_disabled",
            Self::Internal(err) => err.code(),
        }
    }
}

/// A token's name: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control characters.
fn check_name(name: &str) -> Result<String, TokenError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(TokenError::Invalid {
            code: "invalid_name",
            message: format!(
                "a token name must be 1 to {MAX_NAME_CHARS} characters, without control characters"
            ),
        });
    }
    Ok(name.to_owned())
}

/// A new token: its record, and the token itself (shown once).
#[derive(Debug)]
pub struct CreatedToken {
    pub record: ApiToken,
    pub token: SecretString,
}

/// The token operations the API, the dashboard and the CLI share.
#[derive(Debug, Clone)]
pub struct ApiTokens {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: ApiTokenSettings,
}

impl ApiTokens {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, settings: ApiTokenSettings) -> Self {
        Self {
            store,
            clock,
            settings,
        }
    }

    pub fn settings(&self) -> ApiTokenSettings {
        self.settings
    }

    /// Makes a token for `user` (with their role now), living `days` (the default when `None`).
    pub async fn create(
        &self,
        user: &User,
        name: &str,
        days: Option<u32>,
    ) -> Result<CreatedToken, TokenError> {
        let name = check_name(name)?;
        let days = days.unwrap_or(self.settings.default_days);
        if days == 0 || days > self.settings.max_days {
            return Err(TokenError::Invalid {
                code: "invalid_expiry",
                message: format!(
                    "a token lives 1 to {} days (default {})",
                    self.settings.max_days, self.settings.default_days
                ),
            });
        }
        if user.is_disabled() {
            return Err(TokenError::UserDisabled(user.email.clone()));
        }
        let token = random_token(API_TOKEN_PREFIX);
        let hash = token_hash(&token);
        let created_at = self.clock.now();
        let expires_at = created_at + i64::from(days) * DAY;
        let id = match self
            .store
            .insert_api_token(&NewApiToken {
                user_id: user.id,
                name: &name,
                role: user.role,
                token_hash: &hash,
                created_at,
                expires_at,
            })
            .await
        {
            Ok(id) => id,
            Err(StoreError::NotFound) => return Err(TokenError::UserDisabled(user.email.clone())),
            Err(other) => return Err(other.into()),
        };
        tracing::info!(token = %id, user = %user.id, "API token created");
        Ok(CreatedToken {
            record: ApiToken {
                id,
                user_id: user.id,
                user_email: user.email.clone(),
                name,
                role: user.role,
                created_at,
                expires_at,
                last_used_at: None,
            },
            token,
        })
    }

    /// The tokens `viewer` may see: an admin's view is everyone's, anyone else's their own.
    pub async fn visible_to(&self, viewer: &User) -> Result<Vec<ApiToken>, TokenError> {
        let only = (viewer.role != Role::Admin).then_some(viewer.id);
        Ok(self.store.list_api_tokens(only).await?)
    }

    /// One user's tokens (`Some`) or everyone's (the CLI, run by the operator).
    pub async fn list(&self, user_id: Option<Uuid>) -> Result<Vec<ApiToken>, TokenError> {
        Ok(self.store.list_api_tokens(user_id).await?)
    }

    /// Revokes a token `viewer` may see (another user's is `NotFound` for a non-admin, as if
    /// it did not exist); `None` for the operator (the CLI).
    pub async fn revoke(&self, viewer: Option<&User>, id: Uuid) -> Result<ApiToken, TokenError> {
        let only = viewer.filter(|v| v.role != Role::Admin).map(|v| v.id);
        let token = match self.store.api_token(id).await {
            Ok(token) if only.is_none_or(|user| user == token.user_id) => token,
            Ok(_) | Err(StoreError::NotFound) => return Err(TokenError::NotFound),
            Err(other) => return Err(other.into()),
        };
        match self.store.delete_api_token(id, only).await {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(TokenError::NotFound),
            Err(other) => return Err(other.into()),
        }
        tracing::info!(token = %id, user = %token.user_id, "API token revoked");
        Ok(token)
    }

    /// The enabled user behind an unexpired token, or `None`.
    pub async fn authenticate(&self, token: &SecretString) -> Result<Option<User>, Internal> {
        match self
            .store
            .api_token_user(&token_hash(token), self.clock.now())
            .await
        {
            Ok((user, _)) => Ok(Some(user)),
            Err(StoreError::NotFound) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }
}
