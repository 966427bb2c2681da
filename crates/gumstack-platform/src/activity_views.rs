//! Reading the activity log as its three surfaces do (the pages, the CSV export, the JSON
//! API): who may see which calls, the filters of a query string, the export, and how times
//! and latencies read.
//!
//! Who sees what: admins every call; developers their own calls and every call to the servers
//! they own or maintain; members their own calls. A call a reader may see, they see whole
//! (its input, output and error, already redacted when written).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;
use uuid::Uuid;

use crate::activity::InFlightCall;
use crate::error::{DomainError, ErrorClass, Internal};
use crate::state::AppState;
use crate::store::{
    ActivityCursor, ActivityFilter, ActivityRecord, ActivityStats, CallStatus, Role, Store,
    StoreError, User, Visibility,
};

/// Calls on a page of the dashboard, and by default in the API.
pub(crate) const PAGE_SIZE: u32 = 50;
/// The most calls one API page may ask for.
pub(crate) const MAX_PAGE_SIZE: u32 = 200;
/// The period of the Overview's stats.
pub(crate) const STATS_DAYS: i64 = 7;
/// Calls read per query while exporting.
const EXPORT_BATCH: u32 = 500;
const MAX_TOOL_LEN: usize = 200;
const DAY_MS: i64 = 86_400_000;

/// Why a query of the activity log failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ActivityError {
    /// A filter of the query is invalid; the message says which and why.
    #[error("{0}")]
    Invalid(String),
    /// No call of this id that the reader may see.
    #[error("no such call")]
    NotFound,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for ActivityError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::NotFound,
            other => Self::Internal(other.into()),
        }
    }
}

impl DomainError for ActivityError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Invalid(_) => ErrorClass::Invalid,
            Self::NotFound => ErrorClass::NotFound,
            Self::Internal(err) => err.class(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_filter",
            Self::NotFound => "not_found",
            Self::Internal(err) => err.code(),
        }
    }
}

/// The filters of a query string, as sent; empty means "any" (an HTML form sends its empty
/// fields).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ActivityParams {
    /// `success`, `error`, `denied` or `in_progress`.
    #[serde(default)]
    pub status: String,
    /// A server's slug.
    #[serde(default)]
    pub server: String,
    #[serde(default)]
    pub tool: String,
    /// A user's email.
    #[serde(default)]
    pub user: String,
    /// The first day, `YYYY-MM-DD` (UTC).
    #[serde(default)]
    pub from: String,
    /// The last day, `YYYY-MM-DD` (UTC), included.
    #[serde(default)]
    pub to: String,
    /// Where the previous page ended ([`ActivityCursor::encode`]).
    #[serde(default)]
    pub before: String,
}

impl ActivityParams {
    /// The query string that repeats these filters (without `before`), for links and the
    /// export; starts with `?` unless empty.
    pub(crate) fn query_string(&self, before: Option<ActivityCursor>) -> String {
        let before = before.map(ActivityCursor::encode);
        let pairs = [
            ("status", self.status.as_str()),
            ("server", self.server.as_str()),
            ("tool", self.tool.as_str()),
            ("user", self.user.as_str()),
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
            ("before", before.as_deref().unwrap_or("")),
        ];
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in pairs.into_iter().filter(|(_, v)| !v.trim().is_empty()) {
            out.append_pair(name, value.trim());
        }
        let out = out.finish();
        if out.is_empty() {
            out
        } else {
            format!("?{out}")
        }
    }
}

/// A query of the activity log, checked and resolved.
#[derive(Debug, Clone)]
pub(crate) struct ActivityQuery {
    pub filter: ActivityFilter,
    pub before: Option<ActivityCursor>,
    /// Only calls in progress were asked for: nothing stored matches.
    pub in_progress_only: bool,
}

