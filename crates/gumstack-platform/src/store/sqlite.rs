//! [`Store`] on SQLite: one file under the data directory, WAL mode, embedded migrations.

use std::path::Path;
use std::str::FromStr as _;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
};
use sqlx::{Row as _, error::ErrorKind};
use uuid::Uuid;

use super::sqlite_connections as connections;
use super::sqlite_oauth::{self as oauth, SingleUseTable};
use super::{
    AuthType, Connection, Consumed, Deployment, DeploymentStatus, EnvVarMeta, Grant, Group,
    OAuthClient, OAuthFlow, Org, RefreshFailure, RefreshedTokens, RuntimeSpec, SealedCredentials,
    SealedEnvVar, Server, ServerUpdate, SigningKeyRecord, SingleUse, Store, StoreError, Timestamp,
    User, now,
};

use super::{Role, UserGrant};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and runs pending migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        Self::connect(options, 8).await
    }

    /// A private in-memory database (tests).
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        // One connection: every connection to `:memory:` would be a different database.
        Self::connect(options, 1).await
    }

    async fn connect(options: SqliteConnectOptions, max: u32) -> Result<Self, StoreError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            // A local file has no connection to go stale; the ping per acquire was a tenth of
            // the gateway's CPU (docs/BENCHMARKS.md).
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// The pool, for tests that must write rows directly (e.g. to prove defence in depth).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

pub(super) fn map_err(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation => StoreError::Conflict(db.message().to_owned()),
            // Our own trigger's RAISE message: the only way SQLite lets a trigger name its reason.
            _ if db.message().contains("auth_type_immutable") => StoreError::AuthTypeImmutable,
            _ => StoreError::Database(err),
        },
        _ => StoreError::Database(err),
    }
}

pub(super) fn uuid_col(row: &SqliteRow, col: &str) -> Result<Uuid, StoreError> {
    let text: String = row.try_get(col)?;
    Uuid::parse_str(&text).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn opt_uuid_col(row: &SqliteRow, col: &str) -> Result<Option<Uuid>, StoreError> {
    let text: Option<String> = row.try_get(col)?;
    text.map(|t| Uuid::parse_str(&t).map_err(|e| StoreError::Corrupt(format!("{col}: {e}"))))
        .transpose()
}

pub(super) fn user_from_row(row: &SqliteRow) -> Result<User, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: uuid_col(row, "id")?,
        org_id: uuid_col(row, "org_id")?,
        group_id: uuid_col(row, "group_id")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        role: role.parse().map_err(StoreError::Corrupt)?,
        created_at: row.try_get("created_at")?,
    })
}

