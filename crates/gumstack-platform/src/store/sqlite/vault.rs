//! [`VaultStore`] on SQLite. Table and column names come from [`SealedColumn`] (constants,
//! never input); values are bound.

use async_trait::async_trait;
use sqlx::Row as _;
use uuid::Uuid;

use super::SqliteStore;
use super::rows::{opt_uuid_col, uuid_col};
use crate::store::{
    InstanceKeys, Reseal, SealedColumn, SealedValue, StoreError, Timestamp, VaultStore,
};

/// The primary key and the owner columns a column's binding names.
fn shape(column: SealedColumn) -> (&'static str, &'static str, &'static str) {
    match column {
        SealedColumn::EnvVarValue => ("id", "NULL", "server_id"),
        SealedColumn::CredentialValues
        | SealedColumn::ConnectionAccess
        | SealedColumn::ConnectionRefresh
        | SealedColumn::FlowVerifier => ("id", "user_id", "server_id"),
        SealedColumn::SigningKeyPrivate => ("kid", "NULL", "NULL"),
        SealedColumn::AuditChainKey => ("key_id", "NULL", "NULL"),
    }
}

#[async_trait]
impl VaultStore for SqliteStore {
    async fn sealed_values(
        &self,
        column: SealedColumn,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SealedValue>, StoreError> {
        let (key, user, server) = shape(column);
        let (table, col) = (column.table(), column.column());
        let sql = format!(
            "SELECT {key} AS row_id, {user} AS user_id, {server} AS server_id, {col} AS ciphertext
             FROM {table} WHERE {col} IS NOT NULL AND {key} > ? ORDER BY {key} LIMIT ?"
        );
        let rows = sqlx::query(&sql)
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(SealedValue {
                    row_id: row.try_get("row_id")?,
                    user_id: opt_uuid_col(row, "user_id")?,
                    server_id: opt_uuid_col(row, "server_id")?,
                    ciphertext: row.try_get("ciphertext")?,
                })
            })
            .collect()
    }

    async fn reseal(&self, column: SealedColumn, batch: &[Reseal]) -> Result<u64, StoreError> {
        let (key, _, _) = shape(column);
        let (table, col) = (column.table(), column.column());
        let sql = format!("UPDATE {table} SET {col} = ? WHERE {key} = ? AND {col} = ?");
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut written = 0;
        for value in batch {
            written += sqlx::query(&sql)
                .bind(&value.new)
                .bind(&value.row_id)
                .bind(&value.old)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(written)
    }

    async fn report_instance_keys(
        &self,
        id: Uuid,
        key_ids: &[String],
        active: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE platform_instances SET master_key_ids = ?, active_master_key = ? WHERE id = ?",
        )
        .bind(key_ids.join(" "))
        .bind(active)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn live_instances(&self, live_since: Timestamp) -> Result<Vec<InstanceKeys>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, started_at, heartbeat_at, master_key_ids, active_master_key
             FROM platform_instances WHERE heartbeat_at >= ? ORDER BY started_at, id",
        )
        .bind(live_since)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let ids: Option<String> = row.try_get("master_key_ids")?;
                Ok(InstanceKeys {
                    instance: uuid_col(row, "id")?,
                    started_at: row.try_get("started_at")?,
                    heartbeat_at: row.try_get("heartbeat_at")?,
                    key_ids: ids.map(|ids| ids.split_whitespace().map(str::to_owned).collect()),
                    active_key: row.try_get("active_master_key")?,
                })
            })
            .collect()
    }
}