/// Which calls `viewer` may see.
pub(crate) async fn visibility(
    state: &AppState,
    viewer: &User,
) -> Result<Visibility, ActivityError> {
    if viewer.role == Role::Admin {
        return Ok(Visibility::All);
    }
    let servers = if viewer.role == Role::Developer {
        // The servers they manage: those they own or maintain (`Servers::can_manage`'s rule).
        let managed = state.servers.managed_by(viewer).await?;
        state
            .store
            .list_servers()
            .await?
            .into_iter()
            .filter(|server| managed.includes(server))
            .map(|server| server.id)
            .collect()
    } else {
        Vec::new()
    };
    Ok(Visibility::Limited {
        user_id: viewer.id,
        servers,
    })
}

/// Checks and resolves `params` for `viewer`. A user or server that does not exist matches no
/// call rather than failing, so the filters can't be used to learn who has an account.
pub(crate) async fn resolve(
    state: &AppState,
    viewer: &User,
    params: &ActivityParams,
) -> Result<ActivityQuery, ActivityError> {
    let mut filter = ActivityFilter::visible(visibility(state, viewer).await?);
    let mut in_progress_only = false;
    match params.status.trim() {
        "" => {}
        "in_progress" => in_progress_only = true,
        other => {
            filter.status = Some(CallStatus::parse(other).ok_or_else(|| {
                ActivityError::Invalid(format!(
                    "`status` must be one of success, error, denied, in_progress (got `{}`)",
                    other.escape_debug()
                ))
            })?);
        }
    }
    let server = params.server.trim();
    if !server.is_empty() {
        filter.server_id = Some(match state.store.server_by_slug(server).await {
            Ok(server) => server.id,
            Err(StoreError::NotFound) => Uuid::nil(),
            Err(e) => return Err(e.into()),
        });
    }
    let user = params.user.trim();
    if !user.is_empty() {
        filter.user_id = Some(match state.store.user_by_email(user).await {
            Ok(user) => user.id,
            Err(StoreError::NotFound) => Uuid::nil(),
            Err(e) => return Err(e.into()),
        });
    }
    let tool = params.tool.trim();
    if tool.len() > MAX_TOOL_LEN {
        return Err(ActivityError::Invalid(format!(
            "`tool` is longer than {MAX_TOOL_LEN} characters"
        )));
    }
    if !tool.is_empty() {
        filter.tool = Some(tool.to_owned());
    }
    filter.from_ms = day_start("from", &params.from)?;
    filter.until_ms = day_start("to", &params.to)?.map(|start| start + DAY_MS);
    if let (Some(from), Some(until)) = (filter.from_ms, filter.until_ms)
        && from >= until
    {
        return Err(ActivityError::Invalid(
            "`from` is after `to`: the period is empty".to_owned(),
        ));
    }
    let before = match params.before.trim() {
        "" => None,
        text => Some(ActivityCursor::decode(text).ok_or_else(|| {
            ActivityError::Invalid(format!(
                "`before` is not a page position (got `{}`)",
                text.escape_debug()
            ))
        })?),
    };
    Ok(ActivityQuery {
        filter,
        before,
        in_progress_only,
    })
}

/// The first millisecond of the day `text` (`YYYY-MM-DD`, UTC), or None when empty.
fn day_start(name: &str, text: &str) -> Result<Option<i64>, ActivityError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let invalid = || {
        ActivityError::Invalid(format!(
            "`{name}` must be a date like 2026-12-07 (got `{}`)",
            text.escape_debug()
        ))
    };
    let mut parts = text.splitn(3, '-');
    let mut next = |len: usize| {
        parts
            .next()
            .filter(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<i32>().ok())
    };
    let (Some(year), Some(month), Some(day)) = (next(4), next(2), next(2)) else {
        return Err(invalid());
    };
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .ok_or_else(invalid)?;
    let day = u8::try_from(day).map_err(|_| invalid())?;
    let date = time::Date::from_calendar_date(year, month, day).map_err(|_| invalid())?;
    let start = date.midnight().assume_utc().unix_timestamp();
    Ok(Some(start * 1000))
}

