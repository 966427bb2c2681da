//! [`UserStore`] on SQLite.

use async_trait::async_trait;
use sqlx::Row as _;
use uuid::Uuid;

use super::SqliteStore;
use super::rows::{USER_COLUMNS, user_from_row, uuid_col};
use crate::store::{
    Constraint, Ended, Group, Org, Removed, Role, StoreError, Timestamp, User, UserStore, now,
};

/// The condition under which the account in the statement may stop being an enabled admin:
/// it is not one, or another enabled admin remains. Checked inside the statement that would
/// remove one, so two admins removing each other at once cannot both succeed.
const NOT_LAST_ADMIN: &str = "role <> 'admin' OR disabled_at IS NOT NULL
     OR (SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL) > 1";

/// Ends what lets an account act: its browser sessions and API tokens, and its MCP clients'
/// grants (whose access and refresh tokens then stop working).
async fn end_access(
    tx: &mut sqlx::SqliteConnection,
    user_id: Uuid,
    at: Timestamp,
) -> Result<Ended, StoreError> {
    let id = user_id.to_string();
    let sessions = sqlx::query("DELETE FROM sessions WHERE user_id = ?")
        .bind(&id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let api_tokens = sqlx::query("DELETE FROM api_tokens WHERE user_id = ?")
        .bind(&id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let grants = sqlx::query(
        "UPDATE oauth_grants SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
    )
    .bind(at)
    .bind(&id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(Ended {
        sessions,
        api_tokens,
        grants,
    })
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn default_org(&self) -> Result<(Org, Group), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let existing = sqlx::query(
            "SELECT o.id AS org_id, o.name AS org_name, g.id AS group_id, g.name AS group_name
             FROM orgs o JOIN groups g ON g.org_id = o.id AND g.is_default = 1
             ORDER BY o.created_at LIMIT 1",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let (org, group) = if let Some(row) = existing {
            let org_id = uuid_col(&row, "org_id")?;
            (
                Org {
                    id: org_id,
                    name: row.try_get("org_name")?,
                },
                Group {
                    id: uuid_col(&row, "group_id")?,
                    org_id,
                    name: row.try_get("group_name")?,
                },
            )
        } else {
            let org = Org {
                id: Uuid::new_v4(),
                name: "Default".to_owned(),
            };
            let group = Group {
                id: Uuid::new_v4(),
                org_id: org.id,
                name: "Default".to_owned(),
            };
            let t = now();
            sqlx::query("INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)")
                .bind(org.id.to_string())
                .bind(&org.name)
                .bind(t)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO groups (id, org_id, name, is_default, created_at) VALUES (?, ?, ?, 1, ?)",
            )
            .bind(group.id.to_string())
            .bind(org.id.to_string())
            .bind(&group.name)
            .bind(t)
            .execute(&mut *tx)
            .await?;
            (org, group)
        };
        tx.commit().await?;
        Ok((org, group))
    }

    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (id, org_id, group_id, email, password_hash, role, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(user.id.to_string())
        .bind(user.org_id.to_string())
        .bind(user.group_id.to_string())
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(user.role)
        .bind(user.created_at)
        .bind(user.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn user_by_id(&self, id: Uuid) -> Result<User, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?"
        ))
        .bind(id.to_string())
        .fetch_one(&self.pool)
        .await?;
        user_from_row(&row)
    }

    async fn user_by_email(&self, email: &str) -> Result<User, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.email = ?"
        ))
        .bind(email)
        .fetch_one(&self.pool)
        .await?;
        user_from_row(&row)
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u ORDER BY u.email"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn count_users(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    async fn set_password_hash(&self, user_id: Uuid, hash: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let t = now();
        let done = sqlx::query("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?")
            .bind(hash)
            .bind(t)
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        // A new password ends every browser session and API token of the account, and revokes
        // the MCP clients it authorized by logging in (their access and refresh tokens stop
        // working).
        end_access(&mut tx, user_id, t).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_user_role(&self, user_id: Uuid, role: Role) -> Result<u64, StoreError> {
        self.changing_access(async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let done = sqlx::query(&format!(
                "UPDATE users SET role = ?, updated_at = ?
                 WHERE id = ? AND (? = 'admin' OR {NOT_LAST_ADMIN})"
            ))
            .bind(role)
            .bind(now())
            .bind(user_id.to_string())
            .bind(role)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                drop(tx);
                self.user_by_id(user_id).await?;
                return Err(StoreError::Conflict(Constraint::LastAdmin));
            }
            // Tokens made under a role the user no longer has end with it.
            let ended = sqlx::query(
                "DELETE FROM api_tokens WHERE user_id = ?
                 AND (CASE role WHEN 'admin' THEN 2 WHEN 'developer' THEN 1 ELSE 0 END) > ?",
            )
            .bind(user_id.to_string())
            .bind(role.rank())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(ended.rows_affected())
        })
        .await
    }

    async fn disable_user(&self, user_id: Uuid, at: Timestamp) -> Result<Ended, StoreError> {
        self.changing_access(async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let done = sqlx::query(&format!(
                "UPDATE users SET disabled_at = COALESCE(disabled_at, ?), updated_at = ?
                 WHERE id = ? AND ({NOT_LAST_ADMIN})"
            ))
            .bind(at)
            .bind(at)
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                drop(tx);
                self.user_by_id(user_id).await?;
                return Err(StoreError::Conflict(Constraint::LastAdmin));
            }
            let ended = end_access(&mut tx, user_id, at).await?;
            sqlx::query("DELETE FROM oauth_flows WHERE user_id = ?")
                .bind(user_id.to_string())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(ended)
        })
        .await
    }

    async fn enable_user(&self, user_id: Uuid) -> Result<(), StoreError> {
        self.changing_access(async {
            let done =
                sqlx::query("UPDATE users SET disabled_at = NULL, updated_at = ? WHERE id = ?")
                    .bind(now())
                    .bind(user_id.to_string())
                    .execute(&self.pool)
                    .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
        .await
    }

    async fn delete_user(&self, user_id: Uuid, heir: Uuid) -> Result<Removed, StoreError> {
        self.changing_access(async {
            let id = user_id.to_string();
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let credentials: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM credentials WHERE user_id = ?")
                    .bind(&id)
                    .fetch_one(&mut *tx)
                    .await?;
            let connections: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM connections WHERE user_id = ?")
                    .bind(&id)
                    .fetch_one(&mut *tx)
                    .await?;
            // The servers first: deleting the user would set their owner to NULL.
            let servers_reassigned: Vec<String> = sqlx::query_scalar(
                "UPDATE servers SET owner_id = ?, updated_at = ? WHERE owner_id = ? RETURNING slug",
            )
            .bind(heir.to_string())
            .bind(now())
            .bind(&id)
            .fetch_all(&mut *tx)
            .await?;
            // Sessions, API tokens, grants (with their codes and refresh tokens), credentials,
            // connect flows and connections go with the account (ON DELETE CASCADE).
            let done = sqlx::query(&format!(
                "DELETE FROM users WHERE id = ? AND ({NOT_LAST_ADMIN})"
            ))
            .bind(&id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                drop(tx);
                self.user_by_id(user_id).await?;
                return Err(StoreError::Conflict(Constraint::LastAdmin));
            }
            tx.commit().await?;
            let mut servers_reassigned = servers_reassigned;
            servers_reassigned.sort();
            Ok(Removed {
                servers_reassigned,
                credentials: u64::try_from(credentials).unwrap_or_default(),
                connections: u64::try_from(connections).unwrap_or_default(),
            })
        })
        .await
    }

    async fn insert_session(
        &self,
        user_id: Uuid,
        token_hash: &[u8],
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id, token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(token_hash)
        .bind(user_id.to_string())
        .bind(now())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session_user(&self, token_hash: &[u8], now: Timestamp) -> Result<User, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled_at IS NULL"
        ))
        .bind(token_hash)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        user_from_row(&row)
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
