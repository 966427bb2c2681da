//! [`GroupStore`] on SQLite.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use super::SqliteStore;
use super::rows::uuid_col;
use crate::store::groups::{GroupStore, GroupSummary, ServerAccess};
use crate::store::{Constraint, Group, StoreError, now};

const SUMMARY: &str = "SELECT g.id, g.org_id, g.name, g.is_default, g.created_at,
            (SELECT COUNT(*) FROM users u WHERE u.group_id = g.id) AS members
     FROM groups g";

fn summary(row: &SqliteRow) -> Result<GroupSummary, StoreError> {
    Ok(GroupSummary {
        group: Group {
            id: uuid_col(row, "id")?,
            org_id: uuid_col(row, "org_id")?,
            name: row.try_get("name")?,
        },
        is_default: row.try_get("is_default")?,
        members: row.try_get("members")?,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait]
impl GroupStore for SqliteStore {
    async fn list_groups(&self) -> Result<Vec<GroupSummary>, StoreError> {
        let rows = sqlx::query(&format!("{SUMMARY} ORDER BY g.is_default DESC, g.name"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(summary).collect()
    }

    async fn group_by_id(&self, id: Uuid) -> Result<GroupSummary, StoreError> {
        let row = sqlx::query(&format!("{SUMMARY} WHERE g.id = ?"))
            .bind(id.to_string())
            .fetch_one(&self.pool)
            .await?;
        summary(&row)
    }

    async fn insert_group(&self, org_id: Uuid, name: &str) -> Result<Group, StoreError> {
        let group = Group {
            id: Uuid::new_v4(),
            org_id,
            name: name.to_owned(),
        };
        sqlx::query(
            "INSERT INTO groups (id, org_id, name, is_default, created_at) VALUES (?, ?, ?, 0, ?)",
        )
        .bind(group.id.to_string())
        .bind(org_id.to_string())
        .bind(name)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(group)
    }

    async fn rename_group(&self, id: Uuid, name: &str) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE groups SET name = ? WHERE id = ?")
            .bind(name)
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_group(&self, id: Uuid) -> Result<(), StoreError> {
        self.changing_access(async {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let is_default: bool = sqlx::query_scalar("SELECT is_default FROM groups WHERE id = ?")
                .bind(id.to_string())
                .fetch_one(&mut *tx)
                .await?;
            if is_default {
                return Err(StoreError::Conflict(Constraint::DefaultGroup));
            }
            sqlx::query(
                "UPDATE users SET group_id = (
                     SELECT d.id FROM groups d JOIN groups g ON g.org_id = d.org_id
                     WHERE g.id = ? AND d.is_default = 1)
                 WHERE group_id = ?",
            )
            .bind(id.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM groups WHERE id = ?")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn set_user_group(&self, user_id: Uuid, group_id: Uuid) -> Result<(), StoreError> {
        self.changing_access(async {
            // The group must exist (the foreign key says so too, as a less readable error).
            let done = sqlx::query(
                "UPDATE users SET group_id = ?, updated_at = ?
                 WHERE id = ? AND EXISTS (SELECT 1 FROM groups WHERE id = ?)",
            )
            .bind(group_id.to_string())
            .bind(now())
            .bind(user_id.to_string())
            .bind(group_id.to_string())
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
        .await
    }

    async fn server_access(
        &self,
        group_id: Uuid,
        server_id: Uuid,
    ) -> Result<ServerAccess, StoreError> {
        let (group_id, server_id) = (group_id.to_string(), server_id.to_string());
        // One snapshot for both tables: a change committed between two reads would mix the
        // old default with the new exceptions.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query(
            "SELECT enabled, default_allow FROM group_servers WHERE group_id = ? AND server_id = ?",
        )
        .bind(&group_id)
        .bind(&server_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(ServerAccess::default());
        };
        let tools = sqlx::query(
            "SELECT tool, allowed FROM group_tools WHERE group_id = ? AND server_id = ?",
        )
        .bind(&group_id)
        .bind(&server_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("tool")?, row.try_get("allowed")?)))
        .collect::<Result<BTreeMap<String, bool>, StoreError>>()?;
        Ok(ServerAccess {
            enabled: row.try_get("enabled")?,
            default_allow: row.try_get("default_allow")?,
            tools,
        })
    }

    async fn set_server_access(
        &self,
        group_id: Uuid,
        server_id: Uuid,
        access: &ServerAccess,
    ) -> Result<(), StoreError> {
        let (group_id, server_id) = (group_id.to_string(), server_id.to_string());
        let at = now();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO group_servers (group_id, server_id, enabled, default_allow, updated_at)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (group_id, server_id) DO UPDATE SET
                 enabled = excluded.enabled, default_allow = excluded.default_allow,
                 updated_at = excluded.updated_at",
        )
        .bind(&group_id)
        .bind(&server_id)
        .bind(access.enabled)
        .bind(access.default_allow)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM group_tools WHERE group_id = ? AND server_id = ?")
            .bind(&group_id)
            .bind(&server_id)
            .execute(&mut *tx)
            .await?;
        for (tool, allowed) in &access.tools {
            sqlx::query(
                "INSERT INTO group_tools (group_id, server_id, tool, allowed, updated_at)
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(&group_id)
            .bind(&server_id)
            .bind(tool)
            .bind(allowed)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