/// The calls in progress on this instance that `query` matches (memory only: none is stored
/// as in progress), newest first; none when the query asks for a stored status or an older page.
pub(crate) fn in_progress(state: &AppState, query: &ActivityQuery) -> Vec<InFlightCall> {
    let filter = &query.filter;
    if query.before.is_some() || filter.status.is_some() {
        return Vec::new();
    }
    let id = |uuid: Option<Uuid>| uuid.map(|u| u.to_string());
    let (server, user) = (id(filter.server_id), id(filter.user_id));
    let mut calls: Vec<InFlightCall> = state
        .activity
        .in_flight()
        .into_iter()
        .filter(|call| match &filter.visible {
            Visibility::All => true,
            Visibility::Limited { user_id, servers } => {
                call.user_id == user_id.to_string()
                    || servers.iter().any(|s| call.server_id == s.to_string())
            }
        })
        .filter(|call| server.as_ref().is_none_or(|s| &call.server_id == s))
        .filter(|call| user.as_ref().is_none_or(|u| &call.user_id == u))
        .filter(|call| filter.tool.as_ref().is_none_or(|t| &call.tool == t))
        .filter(|call| filter.from_ms.is_none_or(|from| call.started_at >= from))
        .filter(|call| filter.until_ms.is_none_or(|until| call.started_at < until))
        .collect();
    calls.reverse();
    calls
}

/// The filter of the stats shown beside a view: the view's reader, server and user, over the
/// last [`STATS_DAYS`] days.
pub(crate) fn stats_filter(state: &AppState, filter: &ActivityFilter) -> ActivityFilter {
    let mut stats = ActivityFilter::visible(filter.visible.clone());
    stats.server_id = filter.server_id;
    stats.user_id = filter.user_id;
    stats.from_ms = Some(state.clock.now() * 1000 - STATS_DAYS * DAY_MS);
    stats
}

/// The stats of the last [`STATS_DAYS`] days for `filter`'s reader, server and user.
pub(crate) async fn recent_stats(
    state: &AppState,
    filter: &ActivityFilter,
) -> Result<ActivityStats, ActivityError> {
    Ok(state
        .store
        .activity_stats(&stats_filter(state, filter))
        .await?)
}

/// The records lost in the last [`STATS_DAYS`] days (the writer's queue was full).
pub(crate) async fn recently_lost(state: &AppState) -> Result<i64, ActivityError> {
    let since = state.clock.now() * 1000 - STATS_DAYS * DAY_MS;
    Ok(state.store.activity_lost_since(since).await?)
}

/// The CSV export of every call `filter` matches, newest first, streamed: the calls are read
/// [`EXPORT_BATCH`] at a time as the client reads, so a large export holds one batch in memory.
pub(crate) fn export_csv(store: Arc<dyn Store>, filter: ActivityFilter) -> Body {
    let header = Bytes::from_static(
        b"id,started_at,server,tool,user,client,status,latency_ms,input,input_truncated,output,output_truncated,error\r\n",
    );
    struct Export {
        store: Arc<dyn Store>,
        filter: ActivityFilter,
        before: Option<ActivityCursor>,
        done: bool,
    }
    let start = Export {
        store,
        filter,
        before: None,
        done: false,
    };
    let rows = futures_util::stream::unfold(start, |mut export| async move {
        if export.done {
            return None;
        }
        let page = export
            .store
            .activity_page(&export.filter, export.before, EXPORT_BATCH, true)
            .await;
        match page {
            Ok(records) if records.is_empty() => None,
            Ok(records) => {
                export.done = records.len() < EXPORT_BATCH as usize;
                export.before = records.last().map(ActivityRecord::cursor);
                let mut chunk = String::new();
                for record in &records {
                    csv_row(&mut chunk, record);
                }
                Some((Ok(Bytes::from(chunk)), export))
            }
            Err(e) => {
                // The headers are sent: the client sees a cut-off download.
                tracing::error!(error = %e, "activity export failed");
                export.done = true;
                Some((Err(std::io::Error::other("the export failed")), export))
            }
        }
    });
    let header = futures_util::stream::once(async move { Ok::<_, std::io::Error>(header) });
    Body::from_stream(futures_util::StreamExt::chain(header, rows))
}

