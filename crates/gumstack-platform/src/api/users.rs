//! `/api/users`: admins list and add accounts, change roles, and disable, enable or delete
//! accounts (offboarding, with its report).

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, patch, post};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::ApiCaller;
use super::ApiError;
use super::ApiJson;
use crate::audit::{Audit, AuditAction, AuditEvent, Target};
use crate::connections::RevokeOutcome;
use crate::offboarding::OffboardReport;
use crate::state::AppState;
use crate::store::{Role, Timestamp, User};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(list).post(create))
        .route("/{id}", patch(update).delete(delete_user))
        .route("/{id}/disable", post(disable))
        .route("/{id}/enable", post(enable))
}

fn admin(caller: &ApiCaller) -> Result<(), ApiError> {
    caller
        .require(|r| r == Role::Admin, "manage users")
        .map(|_| ())
}

/// A UUID from the path: malformed is a 400 (an unknown one is the handler's 404).
pub(super) fn parse_id(raw: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::invalid("invalid_id", format!("`{raw}` is not a {what} id (a UUID)"))
    })
}

#[derive(Debug, Serialize)]
struct UserView {
    id: String,
    email: String,
    role: Role,
    org_id: String,
    group_id: String,
    created_at: i64,
    disabled_at: Option<Timestamp>,
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
            disabled_at: u.disabled_at,
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
    audit: Audit,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<impl IntoResponse, ApiError> {
    admin(&caller)?;
    let created = state
        .accounts
        .create(&body.email, body.role, body.password)
        .await?;
    audit
        .record(
            &caller.0,
            AuditEvent::new(AuditAction::UserCreated, Target::user(&created.user))
                .with("role", created.user.role.as_str()),
        )
        .await;
    let mut out = json!({ "user": UserView::from(created.user) });
    if let Some(password) = created.generated_password {
        // Shown once, to the admin who created the account.
        out["generated_password"] = json!(password.expose_secret());
    }
    Ok((StatusCode::CREATED, Json(out)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateUser {
    role: Role,
}

/// `PATCH /api/users/{id}` `{"role": …}`: a demotion ends the tokens of the higher role.
async fn update(
    State(state): State<AppState>,
    caller: ApiCaller,
    audit: Audit,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> Result<impl IntoResponse, ApiError> {
    admin(&caller)?;
    let id = parse_id(&id, "user")?;
    let (user, ended) = state.accounts.set_role(id, body.role).await?;
    audit
        .record(
            &caller.0,
            AuditEvent::new(AuditAction::UserRoleChanged, Target::user(&user))
                .with("role", user.role.as_str())
                .with("api_tokens_ended", ended),
        )
        .await;
    Ok(Json(
        json!({ "user": UserView::from(user), "api_tokens_ended": ended }),
    ))
}

/// The report of an offboarding as JSON.
pub(crate) fn report_json(report: &OffboardReport) -> Value {
    let connections: Vec<Value> = report
        .connections
        .iter()
        .map(|c| {
            let (outcome, error) = match &c.outcome {
                RevokeOutcome::Revoked => ("revoked", None),
                RevokeOutcome::Unsupported => (
                    "unsupported",
                    Some("the server's provider code cannot revoke at this provider".to_owned()),
                ),
                RevokeOutcome::Failed { why } => ("failed", Some(why.clone())),
            };
            json!({
                "server": c.server_slug,
                "server_name": c.server_name,
                "provider": c.provider,
                "nickname": c.nickname,
                "revoked": c.outcome.is_revoked(),
                "outcome": outcome,
                "error": error,
                "tokens_deleted": c.deleted,
            })
        })
        .collect();
    let mut out = json!({
        "user": { "id": report.user_id.to_string(), "email": report.email },
        "action": report.action,
        "ended": {
            "sessions": report.ended.sessions,
            "api_tokens": report.ended.api_tokens,
            "mcp_grants": report.ended.grants,
        },
        "connections": connections,
        "failures": report.failures(),
    });
    if let Some(removed) = &report.removed {
        out["removed"] = json!({
            "servers_reassigned": removed.servers_reassigned,
            "credentials": removed.credentials,
            "connections": removed.connections,
        });
    }
    out
}

/// `POST /api/users/{id}/disable`: the report; disabling again retries failed revocations.
async fn disable(
    State(state): State<AppState>,
    caller: ApiCaller,
    audit: Audit,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    admin(&caller)?;
    let id = parse_id(&id, "user")?;
    let report = state.offboarding.disable(id, Some(caller.0.id)).await?;
    audit
        .record(
            &caller.0,
            crate::audit::offboarded(AuditAction::UserDisabled, &report),
        )
        .await;
    Ok(Json(report_json(&report)))
}

async fn enable(
    State(state): State<AppState>,
    caller: ApiCaller,
    audit: Audit,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    admin(&caller)?;
    let id = parse_id(&id, "user")?;
    let user = state.offboarding.enable(id).await?;
    audit
        .record(
            &caller.0,
            AuditEvent::new(AuditAction::UserEnabled, Target::user(&user)),
        )
        .await;
    Ok(Json(json!({ "user": UserView::from(user) })))
}

/// `DELETE /api/users/{id}`: the report; the account's servers pass to the caller.
async fn delete_user(
    State(state): State<AppState>,
    caller: ApiCaller,
    audit: Audit,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    admin(&caller)?;
    let id = parse_id(&id, "user")?;
    let report = state
        .offboarding
        .delete(id, Some(caller.0.id), &caller.0)
        .await?;
    audit
        .record(
            &caller.0,
            crate::audit::offboarded(AuditAction::UserDeleted, &report),
        )
        .await;
    Ok(Json(report_json(&report)))
}
