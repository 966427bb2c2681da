//! `/api/tokens`: the caller's API tokens (an admin's view is everyone's), and revoking one.
//! Tokens are made in the dashboard or with `gumstackd token create`, never with a token.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use serde::Serialize;
use serde_json::json;

use super::users::parse_id;
use super::{ApiCaller, ApiError};
use crate::audit::Audit;
use crate::state::AppState;
use crate::store::{ApiToken, Role, Timestamp};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(list))
        .route("/{id}", delete(revoke))
}

/// A token as lists show it: never the token itself (only its hash is stored).
#[derive(Debug, Serialize)]
pub(crate) struct TokenView {
    id: String,
    name: String,
    user: serde_json::Value,
    /// The role the user had when it was made (it acts with the user's current role).
    created_as: Role,
    created_at: Timestamp,
    expires_at: Timestamp,
    last_used_at: Option<Timestamp>,
    expired: bool,
}

impl TokenView {
    pub(crate) fn new(t: ApiToken, now: Timestamp) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name,
            user: json!({ "id": t.user_id.to_string(), "email": t.user_email }),
            created_as: t.role,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            expired: t.expires_at <= now,
        }
    }
}

async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<impl IntoResponse, ApiError> {
    let now = state.clock.now();
    let tokens = state.api_tokens.visible_to(&caller.0).await?;
    let views: Vec<TokenView> = tokens.into_iter().map(|t| TokenView::new(t, now)).collect();
    Ok(Json(json!({ "tokens": views })))
}

/// `DELETE /api/tokens/{id}`: one's own token, or anyone's for an admin (another user's token
/// is a 404 for anyone else, as if it did not exist).
async fn revoke(
    State(state): State<AppState>,
    caller: ApiCaller,
    audit: Audit,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = parse_id(&id, "token")?;
    let token = state.api_tokens.revoke(Some(&caller.0), id).await?;
    audit
        .record(&caller.0, crate::audit::token_revoked(&token))
        .await;
    Ok(StatusCode::NO_CONTENT)
}
