//! `/api/servers`: create, list, get, update, enable/disable, delete, redeploy; env vars;
//! deployments. Admins and developers list and read every server; changing one, and reading
//! its env vars and deployments, takes managing it ([`managed`]).

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ApiCaller;
use super::ApiError;
use super::ApiJson;
use crate::audit::{Audit, AuditAction, AuditEvent, Target};
use crate::servers::{NewServer, ServerPatch};
use crate::state::AppState;
use crate::store::{EnvVarMeta, Role, RuntimeSpec, Server};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(list).post(create))
        .route("/{server}", get(show).patch(update).delete(remove))
        .route("/{server}/enable", post(enable))
        .route("/{server}/disable", post(disable))
        .route("/{server}/redeploy", post(redeploy))
        .route(
            "/{server}/deployments",
            get(super::server_tools::deployments),
        )
        .route("/{server}/tools", get(super::server_tools::tools))
        .route("/{server}/env", get(list_env))
        .route("/{server}/env/{name}", put(set_env).delete(delete_env))
}

const MANAGE: &str = "manage servers";

fn manager(caller: &ApiCaller) -> Result<(), ApiError> {
    caller.require(Role::manages_servers, MANAGE).map(|_| ())
}

/// The server `reference` names, when the caller manages it: admins every server, developers
/// those they own or maintain ([`Servers::can_manage`](crate::servers::Servers::can_manage)).
/// Members are refused before the server is looked up; other developers get 403.
pub(super) async fn managed(
    state: &AppState,
    caller: &ApiCaller,
    reference: &str,
) -> Result<Server, ApiError> {
    manager(caller)?;
    let server = state.servers.resolve(reference).await?;
    if state.servers.can_manage(&caller.0, &server).await? {
        Ok(server)
    } else {
        Err(ApiError::Forbidden(format!(
            "you may not manage server `{}`: its owner, its maintainers and admins do",
            server.slug
        )))
    }
}

/// A server as the API shows it.
#[derive(Debug, Serialize)]
pub(super) struct ServerView {
    id: String,
    slug: String,
    name: String,
    description: String,
    icon: Option<String>,
    auth_type: &'static str,
    enabled: bool,
    mcp_url: String,
    config_yaml: String,
    runtime: Option<RuntimeSpec>,
    deploy_generation: i64,
    /// The deployment serving the server now, if any.
    live: Option<LiveView>,
    created_at: i64,
    updated_at: i64,
}

#[derive(Debug, Serialize)]
struct LiveView {
    deployment_id: String,
    generation: i64,
    /// The server process's own loopback URL (what the gateway forwards to).
    direct_url: String,
    status: String,
    /// How its process is contained: its own uid (`null`: the platform's) and what is missing.
    isolation: IsolationView,
}

#[derive(Debug, Serialize)]
struct IsolationView {
    uid: Option<u32>,
    missing: Vec<String>,
}

fn view(state: &AppState, server: Server) -> ServerView {
    let live = state.supervisor.live(server.id).map(|live| LiveView {
        deployment_id: live.deployment_id.to_string(),
        generation: live.generation,
        direct_url: format!("http://{}/mcp", live.addr()),
        status: format!("{:?}", *live.handle.status().borrow()).to_lowercase(),
        isolation: {
            let containment = live.handle.containment();
            IsolationView {
                uid: containment.uid,
                missing: containment.missing,
            }
        },
    });
    ServerView {
        id: server.id.to_string(),
        mcp_url: state.urls.mcp_url(&server.slug),
        slug: server.slug,
        name: server.name,
        description: server.description,
        icon: server.icon,
        auth_type: server.auth_type.as_str(),
        enabled: server.enabled,
        config_yaml: server.config_yaml,
        runtime: server.runtime,
        deploy_generation: server.deploy_generation,
        live,
        created_at: server.created_at,
        updated_at: server.updated_at,
    }
}

