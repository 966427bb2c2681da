//! `/api/activity`: the activity log of tool calls (docs/API.md). Every caller reads the calls
//! their role lets them see ([`crate::activity_views`]): admins all, developers their own
//! and those to servers they own or maintain, members their own.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ApiCaller, ApiError};
use crate::activity::{InFlightCall, unix_millis};
use crate::activity_views::{
    self, ActivityParams, MAX_PAGE_SIZE, PAGE_SIZE, STATS_DAYS, rfc3339_ms,
};
use crate::state::AppState;
use crate::store::{ActivityRecord, ActivityStats, StoreError};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(list))
        .route("/stats", get(stats))
        .route("/export", get(export))
        .route("/{id}", get(show))
}

#[derive(Debug, Deserialize)]
struct ListParams {
    #[serde(flatten)]
    filters: ActivityParams,
    #[serde(default)]
    limit: String,
}

#[derive(Debug, Serialize)]
struct CallView {
    id: i64,
    server_id: String,
    server: Option<String>,
    tool: String,
    user_id: String,
    user: Option<String>,
    client_id: Option<String>,
    client: Option<String>,
    status: &'static str,
    started_at: String,
    latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_truncated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_truncated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Option<String>>,
}

/// A call in progress: no id yet (it has no row until it ends), and how long it has run.
#[derive(Debug, Serialize)]
struct InProgressView {
    call_id: String,
    server_id: String,
    tool: String,
    user_id: String,
    client_id: String,
    status: &'static str,
    started_at: String,
    running_ms: i64,
}

impl InProgressView {
    fn new(call: InFlightCall, now_ms: i64) -> Self {
        Self {
            running_ms: now_ms.saturating_sub(call.started_at).max(0),
            started_at: rfc3339_ms(call.started_at),
            call_id: call.call_id,
            server_id: call.server_id,
            tool: call.tool,
            user_id: call.user_id,
            client_id: call.client_id,
            status: "in_progress",
        }
    }
}

impl From<ActivityRecord> for CallView {
    fn from(record: ActivityRecord) -> Self {
        let bodies = record.bodies;
        Self {
            id: record.id,
            server_id: record.server_id.to_string(),
            server: record.server_slug,
            tool: record.tool,
            user_id: record.user_id.to_string(),
            user: record.user_email,
            client_id: record.client_id,
            client: record.client_name,
            status: record.status.as_str(),
            started_at: rfc3339_ms(record.started_at_ms),
            latency_ms: record.duration_us as f64 / 1000.0,
            input: bodies.as_ref().map(|b| b.input.clone()),
            input_truncated: bodies.as_ref().map(|b| b.input_truncated),
            output: bodies.as_ref().map(|b| b.output.clone()),
            output_truncated: bodies.as_ref().map(|b| b.output_truncated),
            error: bodies.map(|b| b.error),
        }
    }
}

/// `GET /api/activity`: a page of calls, newest first; `next` continues it.
async fn list(
    State(state): State<AppState>,
    caller: ApiCaller,
    Query(params): Query<ListParams>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = match params.limit.trim() {
        "" => PAGE_SIZE,
        text => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    "invalid_filter",
                    format!(
                        "`limit` must be a number from 1 to {MAX_PAGE_SIZE} (got `{}`)",
                        text.escape_debug()
                    ),
                )
            })?,
    };
    let query = activity_views::resolve(&state, &caller.0, &params.filters).await?;
    if query.in_progress_only {
        // Calls in progress live in memory on this instance, never in the store: one page.
        let now_ms = unix_millis(std::time::SystemTime::now());
        let calls: Vec<InProgressView> = activity_views::in_progress(&state, &query)
            .into_iter()
            .take(limit as usize)
            .map(|call| InProgressView::new(call, now_ms))
            .collect();
        return Ok(Json(json!({ "calls": calls, "next": null })));
    }
    let mut records = state
        .store
        .activity_page(&query.filter, query.before, limit + 1, false)
        .await?;
    let next = (records.len() > limit as usize).then(|| {
        records.truncate(limit as usize);
        records.last().map(|r| r.cursor().encode())
    });
    let calls: Vec<CallView> = records.into_iter().map(Into::into).collect();
    Ok(Json(json!({ "calls": calls, "next": next.flatten() })))
}

/// `GET /api/activity/{id}`: one call with its input, output and error.
async fn show(
    State(state): State<AppState>,
    caller: ApiCaller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let not_found = || ApiError::NotFound(format!("no call `{}`", id.escape_debug()));
    let number = id.parse::<i64>().map_err(|_| not_found())?;
    let visible = activity_views::visibility(&state, &caller.0).await?;
    match state.store.activity_record(number, &visible).await {
        Ok(record) => Ok(Json(json!({ "call": CallView::from(record) }))),
        Err(StoreError::NotFound) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Serialize)]
struct StatsView {
    days: i64,
    calls: i64,
    users: i64,
    errors: i64,
    denied: i64,
    error_rate: Option<f64>,
    latency_ms: LatencyView,
    lost_records: i64,
}

#[derive(Debug, Serialize)]
struct LatencyView {
    mean: Option<f64>,
    p50: Option<f64>,
    p95: Option<f64>,
}

fn stats_view(stats: ActivityStats, lost: i64) -> StatsView {
    let ms = |us: Option<i64>| us.map(|us| us as f64 / 1000.0);
    StatsView {
        days: STATS_DAYS,
        calls: stats.calls,
        users: stats.users,
        errors: stats.errors,
        denied: stats.denied,
        error_rate: stats.error_rate(),
        latency_ms: LatencyView {
            mean: ms(stats.mean_us),
            p50: ms(stats.p50_us),
            p95: ms(stats.p95_us),
        },
        lost_records: lost,
    }
}

/// `GET /api/activity/stats`: the last seven days of the calls the caller may see, of one
/// server or user when `server` or `user` is given.
async fn stats(
    State(state): State<AppState>,
    caller: ApiCaller,
    Query(params): Query<ActivityParams>,
) -> Result<impl IntoResponse, ApiError> {
    let query = activity_views::resolve(&state, &caller.0, &params).await?;
    let stats = activity_views::recent_stats(&state, &query.filter).await?;
    let lost = activity_views::recently_lost(&state).await?;
    Ok(Json(json!({ "stats": stats_view(stats, lost) })))
}

/// `GET /api/activity/export`: the calls the filters match, as CSV, streamed.
async fn export(
    State(state): State<AppState>,
    caller: ApiCaller,
    Query(params): Query<ActivityParams>,
) -> Result<Response, ApiError> {
    let query = activity_views::resolve(&state, &caller.0, &params).await?;
    Ok(activity_views::export_response(&state, query))
}
