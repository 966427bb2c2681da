//! [`DeploymentStore`] on SQLite.

use async_trait::async_trait;
use sqlx::Row as _;
use uuid::Uuid;

use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use super::rows::uuid_col;
use crate::store::{Deployment, DeploymentStatus, DeploymentStore, StoreError, now};

pub(super) fn deployment_from_row(row: &SqliteRow) -> Result<Deployment, StoreError> {
    Ok(Deployment {
        id: uuid_col(row, "id")?,
        server_id: uuid_col(row, "server_id")?,
        generation: row.try_get("generation")?,
        status: row.try_get("status")?,
        address: row.try_get("address")?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

#[async_trait]
impl DeploymentStore for SqliteStore {
    async fn insert_deployment(
        &self,
        d: &Deployment,
        server_token_hash: &[u8],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO deployments (id, server_id, generation, status, address, server_token_hash,
                                      error, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(d.id.to_string())
        .bind(d.server_id.to_string())
        .bind(d.generation)
        .bind(d.status)
        .bind(&d.address)
        .bind(server_token_hash)
        .bind(&d.error)
        .bind(d.created_at)
        .bind(d.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn update_deployment(
        &self,
        id: Uuid,
        status: DeploymentStatus,
        address: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE deployments SET status = ?, address = COALESCE(?, address), error = ?, updated_at = ?
             WHERE id = ?",
        )
        .bind(status)
        .bind(address)
        .bind(error)
        .bind(now())
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_deployments(
        &self,
        server_id: Uuid,
        limit: i64,
    ) -> Result<Vec<Deployment>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, server_id, generation, status, address, error, created_at, updated_at
             FROM deployments WHERE server_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?",
        )
        .bind(server_id.to_string())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(deployment_from_row).collect()
    }

    async fn deployment_by_token(&self, hash: &[u8]) -> Result<Deployment, StoreError> {
        let row = sqlx::query(
            "SELECT id, server_id, generation, status, address, error, created_at, updated_at
             FROM deployments WHERE server_token_hash = ?",
        )
        .bind(hash)
        .fetch_one(&self.pool)
        .await?;
        deployment_from_row(&row)
    }
}
