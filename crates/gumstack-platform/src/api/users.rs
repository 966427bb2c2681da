//! `/api/users`: admins list and add accounts.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ApiCaller;
use super::ApiError;
use super::ApiJson;
use crate::state::AppState;
use crate::store::{Role, User};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/", get(list).post(create))
}

fn admin(caller: &ApiCaller) -> Result<(), ApiError> {
    caller
        .require(|r| r == Role::Admin, "manage users")
        .map(|_| ())
}

#[derive(Debug, Serialize)]
struct UserView {
    id: String,
    email: String,
    role: Role,
    org_id: String,
    group_id: String,
    created_at: i64,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email,
            role: u.role,
            org_id: u.org_id.to_string(),
            group_id: u.group_id.to_string(),
            created_at: u.created_at,
        }
    }
}

async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<impl IntoResponse, ApiError> {
    admin(&caller)?;
    let users = state.store.list_users().await?;
    let views: Vec<UserView> = users.into_iter().map(Into::into).collect();
    Ok(Json(json!({ "users": views })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    email: String,
    role: Role,
    password: Option<SecretString>,
}

async fn create(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<impl IntoResponse, ApiError> {
    admin(&caller)?;
    let created = state
        .accounts
        .create(&body.email, body.role, body.password)
        .await?;
    let mut out = json!({ "user": UserView::from(created.user) });
    if let Some(password) = created.generated_password {
        // Shown once, to the admin who created the account.
        out["generated_password"] = json!(password.expose_secret());
    }
    Ok((StatusCode::CREATED, Json(out)))
}
