//! Who calls the JSON API: the user behind an admin API token ([`ApiCaller`]).

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use secrecy::SecretString;

use super::ApiError;
use crate::clock::Clock;
use crate::crypto::token_hash;
use crate::store::{Role, Store, StoreError, User};

/// Prefix of admin API tokens.
pub const API_TOKEN_PREFIX: &str = "gsk_";

/// The user behind `Authorization: Bearer <admin token>`.
#[derive(Debug, Clone)]
pub struct ApiCaller(pub User);

impl ApiCaller {
    /// Refuses callers without the role a resource needs.
    pub fn require(&self, allowed: impl Fn(Role) -> bool, what: &str) -> Result<&User, ApiError> {
        if allowed(self.0.role) {
            Ok(&self.0)
        } else {
            Err(ApiError::Forbidden(format!(
                "your role ({}) may not {what}",
                self.0.role.as_str()
            )))
        }
    }
}

impl<S> FromRequestParts<S> for ApiCaller
where
    S: Send + Sync,
    Arc<dyn Store>: FromRef<S>,
    Arc<dyn Clock>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = gumstack_protocol::bearer::bearer_token(&parts.headers)
            .filter(|t| t.starts_with(API_TOKEN_PREFIX))
            .ok_or(ApiError::Unauthenticated)?;
        let store = Arc::<dyn Store>::from_ref(state);
        let hash = token_hash(&SecretString::from(token.to_owned()));
        match store
            .api_token_user(&hash, Arc::<dyn Clock>::from_ref(state).now())
            .await
        {
            Ok(user) => Ok(Self(user)),
            Err(StoreError::NotFound) => Err(ApiError::Unauthenticated),
            Err(other) => Err(other.into()),
        }
    }
}
