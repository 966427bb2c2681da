//! [`CredentialStore`] on SQLite.

use async_trait::async_trait;
use sqlx::Row as _;
use uuid::Uuid;

use super::SqliteStore;
use super::rows::uuid_col;
use crate::store::{CredentialStore, SealedCredentials, StoreError};

#[async_trait]
impl CredentialStore for SqliteStore {
    async fn credentials(
        &self,
        user_id: Uuid,
        server_id: Uuid,
    ) -> Result<SealedCredentials, StoreError> {
        let row = sqlx::query("SELECT * FROM credentials WHERE user_id = ? AND server_id = ?")
            .bind(user_id.to_string())
            .bind(server_id.to_string())
            .fetch_one(&self.pool)
            .await?;
        Ok(SealedCredentials {
            id: uuid_col(&row, "id")?,
            user_id: uuid_col(&row, "user_id")?,
            server_id: uuid_col(&row, "server_id")?,
            ciphertext: row.try_get("values_ciphertext")?,
            hints_json: row.try_get("hints_json")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }

    async fn upsert_credentials(&self, c: &SealedCredentials) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO credentials (id, user_id, server_id, values_ciphertext, hints_json,
                                      created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (user_id, server_id) DO UPDATE SET
                 id = excluded.id, values_ciphertext = excluded.values_ciphertext,
                 hints_json = excluded.hints_json, updated_at = excluded.updated_at",
        )
        .bind(c.id.to_string())
        .bind(c.user_id.to_string())
        .bind(c.server_id.to_string())
        .bind(&c.ciphertext)
        .bind(&c.hints_json)
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_credentials(&self, user_id: Uuid, server_id: Uuid) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM credentials WHERE user_id = ? AND server_id = ?")
            .bind(user_id.to_string())
            .bind(server_id.to_string())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
