//! Who calls the JSON API: the user behind an API token ([`ApiCaller`]).

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use secrecy::SecretString;

use super::ApiError;
use crate::api_tokens::{API_TOKEN_PREFIX, ApiTokens};
use crate::store::{Role, User};

/// The enabled user behind `Authorization: Bearer <API token>` (unexpired), with their
/// current role.
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
    ApiTokens: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = gumstack_protocol::bearer::bearer_token(&parts.headers)
            .filter(|t| t.starts_with(API_TOKEN_PREFIX))
            .ok_or(ApiError::Unauthenticated)?;
        match ApiTokens::from_ref(state)
            .authenticate(&SecretString::from(token.to_owned()))
            .await
        {
            Ok(Some(user)) => Ok(Self(user)),
            Ok(None) => Err(ApiError::Unauthenticated),
            Err(other) => Err(other.into()),
        }
    }
}