fn server_from_row(row: &SqliteRow) -> Result<Server, StoreError> {
    let auth_type: String = row.try_get("auth_type")?;
    let command: Option<String> = row.try_get("command")?;
    let args_json: String = row.try_get("args_json")?;
    let runtime = command
        .map(|command| -> Result<RuntimeSpec, StoreError> {
            Ok(RuntimeSpec {
                command,
                args: serde_json::from_str(&args_json)
                    .map_err(|e| StoreError::Corrupt(format!("args_json: {e}")))?,
                working_dir: row.try_get("working_dir")?,
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
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn deployment_from_row(row: &SqliteRow) -> Result<Deployment, StoreError> {
    let status: String = row.try_get("status")?;
    let status = match status.as_str() {
        "deploying" => DeploymentStatus::Deploying,
        "live" => DeploymentStatus::Live,
        "failed" => DeploymentStatus::Failed,
        "stopped" => DeploymentStatus::Stopped,
        other => return Err(StoreError::Corrupt(format!("deployment status `{other}`"))),
    };
    Ok(Deployment {
        id: uuid_col(row, "id")?,
        server_id: uuid_col(row, "server_id")?,
        generation: row.try_get("generation")?,
        status,
        address: row.try_get("address")?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn args_json(runtime: Option<&RuntimeSpec>) -> String {
    runtime.map_or_else(
        || "[]".to_owned(),
        |r| serde_json::to_string(&r.args).expect("a list of strings serialises"),
    )
}

const USER_COLUMNS: &str =
    "u.id, u.org_id, u.group_id, u.email, u.password_hash, u.role, u.created_at";

#[async_trait]
impl Store for SqliteStore {
    async fn default_org(&self) -> Result<(Org, Group), StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let existing = sqlx::query(
            "SELECT o.id AS org_id, o.name AS org_name, g.id AS group_id, g.name AS group_name
             FROM orgs o JOIN groups g ON g.org_id = o.id AND g.is_default = 1
             ORDER BY o.created_at LIMIT 1",
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
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
                .await
                .map_err(map_err)?;
            sqlx::query(
                "INSERT INTO groups (id, org_id, name, is_default, created_at) VALUES (?, ?, ?, 1, ?)",
            )
            .bind(group.id.to_string())
            .bind(org.id.to_string())
            .bind(&group.name)
            .bind(t)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            (org, group)
        };
        tx.commit().await.map_err(map_err)?;
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
        .bind(user.role.as_str())
        .bind(user.created_at)
        .bind(user.created_at)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn user_by_id(&self, id: Uuid) -> Result<User, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?"
        ))
        .bind(id.to_string())
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        user_from_row(&row)
    }

    async fn user_by_email(&self, email: &str) -> Result<User, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.email = ?"
        ))
        .bind(email)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        user_from_row(&row)
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u ORDER BY u.email"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn count_users(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(row.try_get("n")?)
    }

    async fn set_password_hash(&self, user_id: Uuid, hash: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let done = sqlx::query("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?")
            .bind(hash)
            .bind(now())
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        // A new password ends every browser session of the account, and revokes the MCP
        // clients it authorized by logging in (their access and refresh tokens stop working).
        sqlx::query("DELETE FROM sessions WHERE user_id = ?")
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query(
            "UPDATE oauth_grants SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(user_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn set_user_role(&self, user_id: Uuid, role: Role) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE users SET role = ?, updated_at = ?
             WHERE id = ? AND (? = 'admin' OR role <> 'admin'
                               OR (SELECT COUNT(*) FROM users WHERE role = 'admin') > 1)",
        )
        .bind(role.as_str())
        .bind(now())
        .bind(user_id.to_string())
        .bind(role.as_str())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        if done.rows_affected() == 0 {
            self.user_by_id(user_id).await?;
            return Err(StoreError::Conflict("the last admin".to_owned()));
        }
        Ok(())
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
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn session_user(&self, token_hash: &[u8], now: Timestamp) -> Result<User, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = ? AND s.expires_at > ?"
        ))
        .bind(token_hash)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        user_from_row(&row)
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn insert_api_token(
        &self,
        user_id: Uuid,
        name: &str,
        token_hash: &[u8],
    ) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(user_id.to_string())
        .bind(name)
        .bind(token_hash)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(id)
    }

    async fn api_token_user(&self, token_hash: &[u8], now: Timestamp) -> Result<User, StoreError> {
        let row = sqlx::query(
            "UPDATE api_tokens SET last_used_at = ? WHERE token_hash = ? RETURNING user_id",
        )
        .bind(now)
        .bind(token_hash)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        let user_id = uuid_col(&row, "user_id")?;
        self.user_by_id(user_id).await
    }

    async fn insert_server(&self, server: &Server) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO servers (id, slug, name, description, icon, auth_type, config_yaml, command,
                                  args_json, working_dir, enabled, owner_id, deploy_generation,
                                  created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        .bind(server.enabled)
        .bind(server.owner_id.map(|id| id.to_string()))
        .bind(server.deploy_generation)
        .bind(server.created_at)
        .bind(server.updated_at)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn server_by_id(&self, id: Uuid) -> Result<Server, StoreError> {
        let row = sqlx::query("SELECT * FROM servers WHERE id = ?")
            .bind(id.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        server_from_row(&row)
    }

    async fn server_by_slug(&self, slug: &str) -> Result<Server, StoreError> {
        let row = sqlx::query("SELECT * FROM servers WHERE slug = ?")
            .bind(slug)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        server_from_row(&row)
    }

    async fn list_servers(&self) -> Result<Vec<Server>, StoreError> {
        let rows = sqlx::query("SELECT * FROM servers ORDER BY name, slug")
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(server_from_row).collect()
    }

    async fn update_server(&self, id: Uuid, update: &ServerUpdate) -> Result<Server, StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let row = sqlx::query("SELECT * FROM servers WHERE id = ?")
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
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
                                args_json = ?, working_dir = ?, enabled = ?, updated_at = ?
             WHERE id = ?",
        )
        .bind(&server.name)
        .bind(&server.description)
        .bind(&server.icon)
        .bind(&server.config_yaml)
        .bind(server.runtime.as_ref().map(|r| r.command.clone()))
        .bind(args_json(server.runtime.as_ref()))
        .bind(server.runtime.as_ref().and_then(|r| r.working_dir.clone()))
        .bind(server.enabled)
        .bind(server.updated_at)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
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
        .await
        .map_err(map_err)?;
        Ok(row.try_get("deploy_generation")?)
    }

    async fn delete_server(&self, id: Uuid) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM servers WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn env_var_id(&self, server_id: Uuid, name: &str) -> Result<Option<Uuid>, StoreError> {
        let row = sqlx::query("SELECT id FROM env_vars WHERE server_id = ? AND name = ?")
            .bind(server_id.to_string())
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
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
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn list_env_vars(&self, server_id: Uuid) -> Result<Vec<EnvVarMeta>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, server_id, name, created_at, updated_at FROM env_vars
             WHERE server_id = ? ORDER BY name",
        )
        .bind(server_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
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
        .await
        .map_err(map_err)?;
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
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

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
        .bind(d.status.as_str())
        .bind(&d.address)
        .bind(server_token_hash)
        .bind(&d.error)
        .bind(d.created_at)
        .bind(d.updated_at)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
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
        .bind(status.as_str())
        .bind(address)
        .bind(error)
        .bind(now())
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
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
        .await
        .map_err(map_err)?;
        rows.iter().map(deployment_from_row).collect()
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        oauth::signing_keys(&self.pool).await
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        oauth::insert_signing_key(&self.pool, key).await
    }

    async fn upsert_oauth_client(&self, client: &OAuthClient) -> Result<(), StoreError> {
        oauth::upsert_oauth_client(&self.pool, client).await
    }

    async fn oauth_client(&self, client_id: &str) -> Result<OAuthClient, StoreError> {
        oauth::oauth_client(&self.pool, client_id).await
    }

    async fn insert_grant(&self, grant: &Grant) -> Result<(), StoreError> {
        oauth::insert_grant(&self.pool, grant).await
    }

    async fn grant_with_user(&self, id: Uuid) -> Result<(Grant, User), StoreError> {
        oauth::grant_with_user(&self.pool, id).await
    }

    async fn revoke_grant(&self, id: Uuid, at: Timestamp) -> Result<(), StoreError> {
        oauth::revoke_grant(&self.pool, id, at).await
    }

    async fn user_grants(&self, user_id: Uuid) -> Result<Vec<UserGrant>, StoreError> {
        oauth::user_grants(&self.pool, user_id).await
    }

    async fn insert_code(&self, code: &SingleUse) -> Result<(), StoreError> {
        oauth::insert_single_use(&self.pool, SingleUseTable::Codes, code).await
    }

    async fn consume_code(
        &self,
        hash: &[u8],
        client_id: &str,
        at: Timestamp,
    ) -> Result<Consumed, StoreError> {
        oauth::consume(&self.pool, SingleUseTable::Codes, hash, client_id, at).await
    }

    async fn insert_refresh_token(&self, token: &SingleUse) -> Result<(), StoreError> {
        oauth::insert_single_use(&self.pool, SingleUseTable::RefreshTokens, token).await
    }

    async fn consume_refresh_token(
        &self,
        hash: &[u8],
        client_id: &str,
        at: Timestamp,
    ) -> Result<Consumed, StoreError> {
        oauth::consume(
            &self.pool,
            SingleUseTable::RefreshTokens,
            hash,
            client_id,
            at,
        )
        .await
    }

    async fn deployment_by_token(&self, hash: &[u8]) -> Result<Deployment, StoreError> {
        let row = sqlx::query(
            "SELECT id, server_id, generation, status, address, error, created_at, updated_at
             FROM deployments WHERE server_token_hash = ?",
        )
        .bind(hash)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        deployment_from_row(&row)
    }

    async fn credentials(
        &self,
        user_id: Uuid,
        server_id: Uuid,
    ) -> Result<SealedCredentials, StoreError> {
        let row = sqlx::query("SELECT * FROM credentials WHERE user_id = ? AND server_id = ?")
            .bind(user_id.to_string())
            .bind(server_id.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
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
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn delete_credentials(&self, user_id: Uuid, server_id: Uuid) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM credentials WHERE user_id = ? AND server_id = ?")
            .bind(user_id.to_string())
            .bind(server_id.to_string())
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
    async fn insert_oauth_flow(&self, flow: &OAuthFlow) -> Result<(), StoreError> {
        connections::insert_oauth_flow(&self.pool, flow).await
    }

    async fn take_oauth_flow(
        &self,
        state_hash: &[u8],
        now: Timestamp,
    ) -> Result<OAuthFlow, StoreError> {
        connections::take_oauth_flow(&self.pool, state_hash, now).await
    }

    async fn connection(
        &self,
        user_id: Uuid,
        server_id: Uuid,
        provider: &str,
    ) -> Result<Connection, StoreError> {
        connections::connection(&self.pool, user_id, server_id, provider).await
    }

    async fn user_connections(&self, user_id: Uuid) -> Result<Vec<Connection>, StoreError> {
        connections::user_connections(&self.pool, user_id).await
    }

    async fn upsert_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        connections::upsert_connection(&self.pool, connection).await
    }

    async fn lease_connection(
        &self,
        id: Uuid,
        version: i64,
        holder: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        connections::lease_connection(&self.pool, id, version, holder, until, now).await
    }

    async fn finish_refresh(
        &self,
        id: Uuid,
        holder: &str,
        tokens: &RefreshedTokens,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        connections::finish_refresh(&self.pool, id, holder, tokens, now).await
    }

    async fn fail_refresh(
        &self,
        id: Uuid,
        holder: &str,
        failure: &RefreshFailure,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        connections::fail_refresh(&self.pool, id, holder, failure, now).await
    }

    async fn expire_access_token(
        &self,
        id: Uuid,
        access_hash: &[u8],
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        connections::expire_access_token(&self.pool, id, access_hash, now).await
    }

    async fn mark_needs_reauth(
        &self,
        id: Uuid,
        version: i64,
        message: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        connections::mark_needs_reauth(&self.pool, id, version, message, now).await
    }

    async fn connections_expiring(
        &self,
        until: Timestamp,
        now: Timestamp,
        limit: i64,
    ) -> Result<Vec<Connection>, StoreError> {
        connections::connections_expiring(&self.pool, until, now, limit).await
    }

    async fn delete_connection(&self, id: Uuid) -> Result<(), StoreError> {
        connections::delete_connection(&self.pool, id).await
    }
}
