//! [`ServerStore`] on SQLite: servers and their env vars.

use std::cmp::Ordering;
use std::ops::RangeInclusive;

use async_trait::async_trait;
use sqlx::Row as _;
use uuid::Uuid;

use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use super::rows::{opt_uuid_col, uuid_col};
use crate::store::{
    AuthType, EnvVarMeta, RuntimeSpec, SealedEnvVar, Server, ServerStore, ServerUpdate, StoreError,
    UidAssignment, now,
};

fn server_from_row(row: &SqliteRow) -> Result<Server, StoreError> {
    let auth_type: String = row.try_get("auth_type")?;
    let command: Option<String> = row.try_get("command")?;
    let args_json: String = row.try_get("args_json")?;
    let limits_json: String = row.try_get("limits_json")?;
    let runtime = command
        .map(|command| -> Result<RuntimeSpec, StoreError> {
            Ok(RuntimeSpec {
                command,
                args: serde_json::from_str(&args_json)
                    .map_err(|e| StoreError::Corrupt(format!("args_json: {e}")))?,
                working_dir: row.try_get("working_dir")?,
                limits: serde_json::from_str(&limits_json)
                    .map_err(|e| StoreError::Corrupt(format!("limits_json: {e}")))?,
            })
        })
        .transpose()?;
    Ok(Server {
        id: uuid_col(row, "id")?,
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        icon: row.try_get("icon")?,
        auth_type: auth_type
            .parse::<AuthType>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        config_yaml: row.try_get("config_yaml")?,
        runtime,
        enabled: row.try_get("enabled")?,
        owner_id: opt_uuid_col(row, "owner_id")?,
        deploy_generation: row.try_get("deploy_generation")?,
        uid: uid_col(row)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn uid_col(row: &SqliteRow) -> Result<Option<u32>, StoreError> {
    let uid: Option<i64> = row.try_get("uid")?;
    uid.map(|uid| {
        u32::try_from(uid)
            .map_err(|_| StoreError::Corrupt(format!("servers.uid {uid} is not a uid")))
    })
    .transpose()
}

/// The lowest uid of `range`, never 0, that is not in `taken` (ascending).
fn lowest_free(range: &RangeInclusive<u32>, taken: &[u32]) -> Option<u32> {
    let mut candidate = (*range.start()).max(1);
    for &uid in taken {
        match uid.cmp(&candidate) {
            Ordering::Less => {}
            Ordering::Equal => candidate = candidate.checked_add(1)?,
            Ordering::Greater => break,
        }
    }
    range.contains(&candidate).then_some(candidate)
}

fn limits_json(runtime: Option<&RuntimeSpec>) -> String {
    runtime.map_or_else(
        || "{}".to_owned(),
        |r| serde_json::to_string(&r.limits).expect("limits serialise"),
    )
}

fn args_json(runtime: Option<&RuntimeSpec>) -> String {
    runtime.map_or_else(
        || "[]".to_owned(),
        |r| serde_json::to_string(&r.args).expect("a list of strings serialises"),
    )
}

#[async_trait]
impl ServerStore for SqliteStore {
    async fn insert_server(&self, server: &Server) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO servers (id, slug, name, description, icon, auth_type, config_yaml, command,
                                  args_json, working_dir, limits_json, enabled, owner_id,
                                  deploy_generation, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(server.id.to_string())
        .bind(&server.slug)
        .bind(&server.name)
        .bind(&server.description)
        .bind(&server.icon)
        .bind(server.auth_type.as_str())
        .bind(&server.config_yaml)
        .bind(server.runtime.as_ref().map(|r| r.command.clone()))
        .bind(args_json(server.runtime.as_ref()))
        .bind(server.runtime.as_ref().and_then(|r| r.working_dir.clone()))
        .bind(limits_json(server.runtime.as_ref()))
        .bind(server.enabled)
        .bind(server.owner_id.map(|id| id.to_string()))
        .bind(server.deploy_generation)
        .bind(server.created_at)
        .bind(server.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn server_by_id(&self, id: Uuid) -> Result<Server, StoreError> {
        let row = sqlx::query("SELECT * FROM servers WHERE id = ?")
            .bind(id.to_string())
            .fetch_one(&self.pool)
            .await?;
        server_from_row(&row)
    }

    async fn server_by_slug(&self, slug: &str) -> Result<Server, StoreError> {
        let row = sqlx::query("SELECT * FROM servers WHERE slug = ?")
            .bind(slug)
            .fetch_one(&self.pool)
            .await?;
        server_from_row(&row)
    }

    async fn list_servers(&self) -> Result<Vec<Server>, StoreError> {
        let rows = sqlx::query("SELECT * FROM servers ORDER BY name, slug")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(server_from_row).collect()
    }

    async fn update_server(&self, id: Uuid, update: &ServerUpdate) -> Result<Server, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query("SELECT * FROM servers WHERE id = ?")
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await?;
        let mut server = server_from_row(&row)?;
        if let Some(name) = &update.name {
            server.name.clone_from(name);
        }
        if let Some(description) = &update.description {
            server.description.clone_from(description);
        }
        if let Some(icon) = &update.icon {
            server.icon.clone_from(icon);
        }
        if let Some(config_yaml) = &update.config_yaml {
            server.config_yaml.clone_from(config_yaml);
        }
        if let Some(runtime) = &update.runtime {
            server.runtime.clone_from(runtime);
        }
        if let Some(enabled) = update.enabled {
            server.enabled = enabled;
        }
        server.updated_at = now();
        sqlx::query(
            "UPDATE servers SET name = ?, description = ?, icon = ?, config_yaml = ?, command = ?,
                                args_json = ?, working_dir = ?, limits_json = ?, enabled = ?,
                                updated_at = ?
             WHERE id = ?",
        )
        .bind(&server.name)
        .bind(&server.description)
        .bind(&server.icon)
        .bind(&server.config_yaml)
        .bind(server.runtime.as_ref().map(|r| r.command.clone()))
        .bind(args_json(server.runtime.as_ref()))
        .bind(server.runtime.as_ref().and_then(|r| r.working_dir.clone()))
        .bind(limits_json(server.runtime.as_ref()))
        .bind(server.enabled)
        .bind(server.updated_at)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(server)
    }

    async fn bump_deploy_generation(&self, id: Uuid) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "UPDATE servers SET deploy_generation = deploy_generation + 1, updated_at = ?
             WHERE id = ? RETURNING deploy_generation",
        )
        .bind(now())
        .bind(id.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("deploy_generation")?)
    }

    async fn delete_server(&self, id: Uuid) -> Result<(), StoreError> {
        self.changing_access(async {
            let done = sqlx::query("DELETE FROM servers WHERE id = ?")
                .bind(id.to_string())
                .execute(&self.pool)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
        .await
    }

    async fn assign_server_uid(
        &self,
        id: Uuid,
        range: RangeInclusive<u32>,
    ) -> Result<UidAssignment, StoreError> {
        // IMMEDIATE: the write lock first, so no other launch picks between read and write.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query("SELECT uid FROM servers WHERE id = ?")
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await?;
        let current = uid_col(&row)?;
        if let Some(uid) = current
            && range.contains(&uid)
        {
            return Ok(UidAssignment::Kept(uid));
        }
        let taken: Vec<i64> =
            sqlx::query_scalar("SELECT uid FROM servers WHERE uid BETWEEN ? AND ? ORDER BY uid")
                .bind(i64::from(*range.start()))
                .bind(i64::from(*range.end()))
                .fetch_all(&mut *tx)
                .await?;
        let taken: Vec<u32> = taken
            .into_iter()
            .filter_map(|uid| u32::try_from(uid).ok())
            .collect();
        let Some(uid) = lowest_free(&range, &taken) else {
            return Ok(UidAssignment::Exhausted);
        };
        sqlx::query("UPDATE servers SET uid = ? WHERE id = ?")
            .bind(i64::from(uid))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(UidAssignment::Assigned {
            uid,
            replaced: current,
        })
    }

    async fn env_var_id(&self, server_id: Uuid, name: &str) -> Result<Option<Uuid>, StoreError> {
        let row = sqlx::query("SELECT id FROM env_vars WHERE server_id = ? AND name = ?")
            .bind(server_id.to_string())
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| uuid_col(&r, "id")).transpose()
    }

    async fn upsert_env_var(
        &self,
        id: Uuid,
        server_id: Uuid,
        name: &str,
        ciphertext: &[u8],
    ) -> Result<(), StoreError> {
        let t = now();
        sqlx::query(
            "INSERT INTO env_vars (id, server_id, name, value_ciphertext, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (server_id, name) DO UPDATE SET
                 id = excluded.id, value_ciphertext = excluded.value_ciphertext,
                 updated_at = excluded.updated_at",
        )
        .bind(id.to_string())
        .bind(server_id.to_string())
        .bind(name)
        .bind(ciphertext)
        .bind(t)
        .bind(t)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_env_vars(&self, server_id: Uuid) -> Result<Vec<EnvVarMeta>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, server_id, name, created_at, updated_at FROM env_vars
             WHERE server_id = ? ORDER BY name",
        )
        .bind(server_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(EnvVarMeta {
                    id: uuid_col(row, "id")?,
                    server_id: uuid_col(row, "server_id")?,
                    name: row.try_get("name")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            })
            .collect()
    }

    async fn sealed_env_vars(&self, server_id: Uuid) -> Result<Vec<SealedEnvVar>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, value_ciphertext FROM env_vars WHERE server_id = ? ORDER BY name",
        )
        .bind(server_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SealedEnvVar {
                    id: uuid_col(row, "id")?,
                    name: row.try_get("name")?,
                    ciphertext: row.try_get("value_ciphertext")?,
                })
            })
            .collect()
    }

    async fn delete_env_var(&self, server_id: Uuid, name: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM env_vars WHERE server_id = ? AND name = ?")
            .bind(server_id.to_string())
            .bind(name)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::lowest_free;

    #[test]
    fn the_lowest_free_uid_fills_gaps_and_is_never_zero() {
        assert_eq!(lowest_free(&(10..=12), &[]), Some(10));
        assert_eq!(lowest_free(&(10..=12), &[10, 12]), Some(11));
        assert_eq!(lowest_free(&(10..=12), &[10, 11]), Some(12));
        assert_eq!(lowest_free(&(10..=12), &[10, 11, 12]), None);
        assert_eq!(lowest_free(&(0..=1), &[]), Some(1));
        assert_eq!(lowest_free(&(0..=0), &[]), None);
        assert_eq!(lowest_free(&(u32::MAX..=u32::MAX), &[u32::MAX]), None);
    }
}
