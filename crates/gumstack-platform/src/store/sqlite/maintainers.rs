//! [`MaintainerStore`] on SQLite.

use async_trait::async_trait;
use sqlx::Row as _;
use uuid::Uuid;

use super::SqliteStore;
use super::rows::{opt_uuid_col, uuid_col};
use crate::store::maintainers::{Maintainer, MaintainerStore};
use crate::store::{StoreError, Timestamp};

#[async_trait]
impl MaintainerStore for SqliteStore {
    async fn list_maintainers(&self, server_id: Uuid) -> Result<Vec<Maintainer>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.user_id, u.email, u.role, m.added_by, m.added_at
             FROM server_maintainers m JOIN users u ON u.id = m.user_id
             WHERE m.server_id = ? ORDER BY u.email",
        )
        .bind(server_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Maintainer {
                    user_id: uuid_col(row, "user_id")?,
                    email: row.try_get("email")?,
                    role: row.try_get("role")?,
                    added_by: opt_uuid_col(row, "added_by")?,
                    added_at: row.try_get("added_at")?,
                })
            })
            .collect()
    }

    async fn insert_maintainer(
        &self,
        server_id: Uuid,
        user_id: Uuid,
        added_by: Option<Uuid>,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO server_maintainers (server_id, user_id, added_by, added_at)
             VALUES (?, ?, ?, ?) ON CONFLICT (server_id, user_id) DO NOTHING",
        )
        .bind(server_id.to_string())
        .bind(user_id.to_string())
        .bind(added_by.map(|id| id.to_string()))
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_maintainer(&self, server_id: Uuid, user_id: Uuid) -> Result<bool, StoreError> {
        let done =
            sqlx::query("DELETE FROM server_maintainers WHERE server_id = ? AND user_id = ?")
                .bind(server_id.to_string())
                .bind(user_id.to_string())
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn is_maintainer(&self, server_id: Uuid, user_id: Uuid) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM server_maintainers WHERE server_id = ? AND user_id = ?",
        )
        .bind(server_id.to_string())
        .bind(user_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    async fn maintained_servers(&self, user_id: Uuid) -> Result<Vec<Uuid>, StoreError> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT server_id FROM server_maintainers WHERE user_id = ?")
                .bind(user_id.to_string())
                .fetch_all(&self.pool)
                .await?;
        ids.iter()
            .map(|id| {
                Uuid::parse_str(id).map_err(|e| StoreError::Corrupt(format!("server_id: {e}")))
            })
            .collect()
    }
}
