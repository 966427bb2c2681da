//! [`OAuthStore`] on SQLite: clients, grants, and the single-use codes and refresh tokens.

use async_trait::async_trait;
use sqlx::Row as _;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use uuid::Uuid;

use super::SqliteStore;
use super::rows::{USER_COLUMNS, user_from_row, uuid_col};
use crate::store::{
    Consumed, Grant, Lookup, OAuthClient, OAuthStore, SingleUse, StoreError, Timestamp, User,
    UserGrant,
};

fn grant_from_row(row: &SqliteRow) -> Result<Grant, StoreError> {
    Ok(Grant {
        id: uuid_col(row, "g_id")?,
        user_id: uuid_col(row, "g_user_id")?,
        client_id: row.try_get("g_client_id")?,
        server_id: uuid_col(row, "g_server_id")?,
        resource: row.try_get("g_resource")?,
        scope: row.try_get("g_scope")?,
        created_at: row.try_get("g_created_at")?,
        revoked_at: row.try_get("g_revoked_at")?,
    })
}

/// `table` is one of our two single-use tables; never user input.
async fn insert_single_use(
    pool: &SqlitePool,
    table: SingleUseTable,
    s: &SingleUse,
) -> Result<(), StoreError> {
    let sql = match table {
        SingleUseTable::Codes => {
            "INSERT INTO oauth_codes (code_hash, grant_id, client_id, redirect_uri, code_challenge,
                                      created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
        }
        SingleUseTable::RefreshTokens => {
            "INSERT INTO oauth_refresh_tokens (token_hash, grant_id, client_id, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?)"
        }
    };
    let mut query = sqlx::query(sql)
        .bind(&s.hash)
        .bind(s.grant_id.to_string())
        .bind(&s.client_id);
    if table == SingleUseTable::Codes {
        query = query.bind(&s.redirect_uri).bind(&s.code_challenge);
    }
    query
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(pool)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SingleUseTable {
    Codes,
    RefreshTokens,
}

fn single_use_from_row(row: &SqliteRow, table: SingleUseTable) -> Result<SingleUse, StoreError> {
    let (redirect_uri, code_challenge) = match table {
        SingleUseTable::Codes => (row.try_get("redirect_uri")?, row.try_get("code_challenge")?),
        SingleUseTable::RefreshTokens => (String::new(), String::new()),
    };
    Ok(SingleUse {
        hash: row.try_get("hash")?,
        grant_id: uuid_col(row, "grant_id")?,
        client_id: row.try_get("client_id")?,
        redirect_uri,
        code_challenge,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

/// Finds a code or refresh token by its hash without changing it.
async fn find(pool: &SqlitePool, table: SingleUseTable, hash: &[u8]) -> Result<Lookup, StoreError> {
    let select = match table {
        SingleUseTable::Codes => {
            "SELECT code_hash AS hash, grant_id, client_id, redirect_uri, code_challenge, created_at,
                    expires_at, used_at IS NOT NULL AS used
             FROM oauth_codes WHERE code_hash = ?"
        }
        SingleUseTable::RefreshTokens => {
            "SELECT token_hash AS hash, grant_id, client_id, created_at, expires_at,
                    used_at IS NOT NULL AS used
             FROM oauth_refresh_tokens WHERE token_hash = ?"
        }
    };
    let Some(row) = sqlx::query(select).bind(hash).fetch_optional(pool).await? else {
        return Ok(Lookup::NotFound);
    };
    let found = single_use_from_row(&row, table)?;
    Ok(if row.try_get::<bool, _>("used")? {
        Lookup::Used(found)
    } else {
        Lookup::Unused(found)
    })
}

/// Marks a code or refresh token used in one statement, so two concurrent uses cannot both
/// see it fresh.
async fn consume(
    pool: &SqlitePool,
    table: SingleUseTable,
    hash: &[u8],
    client_id: &str,
    at: Timestamp,
) -> Result<Consumed, StoreError> {
    let (update, select) = match table {
        SingleUseTable::Codes => (
            "UPDATE oauth_codes SET used_at = ? WHERE code_hash = ? AND client_id = ? AND used_at IS NULL
             RETURNING code_hash AS hash, grant_id, client_id, redirect_uri, code_challenge, created_at, expires_at",
            "SELECT code_hash AS hash, grant_id, client_id, redirect_uri, code_challenge, created_at, expires_at
             FROM oauth_codes WHERE code_hash = ?",
        ),
        SingleUseTable::RefreshTokens => (
            "UPDATE oauth_refresh_tokens SET used_at = ? WHERE token_hash = ? AND client_id = ? AND used_at IS NULL
             RETURNING token_hash AS hash, grant_id, client_id, created_at, expires_at",
            "SELECT token_hash AS hash, grant_id, client_id, created_at, expires_at
             FROM oauth_refresh_tokens WHERE token_hash = ?",
        ),
    };
    if let Some(row) = sqlx::query(update)
        .bind(at)
        .bind(hash)
        .bind(client_id)
        .fetch_optional(pool)
        .await?
    {
        return Ok(Consumed::Fresh(single_use_from_row(&row, table)?));
    }
    match sqlx::query(select).bind(hash).fetch_optional(pool).await? {
        Some(row) => {
            let found = single_use_from_row(&row, table)?;
            if found.client_id == client_id {
                Ok(Consumed::Replayed(found))
            } else {
                Ok(Consumed::OtherClient)
            }
        }
        None => Ok(Consumed::NotFound),
    }
}

#[async_trait]
impl OAuthStore for SqliteStore {
    async fn upsert_oauth_client(&self, c: &OAuthClient) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oauth_clients (client_id, kind, client_name, redirect_uris_json,
                                        token_endpoint_auth_method, secret_hash, metadata_json,
                                        created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (client_id) DO UPDATE SET
                 client_name = excluded.client_name, redirect_uris_json = excluded.redirect_uris_json,
                 token_endpoint_auth_method = excluded.token_endpoint_auth_method,
                 secret_hash = excluded.secret_hash, metadata_json = excluded.metadata_json,
                 expires_at = excluded.expires_at
             WHERE oauth_clients.kind = excluded.kind",
        )
        .bind(&c.client_id)
        .bind(c.kind)
        .bind(&c.client_name)
        .bind(serde_json::to_string(&c.redirect_uris).expect("strings serialise"))
        .bind(&c.auth_method)
        .bind(&c.secret_hash)
        .bind(&c.metadata_json)
        .bind(c.created_at)
        .bind(c.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn oauth_client(&self, client_id: &str) -> Result<OAuthClient, StoreError> {
        let row = sqlx::query("SELECT * FROM oauth_clients WHERE client_id = ?")
            .bind(client_id)
            .fetch_one(&self.pool)
            .await?;
        let uris: String = row.try_get("redirect_uris_json")?;
        Ok(OAuthClient {
            client_id: row.try_get("client_id")?,
            kind: row.try_get("kind")?,
            client_name: row.try_get("client_name")?,
            redirect_uris: serde_json::from_str(&uris)
                .map_err(|e| StoreError::Corrupt(format!("redirect_uris_json: {e}")))?,
            auth_method: row.try_get("token_endpoint_auth_method")?,
            secret_hash: row.try_get("secret_hash")?,
            metadata_json: row.try_get("metadata_json")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
        })
    }

    async fn insert_grant(&self, g: &Grant) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oauth_grants (id, user_id, client_id, server_id, resource, scope, created_at, revoked_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(g.id.to_string())
        .bind(g.user_id.to_string())
        .bind(&g.client_id)
        .bind(g.server_id.to_string())
        .bind(&g.resource)
        .bind(&g.scope)
        .bind(g.created_at)
        .bind(g.revoked_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn grant_with_user(&self, id: Uuid) -> Result<(Grant, User), StoreError> {
        let row = sqlx::query(&format!(
            "SELECT g.id AS g_id, g.user_id AS g_user_id, g.client_id AS g_client_id,
                    g.server_id AS g_server_id, g.resource AS g_resource, g.scope AS g_scope,
                    g.created_at AS g_created_at, g.revoked_at AS g_revoked_at,
                    {USER_COLUMNS}
             FROM oauth_grants g JOIN users u ON u.id = g.user_id WHERE g.id = ?"
        ))
        .bind(id.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok((grant_from_row(&row)?, user_from_row(&row)?))
    }

    fn access_version(&self) -> u64 {
        self.access.load(std::sync::atomic::Ordering::Acquire)
    }

    async fn revoke_grant(&self, id: Uuid, at: Timestamp) -> Result<(), StoreError> {
        self.changing_access(async {
            sqlx::query(
                "UPDATE oauth_grants SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
            )
            .bind(at)
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    async fn user_grants(&self, user_id: Uuid) -> Result<Vec<UserGrant>, StoreError> {
        let rows = sqlx::query(
            "SELECT g.id AS g_id, g.user_id AS g_user_id, g.client_id AS g_client_id,
                    g.server_id AS g_server_id, g.resource AS g_resource, g.scope AS g_scope,
                    g.created_at AS g_created_at, g.revoked_at AS g_revoked_at,
                    c.client_name, s.slug, s.name,
                    (SELECT MAX(r.created_at) FROM oauth_refresh_tokens r WHERE r.grant_id = g.id)
                        AS last_token_at
             FROM oauth_grants g
             JOIN servers s ON s.id = g.server_id
             LEFT JOIN oauth_clients c ON c.client_id = g.client_id
             WHERE g.user_id = ? AND g.revoked_at IS NULL
             ORDER BY g.created_at DESC, g.id",
        )
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(UserGrant {
                    grant: grant_from_row(row)?,
                    client_name: row.try_get("client_name")?,
                    server_slug: row.try_get("slug")?,
                    server_name: row.try_get("name")?,
                    last_token_at: row.try_get("last_token_at")?,
                })
            })
            .collect()
    }

    async fn insert_code(&self, code: &SingleUse) -> Result<(), StoreError> {
        insert_single_use(&self.pool, SingleUseTable::Codes, code).await
    }

    async fn find_code(&self, hash: &[u8]) -> Result<Lookup, StoreError> {
        find(&self.pool, SingleUseTable::Codes, hash).await
    }

    async fn find_refresh_token(&self, hash: &[u8]) -> Result<Lookup, StoreError> {
        find(&self.pool, SingleUseTable::RefreshTokens, hash).await
    }

    async fn consume_code(
        &self,
        hash: &[u8],
        client_id: &str,
        at: Timestamp,
    ) -> Result<Consumed, StoreError> {
        consume(&self.pool, SingleUseTable::Codes, hash, client_id, at).await
    }

    async fn insert_refresh_token(&self, token: &SingleUse) -> Result<(), StoreError> {
        insert_single_use(&self.pool, SingleUseTable::RefreshTokens, token).await
    }

    async fn consume_refresh_token(
        &self,
        hash: &[u8],
        client_id: &str,
        at: Timestamp,
    ) -> Result<Consumed, StoreError> {
        consume(
            &self.pool,
            SingleUseTable::RefreshTokens,
            hash,
            client_id,
            at,
        )
        .await
    }
}
