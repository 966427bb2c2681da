//! [`ActivityWrites`] on SQLite.

use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite};

use super::SqliteStore;
use crate::store::{ActivityWrites, NewActivity, StoreError};

/// Rows per `INSERT`: 12 parameters each, well under SQLite's limit of 32 766.
const ROWS_PER_STATEMENT: usize = 128;

#[async_trait]
impl ActivityWrites for SqliteStore {
    async fn insert_activity(&self, rows: &[NewActivity]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // Several rows per statement: each statement is a round trip to SQLite's thread.
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO activity (server_id, user_id, client_id, tool, status, started_at,
                     duration_us, input, input_truncated, output, output_truncated, error) ",
            );
            insert.push_values(chunk, |mut values, row| {
                values
                    .push_bind(&row.server_id)
                    .push_bind(&row.user_id)
                    .push_bind(&row.client_id)
                    .push_bind(&row.tool)
                    .push_bind(row.status.as_str())
                    .push_bind(row.started_at)
                    .push_bind(row.duration_us)
                    .push_bind(&row.input)
                    .push_bind(row.input_truncated)
                    .push_bind(&row.output)
                    .push_bind(row.output_truncated)
                    .push_bind(&row.error);
            });
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn record_activity_lost(&self, at: i64, records: u64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO activity_lost (at, records) VALUES (?, ?)")
            .bind(at)
            .bind(i64::try_from(records).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn prune_activity(&self, before: i64, limit: u32) -> Result<u64, StoreError> {
        let deleted = sqlx::query(
            "DELETE FROM activity WHERE id IN (
                 SELECT id FROM activity WHERE started_at < ? ORDER BY started_at LIMIT ?)",
        )
        .bind(before)
        .bind(limit)
        .execute(&self.pool)
        .await?
        .rows_affected();
        sqlx::query(
            "DELETE FROM activity_lost WHERE id IN (
                 SELECT id FROM activity_lost WHERE at < ? ORDER BY at LIMIT ?)",
        )
        .bind(before)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        Ok(deleted)
    }
}
