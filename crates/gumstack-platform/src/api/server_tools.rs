//! `/api/servers/{server}/tools` (the tools × groups access matrix) and
//! `/api/servers/{server}/deployments` (the history with discovery and redacted output).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::json;

use super::{ApiCaller, ApiError};
use crate::server_tools::tool_matrix;
use crate::state::AppState;
use crate::store::{DeploymentRecord, Discovery};

/// How many deployments the history shows.
pub(super) const HISTORY: i64 = 50;

#[derive(Debug, Serialize)]
struct ToolView {
    name: String,
    description: Option<String>,
    /// `config`, `discovered`, `both`, or null for a tool only a decision names.
    source: Option<&'static str>,
    /// Per group id: `allow` or `deny`, what a member's call of the tool gets.
    access: serde_json::Map<String, serde_json::Value>,
}

/// `GET /api/servers/{server}/tools`: admins and developers see every group; a member sees
/// their own group's column only.
pub(super) async fn tools(
    State(state): State<AppState>,
    ApiCaller(user): ApiCaller,
    Path(server): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let server = state.visible_server(&user, &server).await?;
    let only = (!user.role.manages_servers()).then_some(user.group_id);
    let matrix = tool_matrix(&*state.store, &state.permissions, &server, only).await?;
    let groups: Vec<_> = matrix
        .columns
        .iter()
        .map(|column| {
            json!({
                "id": column.group.group.id,
                "name": column.group.group.name,
                "enabled": column.access.enabled,
                "default": if column.access.default_allow { "allow" } else { "deny" },
            })
        })
        .collect();
    let tools: Vec<ToolView> = matrix
        .rows
        .iter()
        .map(|row| ToolView {
            name: row.name.clone(),
            description: row.known.as_ref().and_then(|k| k.description.clone()),
            source: row.known.as_ref().map(|k| k.source.as_str()),
            access: matrix
                .columns
                .iter()
                .map(|column| {
                    let cell = column.cell(&row.name);
                    (
                        column.group.group.id.to_string(),
                        json!(if cell.allowed { "allow" } else { "deny" }),
                    )
                })
                .collect(),
        })
        .collect();
    Ok(Json(
        json!({ "server": server.slug, "groups": groups, "tools": tools }),
    ))
}

#[derive(Debug, Serialize)]
struct DeploymentView {
    id: String,
    generation: i64,
    status: &'static str,
    address: Option<String>,
    error: Option<String>,
    /// `{"status": "not_tried"}`, `{"status": "found", "tools": n}` or
    /// `{"status": "failed", "error": "…"}` (redacted).
    discovery: serde_json::Value,
    /// The process's last output (at most 16 KiB), redacted of the server's env values.
    output: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<DeploymentRecord> for DeploymentView {
    fn from(record: DeploymentRecord) -> Self {
        let d = record.deployment;
        Self {
            id: d.id.to_string(),
            generation: d.generation,
            status: d.status.as_str(),
            address: d.address,
            error: d.error,
            discovery: match record.discovery {
                Discovery::NotTried => json!({ "status": "not_tried" }),
                Discovery::Found(count) => json!({ "status": "found", "tools": count }),
                Discovery::Failed(error) => json!({ "status": "failed", "error": error }),
            },
            output: record.output,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// `GET /api/servers/{server}/deployments` (those who manage the server): newest first; the live
/// deployment's output is read from the running process.
pub(super) async fn deployments(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(server): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let server = super::servers::managed(&state, &caller, &server).await?;
    let mut history = state.store.deployment_history(server.id, HISTORY).await?;
    state.supervisor.with_live_output(server.id, &mut history);
    let views: Vec<DeploymentView> = history.into_iter().map(Into::into).collect();
    Ok(Json(json!({ "deployments": views })))
}
