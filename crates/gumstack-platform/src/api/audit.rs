//! `GET /api/audit`: the audit trail for admins, newest first, with the page's filters and a
//! keyset cursor (`before`).

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use serde::Serialize;
use serde_json::{Value, json};

use super::{ApiCaller, ApiError};
use crate::audit::{AuditFilter, FilterParams};
use crate::state::AppState;
use crate::store::{AuditRecord, Role};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/", get(list))
}

/// A record as the API shows it.
#[derive(Debug, Serialize)]
struct RecordView {
    seq: i64,
    at: i64,
    actor: String,
    actor_id: Option<String>,
    action: String,
    target_kind: String,
    target_id: Option<String>,
    target: String,
    details: Value,
    source: Option<String>,
    hash: String,
}

impl From<AuditRecord> for RecordView {
    fn from(record: AuditRecord) -> Self {
        let d = record.draft;
        Self {
            seq: record.seq,
            at: d.at,
            actor: d.actor_label,
            actor_id: d.actor_id,
            action: d.action,
            target_kind: d.target_kind,
            target_id: d.target_id,
            target: d.target_label,
            details: serde_json::from_str(&d.details).unwrap_or(Value::String(d.details)),
            source: d.source,
            hash: record.hash,
        }
    }
}

/// Query parameters: see [`FilterParams`].
async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
    params: Result<Query<FilterParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.require(|r| r == Role::Admin, "read the audit trail")?;
    let Query(params) = params.map_err(|e| ApiError::invalid("invalid_filter", e.body_text()))?;
    let filter = AuditFilter::parse(&params)?;
    let page = state.audit.page(&filter, filter.limit).await?;
    let records: Vec<RecordView> = page.records.into_iter().map(Into::into).collect();
    Ok(Json(json!({
        "records": records,
        "next_before": page.next_before,
    })))
}
