//! `/api/servers/{server}/maintainers`: who manages a server besides its owner and the admins
//! (SPEC §8). Its managers read the list; its owner and admins add (by email) and remove.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use serde::{Deserialize, Serialize};

use super::servers::managed;
use super::users::parse_id;
use super::{ApiCaller, ApiError, ApiJson};
use crate::audit::{Audit, AuditAction, maintainer_changed};
use crate::servers::Servers;
use crate::state::AppState;
use crate::store::{Maintainer, Server, StoreError};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/servers/{server}/maintainers", get(list).post(add))
        .route("/api/servers/{server}/maintainers/{user}", delete(remove))
}

#[derive(Debug, Serialize)]
struct MaintainerView {
    user_id: String,
    email: String,
    role: &'static str,
    added_by: Option<String>,
    added_at: i64,
}

impl From<Maintainer> for MaintainerView {
    fn from(m: Maintainer) -> Self {
        Self {
            user_id: m.user_id.to_string(),
            email: m.email,
            role: m.role.as_str(),
            added_by: m.added_by.map(|id| id.to_string()),
            added_at: m.added_at,
        }
    }
}

#[derive(Debug, Serialize)]
struct OwnerView {
    user_id: String,
    email: String,
}

#[derive(Debug, Serialize)]
struct MaintainersReply {
    server: String,
    /// `null` when the server has no owner.
    owner: Option<OwnerView>,
    maintainers: Vec<MaintainerView>,
}

/// The server, when the caller may choose its maintainers (its owner or an admin).
async fn chosen_by(
    state: &AppState,
    caller: &ApiCaller,
    reference: &str,
) -> Result<Server, ApiError> {
    let server = managed(state, caller, reference).await?;
    if Servers::can_manage_maintainers(&caller.0, &server) {
        Ok(server)
    } else {
        Err(ApiError::Forbidden(format!(
            "you may not choose the maintainers of server `{}`: its owner and admins do",
            server.slug
        )))
    }
}

async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(server): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let server = managed(&state, &caller, &server).await?;
    let owner = match server.owner_id {
        Some(id) => match state.store.user_by_id(id).await {
            Ok(user) => Some(OwnerView {
                user_id: user.id.to_string(),
                email: user.email,
            }),
            Err(StoreError::NotFound) => None,
            Err(other) => return Err(other.into()),
        },
        None => None,
    };
    let maintainers = state.servers.maintainers(&server).await?;
    Ok(Json(MaintainersReply {
        server: server.slug,
        owner,
        maintainers: maintainers.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddMaintainer {
    email: String,
}

async fn add(
    State(state): State<AppState>,
    caller: ApiCaller,
    audit: Audit,
    Path(server): Path<String>,
    ApiJson(body): ApiJson<AddMaintainer>,
) -> Result<impl IntoResponse, ApiError> {
    let server = chosen_by(&state, &caller, &server).await?;
    let added = state
        .servers
        .add_maintainer(&server, &body.email, Some(caller.0.id))
        .await?;
    audit
        .record(
            &caller.0,
            maintainer_changed(
                AuditAction::MaintainerAdded,
                &server,
                added.user_id,
                Some(&added.email),
            ),
        )
        .await;
    Ok((StatusCode::CREATED, Json(MaintainerView::from(added))))
}

async fn remove(
    State(state): State<AppState>,
    caller: ApiCaller,
    audit: Audit,
    Path((server, user)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let server = chosen_by(&state, &caller, &server).await?;
    let user_id = parse_id(&user, "user")?;
    let email = state.store.user_by_id(user_id).await.ok().map(|u| u.email);
    state
        .servers
        .remove_maintainer(&server, user_id, Some(caller.0.id))
        .await?;
    audit
        .record(
            &caller.0,
            maintainer_changed(
                AuditAction::MaintainerRemoved,
                &server,
                user_id,
                email.as_deref(),
            ),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}
