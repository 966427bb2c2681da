//! `/api/groups`: admins manage permission groups, their members, and what each group may do
//! with each server (docs/API.md).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{ApiCaller, ApiError, ApiJson};
use crate::audit::{Audit, AuditAction, AuditEvent, Target, TargetKind};
use crate::state::AppState;
use crate::store::{GroupSummary, Role, ServerAccess};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(list).post(create))
        .route("/{group}", get(show).patch(rename).delete(remove))
        .route("/{group}/members/{user}", put(add_member))
        .route("/{group}/servers/{server}", get(access).put(set_access))
}

fn admin(caller: &ApiCaller) -> Result<(), ApiError> {
    caller
        .require(|r| r == Role::Admin, "manage permission groups")
        .map(|_| ())
}

fn id(text: &str, what: &'static str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| {
        ApiError::invalid(
            "invalid_id",
            format!("`{}` is not a {what} id", text.escape_debug()),
        )
    })
}

#[derive(Debug, Serialize)]
struct GroupView {
    id: String,
    name: String,
    default: bool,
    members: i64,
    created_at: i64,
}

impl From<GroupSummary> for GroupView {
    fn from(g: GroupSummary) -> Self {
        Self {
            id: g.group.id.to_string(),
            name: g.group.name,
            default: g.is_default,
            members: g.members,
            created_at: g.created_at,
        }
    }
}

async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<impl IntoResponse, ApiError> {
    admin(&caller)?;
    let groups: Vec<GroupView> = state
        .permissions
        .groups()
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(json!({ "groups": groups })))
}

async fn show(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(group): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    admin(&caller)?;
    let group = state.permissions.group(id(&group, "group")?).await?;
    Ok(Json(json!({ "group": GroupView::from(group) })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupName {
    name: String,
}

async fn create(
    State(state): State<AppState>,
    caller: ApiCaller,
    audit: Audit,
    ApiJson(body): ApiJson<GroupName>,
) -> Result<impl IntoResponse, ApiError> {
    admin(&caller)?;
    let group = state.permissions.create_group(&body.name).await?;
    let group = state.permissions.group(group.id).await?;
    audit
        .record(
            &caller.0,
            AuditEvent::new(
                AuditAction::GroupCreated,
                Target::new(TargetKind::Group, group.group.id, group.group.name.clone()),
            ),
        )
        .await;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "group": GroupView::from(group) })),
    ))
}

async fn rename(
    State(state): State<AppState>,
    caller: ApiCaller,
    audit: Audit,
    Path(group): Path<String>,
    ApiJson(body): ApiJson<GroupName>,
) -> Result<impl IntoResponse, ApiError> {
    admin(&caller)?;
    let group = id(&group, "group")?;
    let before = state.permissions.group(group).await?;
    state.permissions.rename_group(group, &body.name).await?;
    let group = state.permissions.group(group).await?;
    audit
        .record(
            &caller.0,
            AuditEvent::new(
                AuditAction::GroupRenamed,
                Target::new(TargetKind::Group, group.group.id, group.group.name.clone()),
            )
            .with("from", before.group.name),
        )
        .await;
    Ok(Json(json!({ "group": GroupView::from(group) })))
}

async fn remove(
    State(state): State<AppState>,
    caller: ApiCaller,
    audit: Audit,
    Path(group): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    admin(&caller)?;
    let group = state.permissions.group(id(&group, "group")?).await?;
    state.permissions.delete_group(group.group.id).await?;
    audit
        .record(
            &caller.0,
            AuditEvent::new(
                AuditAction::GroupDeleted,
                Target::new(TargetKind::Group, group.group.id, group.group.name),
            ),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_member(
    State(state): State<AppState>,
    caller: ApiCaller,
    audit: Audit,
    Path((group, user)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    admin(&caller)?;
    let (group, user) = (id(&group, "group")?, id(&user, "user")?);
    state.permissions.move_user(user, group).await?;
    if let (Ok(user), Ok(group)) = (
        state.store.user_by_id(user).await,
        state.permissions.group(group).await,
    ) {
        audit
            .record(
                &caller.0,
                crate::audit::group_changed(&user, group.group.id, &group.group.name),
            )
            .await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `allow` or `deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Decision {
    Allow,
    Deny,
}

impl Decision {
    fn of(allowed: bool) -> Self {
        if allowed { Self::Allow } else { Self::Deny }
    }

    fn allows(self) -> bool {
        self == Self::Allow
    }
}

/// What a group may do with a server, as the API reads and writes it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessView {
    /// May the group use the server at all?
    enabled: bool,
    /// What tools without their own decision get (new tools follow it).
    default: Decision,
    /// Per-tool decisions.
    #[serde(default)]
    tools: BTreeMap<String, Decision>,
}

impl From<ServerAccess> for AccessView {
    fn from(access: ServerAccess) -> Self {
        Self {
            enabled: access.enabled,
            default: Decision::of(access.default_allow),
            tools: access
                .tools
                .into_iter()
                .map(|(tool, allowed)| (tool, Decision::of(allowed)))
                .collect(),
        }
    }
}

async fn access(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path((group, server)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    admin(&caller)?;
    let group = id(&group, "group")?;
    let server = state.servers.resolve(&server).await?;
    let access = state.permissions.server_access(group, server.id).await?;
    Ok(Json(
        json!({ "server": server.slug, "access": AccessView::from(access) }),
    ))
}

async fn set_access(
    State(state): State<AppState>,
    caller: ApiCaller,
    audit: Audit,
    Path((group, server)): Path<(String, String)>,
    ApiJson(body): ApiJson<AccessView>,
) -> Result<impl IntoResponse, ApiError> {
    admin(&caller)?;
    let group = id(&group, "group")?;
    let server = state.servers.resolve(&server).await?;
    let access = ServerAccess {
        enabled: body.enabled,
        default_allow: body.default.allows(),
        tools: body
            .tools
            .into_iter()
            .map(|(tool, decision)| (tool, decision.allows()))
            .collect(),
    };
    let stored = state
        .permissions
        .set_server_access(group, server.id, access)
        .await?;
    if let Ok(summary) = state.permissions.group(group).await {
        audit
            .record(
                &caller.0,
                crate::audit::access_changed(
                    summary.group.id,
                    &summary.group.name,
                    &server,
                    &stored,
                ),
            )
            .await;
    }
    Ok(Json(
        json!({ "server": server.slug, "access": AccessView::from(stored) }),
    ))
}
