//! [`ApiTokenStore`] on SQLite.

use async_trait::async_trait;
use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use super::SqliteStore;
use super::rows::{USER_COLUMNS, user_from_row, uuid_col};
use crate::store::{
    ApiToken, ApiTokenStore, LAST_USED_GRANULARITY, NewApiToken, StoreError, Timestamp, User,
};

const TOKEN_COLUMNS: &str = "t.id AS t_id, t.user_id AS t_user_id, u.email AS t_email,
     t.name AS t_name, t.role AS t_role, t.created_at AS t_created_at,
     t.expires_at AS t_expires_at, t.last_used_at AS t_last_used_at";

fn token_from_row(row: &SqliteRow) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id: uuid_col(row, "t_id")?,
        user_id: uuid_col(row, "t_user_id")?,
        user_email: row.try_get("t_email")?,
        name: row.try_get("t_name")?,
        role: row.try_get("t_role")?,
        created_at: row.try_get("t_created_at")?,
        expires_at: row.try_get("t_expires_at")?,
        last_used_at: row.try_get("t_last_used_at")?,
    })
}

#[async_trait]
impl ApiTokenStore for SqliteStore {
    async fn insert_api_token(&self, token: &NewApiToken<'_>) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        // Only for an enabled user: a token made while the user is being disabled must not
        // outlive the disabling.
        let done = sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, role, token_hash, created_at, expires_at)
             SELECT ?, u.id, ?, ?, ?, ?, ? FROM users u WHERE u.id = ? AND u.disabled_at IS NULL",
        )
        .bind(id.to_string())
        .bind(token.name)
        .bind(token.role)
        .bind(token.token_hash)
        .bind(token.created_at)
        .bind(token.expires_at)
        .bind(token.user_id.to_string())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(id)
    }

    async fn api_token_user(
        &self,
        token_hash: &[u8],
        now: Timestamp,
    ) -> Result<(User, Uuid), StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, t.id AS t_id, t.last_used_at AS t_last_used_at
             FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = ? AND t.expires_at > ? AND u.disabled_at IS NULL"
        ))
        .bind(token_hash)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        let user = user_from_row(&row)?;
        let id = uuid_col(&row, "t_id")?;
        let last_used: Option<Timestamp> = row.try_get("t_last_used_at")?;
        if last_used.is_none_or(|at| at <= now - LAST_USED_GRANULARITY) {
            // The condition again in the statement: of concurrent first uses, one writes.
            sqlx::query(
                "UPDATE api_tokens SET last_used_at = ?
                 WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)",
            )
            .bind(now)
            .bind(id.to_string())
            .bind(now - LAST_USED_GRANULARITY)
            .execute(&self.pool)
            .await?;
        }
        Ok((user, id))
    }

    async fn list_api_tokens(&self, user_id: Option<Uuid>) -> Result<Vec<ApiToken>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE ? IS NULL OR t.user_id = ?
             ORDER BY t.created_at DESC, t.id"
        ))
        .bind(user_id.map(|id| id.to_string()))
        .bind(user_id.map(|id| id.to_string()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    async fn api_token(&self, id: Uuid) -> Result<ApiToken, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.id = ?"
        ))
        .bind(id.to_string())
        .fetch_one(&self.pool)
        .await?;
        token_from_row(&row)
    }

    async fn delete_api_token(&self, id: Uuid, user_id: Option<Uuid>) -> Result<(), StoreError> {
        let done =
            sqlx::query("DELETE FROM api_tokens WHERE id = ? AND (? IS NULL OR user_id = ?)")
                .bind(id.to_string())
                .bind(user_id.map(|id| id.to_string()))
                .bind(user_id.map(|id| id.to_string()))
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