/// A streamed CSV download (`activity.csv`) of what `query` matches.
pub(crate) fn export_response(state: &AppState, query: ActivityQuery) -> Response {
    let mut filter = query.filter;
    if query.in_progress_only {
        // Nothing stored is in progress.
        filter.until_ms = Some(i64::MIN);
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"activity.csv\"",
            ),
        ],
        export_csv(state.store.clone(), filter),
    )
        .into_response()
}

fn csv_row(out: &mut String, record: &ActivityRecord) {
    let bodies = record.bodies.clone().unwrap_or_default();
    let cells = [
        record.id.to_string(),
        rfc3339_ms(record.started_at_ms),
        record
            .server_slug
            .clone()
            .unwrap_or_else(|| record.server_id.to_string()),
        record.tool.clone(),
        record
            .user_email
            .clone()
            .unwrap_or_else(|| record.user_id.to_string()),
        client_label(record),
        record.status.label().to_owned(),
        format!("{:.3}", record.duration_us as f64 / 1000.0),
        bodies.input.unwrap_or_default(),
        bodies.input_truncated.to_string(),
        bodies.output.unwrap_or_default(),
        bodies.output_truncated.to_string(),
        bodies.error.unwrap_or_default(),
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        crate::csv::push_cell(out, cell);
    }
    out.push_str("\r\n");
}

/// The client a call came from, as people read it.
pub(crate) fn client_label(record: &ActivityRecord) -> String {
    match (&record.client_name, &record.client_id) {
        (Some(name), _) if !name.trim().is_empty() => name.clone(),
        (_, Some(id)) => id.clone(),
        _ => "—".to_owned(),
    }
}

/// A call's start, `2026-12-07T03:05:12.123Z`.
pub(crate) fn rfc3339_ms(at_ms: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| at_ms.to_string())
}

/// A call's start as people read it, to the second: `2026-12-07 03:05:12 UTC`.
pub(crate) fn format_time_ms(at_ms: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| at_ms.to_string())
}

/// A latency as people read it: `0.42 ms`, `12 ms`, `3.4 s`.
pub(crate) fn format_latency(us: i64) -> String {
    let ms = us as f64 / 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 10_000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_strictly() {
        assert_eq!(
            day_start("from", "2026-12-07").unwrap(),
            Some(1_796_601_600_000)
        );
        assert_eq!(day_start("from", " ").unwrap(), None);
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "26-12-07",
            "2026-12-7",
            "yesterday",
            "2026-12-07x",
        ] {
            let err = day_start("from", bad).unwrap_err().to_string();
            assert!(err.contains("`from` must be a date"), "{bad}: {err}");
        }
    }

    #[test]
    fn latencies_read_well() {
        assert_eq!(format_latency(420), "0.42 ms");
        assert_eq!(format_latency(12_300), "12 ms");
        assert_eq!(format_latency(3_400_000), "3400 ms");
        assert_eq!(format_latency(34_000_000), "34.0 s");
    }

    #[test]
    fn query_strings_repeat_the_filters() {
        let params = ActivityParams {
            status: "denied".into(),
            tool: "a b&c".into(),
            ..ActivityParams::default()
        };
        assert_eq!(params.query_string(None), "?status=denied&tool=a+b%26c");
        let cursor = ActivityCursor {
            started_at_ms: 5,
            id: 7,
        };
        assert_eq!(
            ActivityParams::default().query_string(Some(cursor)),
            "?before=5.7"
        );
    }
}
