//! [`ToolStore`] on SQLite.

use async_trait::async_trait;
use sqlx::Row as _;
use uuid::Uuid;

use super::SqliteStore;
use super::deployments::deployment_from_row;
use crate::store::tools::{DeploymentRecord, DiscoveredTool, Discovery, ToolStore};
use crate::store::{StoreError, Timestamp};

#[async_trait]
impl ToolStore for SqliteStore {
    async fn replace_discovered_tools(
        &self,
        server_id: Uuid,
        deployment_id: Uuid,
        tools: &[DiscoveredTool],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let server = server_id.to_string();
        let deployment = deployment_id.to_string();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM server_tools WHERE server_id = ?")
            .bind(&server)
            .execute(&mut *tx)
            .await?;
        for tool in tools {
            sqlx::query(
                "INSERT INTO server_tools (server_id, name, description, deployment_id, discovered_at)
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(&server)
            .bind(&tool.name)
            .bind(&tool.description)
            .bind(&deployment)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        let count = i64::try_from(tools.len()).unwrap_or(i64::MAX);
        sqlx::query("UPDATE deployments SET tools_found = ?, discovery_error = NULL WHERE id = ?")
            .bind(count)
            .bind(&deployment)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_discovery_failure(
        &self,
        deployment_id: Uuid,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE deployments SET tools_found = NULL, discovery_error = ? WHERE id = ?")
            .bind(error)
            .bind(deployment_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn discovered_tools(&self, server_id: Uuid) -> Result<Vec<DiscoveredTool>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, description FROM server_tools WHERE server_id = ? ORDER BY name",
        )
        .bind(server_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DiscoveredTool {
                    name: row.try_get("name")?,
                    description: row.try_get("description")?,
                })
            })
            .collect()
    }

    async fn record_deployment_output(
        &self,
        deployment_id: Uuid,
        output: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE deployments SET output = ? WHERE id = ?")
            .bind(output)
            .bind(deployment_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn deployment_history(
        &self,
        server_id: Uuid,
        limit: i64,
    ) -> Result<Vec<DeploymentRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, server_id, generation, status, address, error, created_at, updated_at,
                    tools_found, discovery_error, output
             FROM deployments WHERE server_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?",
        )
        .bind(server_id.to_string())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let found: Option<i64> = row.try_get("tools_found")?;
                let failed: Option<String> = row.try_get("discovery_error")?;
                let discovery = match (found, failed) {
                    (_, Some(error)) => Discovery::Failed(error),
                    (Some(count), None) => Discovery::Found(count),
                    (None, None) => Discovery::NotTried,
                };
                Ok(DeploymentRecord {
                    deployment: deployment_from_row(row)?,
                    discovery,
                    output: row.try_get("output")?,
                })
            })
            .collect()
    }
}
