//! [`ActivityReads`] on SQLite. Every query is newest first on an index that starts with the
//! view's fixed column (`activity_by_server`, `activity_by_user`, or `activity_by_time`), so a
//! page reads about as many index entries as it shows, however old the log is
//! (docs/BENCHMARKS.md measures it on 100 000 records).

use async_trait::async_trait;
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::{QueryBuilder, Row as _};

use super::SqliteStore;
use super::rows::uuid_col;
use crate::store::StoreError;
use crate::store::activity::{
    ActivityCursor, ActivityFilter, ActivityReads, ActivityRecord, ActivityStats, CallBodies,
    CallStatus, Visibility,
};

const COLUMNS: &str = "a.id, a.server_id, s.slug AS server_slug, s.name AS server_name,
     a.user_id, u.email AS user_email, a.client_id, c.client_name, a.tool, a.status,
     a.started_at, a.duration_us";

const BODY_COLUMNS: &str = ", a.input, a.input_truncated, a.output, a.output_truncated, a.error";

const JOINS: &str = " FROM activity a
     LEFT JOIN servers s ON s.id = a.server_id
     LEFT JOIN users u ON u.id = a.user_id
     LEFT JOIN oauth_clients c ON c.client_id = a.client_id";

fn record(row: &SqliteRow, with_bodies: bool) -> Result<ActivityRecord, StoreError> {
    let status: String = row.try_get("status")?;
    let bodies = if with_bodies {
        Some(CallBodies {
            input: row.try_get("input")?,
            input_truncated: row.try_get("input_truncated")?,
            output: row.try_get("output")?,
            output_truncated: row.try_get("output_truncated")?,
            error: row.try_get("error")?,
        })
    } else {
        None
    };
    Ok(ActivityRecord {
        id: row.try_get("id")?,
        server_id: uuid_col(row, "server_id")?,
        server_slug: row.try_get("server_slug")?,
        server_name: row.try_get("server_name")?,
        user_id: uuid_col(row, "user_id")?,
        user_email: row.try_get("user_email")?,
        client_id: row.try_get("client_id")?,
        client_name: row.try_get("client_name")?,
        tool: row.try_get("tool")?,
        status: CallStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("activity.status: {status}")))?,
        started_at_ms: row.try_get("started_at")?,
        duration_us: row.try_get("duration_us")?,
        bodies,
    })
}

/// Appends ` WHERE …` for `filter` (and `before`) to a query over `activity a`.
fn push_conditions(
    query: &mut QueryBuilder<'_, Sqlite>,
    filter: &ActivityFilter,
    before: Option<ActivityCursor>,
) {
    query.push(" WHERE 1 = 1");
    if let Visibility::Limited { user_id, servers } = &filter.visible {
        query
            .push(" AND (a.user_id = ")
            .push_bind(user_id.to_string());
        if !servers.is_empty() {
            query.push(" OR a.server_id IN (");
            let mut list = query.separated(", ");
            for server in servers {
                list.push_bind(server.to_string());
            }
            query.push(")");
        }
        query.push(")");
    }
    if let Some(server) = filter.server_id {
        query
            .push(" AND a.server_id = ")
            .push_bind(server.to_string());
    }
    if let Some(user) = filter.user_id {
        query.push(" AND a.user_id = ").push_bind(user.to_string());
    }
    if let Some(status) = filter.status {
        query.push(" AND a.status = ").push_bind(status.as_str());
    }
    if let Some(tool) = &filter.tool {
        query.push(" AND a.tool = ").push_bind(tool.clone());
    }
    if let Some(from) = filter.from_ms {
        query.push(" AND a.started_at >= ").push_bind(from);
    }
    if let Some(until) = filter.until_ms {
        query.push(" AND a.started_at < ").push_bind(until);
    }
    if let Some(cursor) = before {
        query
            .push(" AND (a.started_at < ")
            .push_bind(cursor.started_at_ms)
            .push(" OR (a.started_at = ")
            .push_bind(cursor.started_at_ms)
            .push(" AND a.id < ")
            .push_bind(cursor.id)
            .push("))");
    }
}

/// The latency at `rank` (from 0) of the non-denied calls matching `filter`, by latency.
async fn latency_at_rank(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    filter: &ActivityFilter,
    rank: i64,
) -> Result<i64, StoreError> {
    let mut query = QueryBuilder::new("SELECT a.duration_us FROM activity a");
    push_conditions(&mut query, filter, None);
    query
        .push(" AND a.status <> 'denied' ORDER BY a.duration_us LIMIT 1 OFFSET ")
        .push_bind(rank);
    Ok(query.build_query_scalar().fetch_one(&mut **tx).await?)
}

#[async_trait]
impl ActivityReads for SqliteStore {
    async fn activity_page(
        &self,
        filter: &ActivityFilter,
        before: Option<ActivityCursor>,
        limit: u32,
        with_bodies: bool,
    ) -> Result<Vec<ActivityRecord>, StoreError> {
        let mut query = QueryBuilder::new("SELECT ");
        query.push(COLUMNS);
        if with_bodies {
            query.push(BODY_COLUMNS);
        }
        query.push(JOINS);
        push_conditions(&mut query, filter, before);
        query
            .push(" ORDER BY a.started_at DESC, a.id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(|row| record(row, with_bodies)).collect()
    }

    async fn activity_record(
        &self,
        id: i64,
        visible: &Visibility,
    ) -> Result<ActivityRecord, StoreError> {
        let mut query = QueryBuilder::new("SELECT ");
        query.push(COLUMNS).push(BODY_COLUMNS).push(JOINS);
        push_conditions(&mut query, &ActivityFilter::visible(visible.clone()), None);
        query.push(" AND a.id = ").push_bind(id);
        let row = query
            .build()
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        record(&row, true)
    }

    async fn activity_stats(&self, filter: &ActivityFilter) -> Result<ActivityStats, StoreError> {
        // One read transaction: the counts and the percentiles see the same rows.
        let mut tx = self.pool.begin().await?;
        let mut query = QueryBuilder::new(
            "SELECT COUNT(*) AS calls, COUNT(DISTINCT a.user_id) AS users,
                    COALESCE(SUM(a.status = 'error'), 0) AS errors,
                    COALESCE(SUM(a.status = 'denied'), 0) AS denied,
                    CAST(AVG(CASE WHEN a.status <> 'denied' THEN a.duration_us END) AS INTEGER)
                        AS mean_us
             FROM activity a",
        );
        push_conditions(&mut query, filter, None);
        let row = query.build().fetch_one(&mut *tx).await?;
        let mut stats = ActivityStats {
            calls: row.try_get("calls")?,
            users: row.try_get("users")?,
            errors: row.try_get("errors")?,
            denied: row.try_get("denied")?,
            mean_us: row.try_get("mean_us")?,
            p50_us: None,
            p95_us: None,
        };
        let timed = stats.calls - stats.denied;
        if timed > 0 {
            // Nearest-rank percentiles of the latencies of the calls that reached the server.
            stats.p50_us = Some(latency_at_rank(&mut tx, filter, (timed - 1) / 2).await?);
            stats.p95_us = Some(latency_at_rank(&mut tx, filter, (timed - 1) * 95 / 100).await?);
        }
        tx.commit().await?;
        Ok(stats)
    }

    async fn activity_lost_since(&self, since_ms: i64) -> Result<i64, StoreError> {
        let lost: i64 =
            sqlx::query_scalar("SELECT COALESCE(SUM(records), 0) FROM activity_lost WHERE at >= ?")
                .bind(since_ms)
                .fetch_one(&self.pool)
                .await?;
        Ok(lost)
    }
}