async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
) -> Result<impl IntoResponse, ApiError> {
    manager(&caller)?;
    let servers = state.servers.list().await?;
    let views: Vec<ServerView> = servers.into_iter().map(|s| view(&state, s)).collect();
    Ok(Json(json!({ "servers": views })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateServer {
    config_yaml: String,
    runtime: Option<RuntimeSpec>,
    name: Option<String>,
    description: Option<String>,
    icon: Option<String>,
    slug: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    caller: ApiCaller,
    audit: Audit,
    ApiJson(body): ApiJson<CreateServer>,
) -> Result<impl IntoResponse, ApiError> {
    manager(&caller)?;
    let server = state
        .servers
        .create(NewServer {
            config_yaml: body.config_yaml,
            runtime: body.runtime,
            name: body.name,
            description: body.description,
            icon: body.icon,
            slug: body.slug,
            owner_id: Some(caller.0.id),
        })
        .await?;
    audit
        .record(
            &caller.0,
            AuditEvent::new(AuditAction::ServerCreated, Target::server(&server))
                .with("auth_type", server.auth_type.as_str()),
        )
        .await;
    Ok((StatusCode::CREATED, Json(view(&state, server))))
}

async fn show(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(server): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    manager(&caller)?;
    let server = state.servers.resolve(&server).await?;
    Ok(Json(view(&state, server)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateServer {
    name: Option<String>,
    description: Option<String>,
    #[serde(default, with = "double_option")]
    icon: Option<Option<String>>,
    config_yaml: Option<String>,
    #[serde(default, with = "double_option")]
    runtime: Option<Option<RuntimeSpec>>,
    auth_type: Option<String>,
}

/// `null` clears a field, absence leaves it alone.
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub(super) fn deserialize<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

async fn update(
    State(state): State<AppState>,
    caller: ApiCaller,
    audit: Audit,
    Path(server): Path<String>,
    ApiJson(body): ApiJson<UpdateServer>,
) -> Result<impl IntoResponse, ApiError> {
    let server = managed(&state, &caller, &server).await?;
    let patch = ServerPatch {
        name: body.name,
        description: body.description,
        icon: body.icon,
        config_yaml: body.config_yaml,
        runtime: body.runtime,
        auth_type: body.auth_type,
    };
    let fields = crate::audit::patched_fields(&patch);
    let server = state.servers.update(&server.id.to_string(), patch).await?;
    audit
        .record(
            &caller.0,
            AuditEvent::new(AuditAction::ServerUpdated, Target::server(&server))
                .with("fields", fields),
        )
        .await;
    Ok(Json(view(&state, server)))
}

async fn enable(
    State(state): State<AppState>,
    caller: ApiCaller,
    audit: Audit,
    Path(server): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let server = managed(&state, &caller, &server).await?;
    let server = state
        .servers
        .set_enabled(&server.id.to_string(), true)
        .await?;
    audit
        .record(
            &caller.0,
            AuditEvent::new(AuditAction::ServerEnabled, Target::server(&server)),
        )
        .await;
    Ok(Json(view(&state, server)))
}

async fn disable(
    State(state): State<AppState>,
    caller: ApiCaller,
    audit: Audit,
    Path(server): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let server = managed(&state, &caller, &server).await?;
    let server = state
        .servers
        .set_enabled(&server.id.to_string(), false)
        .await?;
    audit
        .record(
            &caller.0,
            AuditEvent::new(AuditAction::ServerDisabled, Target::server(&server)),
        )
        .await;
    Ok(Json(view(&state, server)))
}

async fn remove(
    State(state): State<AppState>,
    caller: ApiCaller,
    audit: Audit,
    Path(server): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let server = managed(&state, &caller, &server).await?;
    state.servers.delete(&server.id.to_string()).await?;
    audit
        .record(
            &caller.0,
            AuditEvent::new(AuditAction::ServerDeleted, Target::server(&server)),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

async fn redeploy(
    State(state): State<AppState>,
    caller: ApiCaller,
    audit: Audit,
    Path(server): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let server = managed(&state, &caller, &server).await?;
    let generation = state.servers.redeploy(&server.id.to_string()).await?;
    audit
        .record(
            &caller.0,
            AuditEvent::new(AuditAction::ServerRedeployed, Target::server(&server))
                .with("generation", generation),
        )
        .await;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "deploy_generation": generation })),
    ))
}

/// An env var as listed: the value is write-only and never returned.
#[derive(Debug, Serialize)]
struct EnvVarView {
    name: String,
    value: &'static str,
    created_at: i64,
    updated_at: i64,
}

impl From<EnvVarMeta> for EnvVarView {
    fn from(meta: EnvVarMeta) -> Self {
        Self {
            name: meta.name,
            value: "********",
            created_at: meta.created_at,
            updated_at: meta.updated_at,
        }
    }
}

async fn list_env(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(server): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let server = managed(&state, &caller, &server).await?;
    let vars = state.servers.list_env(&server.id.to_string()).await?;
    let views: Vec<EnvVarView> = vars.into_iter().map(Into::into).collect();
    Ok(Json(json!({
        "env": views,
        "note": "values are write-only; changes take effect on the next deployment (POST .../redeploy)"
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetEnv {
    value: SecretString,
}

async fn set_env(
    State(state): State<AppState>,
    caller: ApiCaller,
    audit: Audit,
    Path((server, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<SetEnv>,
) -> Result<impl IntoResponse, ApiError> {
    let server = managed(&state, &caller, &server).await?;
    let created = state
        .servers
        .set_env(&server.id.to_string(), &name, &body.value)
        .await?;
    audit
        .record(
            &caller.0,
            AuditEvent::new(AuditAction::EnvVarSet, Target::server(&server))
                .with("name", name.as_str())
                .with("created", created),
        )
        .await;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({
            "name": name,
            "value": "********",
            "note": "takes effect on the next deployment (POST .../redeploy)"
        })),
    ))
}

async fn delete_env(
    State(state): State<AppState>,
    caller: ApiCaller,
    audit: Audit,
    Path((server, name)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let server = managed(&state, &caller, &server).await?;
    state
        .servers
        .delete_env(&server.id.to_string(), &name)
        .await?;
    audit
        .record(
            &caller.0,
            AuditEvent::new(AuditAction::EnvVarDeleted, Target::server(&server))
                .with("name", name.as_str()),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}
