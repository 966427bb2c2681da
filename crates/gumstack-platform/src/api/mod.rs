//! The JSON API (docs/API.md): `Authorization: Bearer <admin token>`, servers addressed by slug
//! or UUID, errors as `{"error": {"code", "message"}}`.

mod activity;
mod audit;
mod caller;
mod connections;
mod credentials;
mod error;
mod groups;
mod maintainers;
mod server_tools;
mod servers;
mod tokens;
mod users;

pub use crate::api_tokens::API_TOKEN_PREFIX;
pub use caller::ApiCaller;
pub use error::ApiError;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .nest("/api/servers", servers::router())
        .nest("/api/activity", activity::router())
        .merge(maintainers::router())
        .nest("/api/users", users::router())
        .nest("/api/groups", groups::router())
        .nest("/api/tokens", tokens::router())
        .nest("/api/audit", audit::router())
        .nest("/api/me/credentials", credentials::router())
        .nest("/api/me/connections", connections::router())
}

/// A JSON body whose rejection is an [`ApiError`] saying exactly what is wrong.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_problem(&rejection)),
        }
    }
}

fn json_problem(rejection: &JsonRejection) -> ApiError {
    let code = match rejection {
        JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
        _ => "invalid_json",
    };
    ApiError::invalid(code, rejection.body_text())
}
