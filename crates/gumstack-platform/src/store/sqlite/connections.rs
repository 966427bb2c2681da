//! [`ConnectionStore`] on SQLite: connect flows and connections with their refresh leases.
//! Every lease operation is one conditional `UPDATE`, so the same statements coordinate
//! refreshes on PostgreSQL.

use async_trait::async_trait;
use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use super::SqliteStore;
use super::rows::uuid_col;
use crate::store::{
    Connection, ConnectionStore, Constraint, LeaseClaim, OAuthFlow, RefreshFailure,
    RefreshedTokens, StoreError, Timestamp,
};

/// The condition under which a connection's lease may be taken (binds `now`, `live_since`):
/// none is held, it expired, or its instance has no heartbeat since `live_since` (the process
/// that took it is gone).
macro_rules! lease_free {
    () => {
        "(lease_holder IS NULL OR lease_until < ?
          OR NOT EXISTS (SELECT 1 FROM platform_instances i
                         WHERE i.id = connections.lease_instance AND i.heartbeat_at >= ?))"
    };
}

/// Unexpired connect flows one user may have at a time.
const MAX_FLOWS_PER_USER: i64 = 20;

fn connection_from_row(row: &SqliteRow) -> Result<Connection, StoreError> {
    Ok(Connection {
        id: uuid_col(row, "id")?,
        user_id: uuid_col(row, "user_id")?,
        server_id: uuid_col(row, "server_id")?,
        provider: row.try_get("provider")?,
        nickname: row.try_get("nickname")?,
        subject: row.try_get("subject")?,
        label: row.try_get("label")?,
        is_default: row.try_get("is_default")?,
        access_ciphertext: row.try_get("access_ciphertext")?,
        access_hash: row.try_get("access_hash")?,
        refresh_ciphertext: row.try_get("refresh_ciphertext")?,
        expires_at: row.try_get("expires_at")?,
        scope: row.try_get("scope")?,
        status: row.try_get("status")?,
        failure_kind: row.try_get("failure_kind")?,
        failure_message: row.try_get("failure_message")?,
        failures: row.try_get("failures")?,
        retry_at: row.try_get("retry_at")?,
        version: row.try_get("version")?,
        lease_holder: row.try_get("lease_holder")?,
        lease_until: row.try_get("lease_until")?,
        obtained_at: row.try_get("obtained_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The server and provider of `user_id`'s connection `id`; `NotFound` when it is not theirs.
async fn owned_by(
    tx: &mut sqlx::SqliteConnection,
    user_id: Uuid,
    id: Uuid,
) -> Result<(String, String), StoreError> {
    let row =
        sqlx::query("SELECT server_id, provider FROM connections WHERE id = ? AND user_id = ?")
            .bind(id.to_string())
            .bind(user_id.to_string())
            .fetch_one(&mut *tx)
            .await?;
    Ok((row.try_get("server_id")?, row.try_get("provider")?))
}

/// The row of the account `c` connects again, if the user has it: the one with the same
/// subject, else the one with the same nickname and no other subject. `Conflict(AccountName)`
/// when another account (another subject) goes by that nickname.
async fn same_account(
    tx: &mut sqlx::SqliteConnection,
    c: &Connection,
) -> Result<Option<String>, StoreError> {
    if let Some(subject) = &c.subject {
        let by_subject = sqlx::query_scalar::<_, String>(
            "SELECT id FROM connections
             WHERE user_id = ? AND server_id = ? AND provider = ? AND subject = ?",
        )
        .bind(c.user_id.to_string())
        .bind(c.server_id.to_string())
        .bind(&c.provider)
        .bind(subject)
        .fetch_optional(&mut *tx)
        .await?;
        if by_subject.is_some() {
            return Ok(by_subject);
        }
    }
    let by_name = sqlx::query(
        "SELECT id, subject FROM connections
         WHERE user_id = ? AND server_id = ? AND provider = ? AND nickname = ?",
    )
    .bind(c.user_id.to_string())
    .bind(c.server_id.to_string())
    .bind(&c.provider)
    .bind(&c.nickname)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = by_name else {
        return Ok(None);
    };
    let theirs: Option<String> = row.try_get("subject")?;
    match (&c.subject, theirs) {
        (Some(ours), Some(theirs)) if *ours != theirs => {
            Err(StoreError::Conflict(Constraint::AccountName))
        }
        _ => Ok(Some(row.try_get("id")?)),
    }
}

#[async_trait]
impl ConnectionStore for SqliteStore {
    async fn insert_oauth_flow(&self, flow: &OAuthFlow) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM oauth_flows WHERE expires_at < ?")
            .bind(flow.created_at)
            .execute(&self.pool)
            .await?;
        let done = sqlx::query(
            "INSERT INTO oauth_flows (state_hash, id, user_id, server_id, provider, session_hash,
                                      verifier_ciphertext, requested_scope, created_at, expires_at)
             SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
             WHERE (SELECT COUNT(*) FROM oauth_flows WHERE user_id = ?) < ?",
        )
        .bind(&flow.state_hash)
        .bind(flow.id.to_string())
        .bind(flow.user_id.to_string())
        .bind(flow.server_id.to_string())
        .bind(&flow.provider)
        .bind(&flow.session_hash)
        .bind(&flow.verifier_ciphertext)
        .bind(&flow.requested_scope)
        .bind(flow.created_at)
        .bind(flow.expires_at)
        .bind(flow.user_id.to_string())
        .bind(MAX_FLOWS_PER_USER)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(Constraint::FlowLimit));
        }
        Ok(())
    }

    async fn take_oauth_flow(
        &self,
        state_hash: &[u8],
        now: Timestamp,
    ) -> Result<OAuthFlow, StoreError> {
        sqlx::query("DELETE FROM oauth_flows WHERE expires_at < ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        // DELETE … RETURNING: of two callbacks with the same state, exactly one gets the row.
        let row = sqlx::query("DELETE FROM oauth_flows WHERE state_hash = ? RETURNING *")
            .bind(state_hash)
            .fetch_one(&self.pool)
            .await?;
        Ok(OAuthFlow {
            id: uuid_col(&row, "id")?,
            state_hash: row.try_get("state_hash")?,
            user_id: uuid_col(&row, "user_id")?,
            server_id: uuid_col(&row, "server_id")?,
            provider: row.try_get("provider")?,
            session_hash: row.try_get("session_hash")?,
            verifier_ciphertext: row.try_get("verifier_ciphertext")?,
            requested_scope: row.try_get("requested_scope")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
        })
    }

    async fn connection(
        &self,
        user_id: Uuid,
        server_id: Uuid,
        provider: &str,
        account: Option<&str>,
    ) -> Result<Connection, StoreError> {
        let query = match account {
            None => sqlx::query(
                "SELECT * FROM connections
                 WHERE user_id = ? AND server_id = ? AND provider = ? AND is_default = 1",
            )
            .bind(user_id.to_string())
            .bind(server_id.to_string())
            .bind(provider),
            // A nickname is the account's own name: it wins over another account's label.
            Some(name) => sqlx::query(
                "SELECT * FROM connections
                 WHERE user_id = ? AND server_id = ? AND provider = ?
                   AND (nickname = ? OR label = ?)
                 ORDER BY nickname = ? DESC LIMIT 1",
            )
            .bind(user_id.to_string())
            .bind(server_id.to_string())
            .bind(provider)
            .bind(name)
            .bind(name)
            .bind(name),
        };
        let row = query.fetch_one(&self.pool).await?;
        connection_from_row(&row)
    }

    async fn user_connections(&self, user_id: Uuid) -> Result<Vec<Connection>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM connections WHERE user_id = ?
             ORDER BY server_id, provider, is_default DESC, created_at, id",
        )
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(connection_from_row).collect()
    }

    async fn set_default_connection(&self, user_id: Uuid, id: Uuid) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let (server_id, provider) = owned_by(&mut tx, user_id, id).await?;
        // The old default is cleared first: the one-default index is checked row by row.
        sqlx::query(
            "UPDATE connections SET is_default = 0
             WHERE user_id = ? AND server_id = ? AND provider = ? AND id <> ? AND is_default = 1",
        )
        .bind(user_id.to_string())
        .bind(&server_id)
        .bind(&provider)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE connections SET is_default = 1 WHERE id = ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn label_connection(
        &self,
        user_id: Uuid,
        id: Uuid,
        label: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let (server_id, provider) = owned_by(&mut tx, user_id, id).await?;
        if let Some(label) = label {
            let taken = sqlx::query(
                "SELECT 1 FROM connections
                 WHERE user_id = ? AND server_id = ? AND provider = ? AND id <> ?
                   AND (nickname = ? OR label = ?)",
            )
            .bind(user_id.to_string())
            .bind(&server_id)
            .bind(&provider)
            .bind(id.to_string())
            .bind(label)
            .bind(label)
            .fetch_optional(&mut *tx)
            .await?;
            if taken.is_some() {
                return Err(StoreError::Conflict(Constraint::AccountName));
            }
        }
        sqlx::query("UPDATE connections SET label = ? WHERE id = ?")
            .bind(label)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn upsert_connection(&self, c: &Connection) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let same = same_account(&mut tx, c).await?;
        let sql = match same {
            // Its row takes the new id and tokens; its label and default stay.
            Some(_) => {
                "UPDATE connections SET
                     id = ?1, nickname = ?5, subject = COALESCE(?20, subject),
                     access_ciphertext = ?6, access_hash = ?7, refresh_ciphertext = ?8,
                     expires_at = ?9, scope = ?10, status = ?11, failure_kind = ?12,
                     failure_message = ?13, failures = ?14, retry_at = ?15,
                     version = version + 1, lease_holder = NULL, lease_until = NULL,
                     lease_instance = NULL, obtained_at = ?17, updated_at = ?19
                 WHERE id = ?21 AND user_id = ?2 AND server_id = ?3 AND provider = ?4"
            }
            None => {
                "INSERT INTO connections (id, user_id, server_id, provider, nickname, subject,
                                          is_default, access_ciphertext, access_hash,
                                          refresh_ciphertext, expires_at, scope, status,
                                          failure_kind, failure_message, failures, retry_at,
                                          version, lease_holder, lease_until, obtained_at,
                                          created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?20,
                         NOT EXISTS (SELECT 1 FROM connections WHERE user_id = ?2
                                     AND server_id = ?3 AND provider = ?4 AND is_default = 1),
                         ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, NULL, NULL, ?17, ?18,
                         ?19)"
            }
        };
        sqlx::query(sql)
            .bind(c.id.to_string())
            .bind(c.user_id.to_string())
            .bind(c.server_id.to_string())
            .bind(&c.provider)
            .bind(&c.nickname)
            .bind(&c.access_ciphertext)
            .bind(&c.access_hash)
            .bind(&c.refresh_ciphertext)
            .bind(c.expires_at)
            .bind(&c.scope)
            .bind(c.status)
            .bind(c.failure_kind)
            .bind(&c.failure_message)
            .bind(c.failures)
            .bind(c.retry_at)
            .bind(c.version)
            .bind(c.obtained_at)
            .bind(c.created_at)
            .bind(c.updated_at)
            .bind(&c.subject)
            .bind(same)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn lease_connection(
        &self,
        id: Uuid,
        version: i64,
        claim: &LeaseClaim<'_>,
        now: Timestamp,
        live_since: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(concat!(
            "UPDATE connections SET lease_holder = ?, lease_instance = ?, lease_until = ?,
                 version = version + 1
             WHERE id = ? AND version = ? AND ",
            lease_free!()
        ))
        .bind(claim.holder)
        .bind(claim.instance.to_string())
        .bind(claim.until)
        .bind(id.to_string())
        .bind(version)
        .bind(now)
        .bind(live_since)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_refresh(
        &self,
        id: Uuid,
        holder: &str,
        t: &RefreshedTokens,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE connections SET
                 access_ciphertext = ?, access_hash = ?,
                 refresh_ciphertext = COALESCE(?, refresh_ciphertext),
                 expires_at = ?, scope = COALESCE(?, scope), obtained_at = ?,
                 status = 'active', failure_kind = NULL, failure_message = NULL, failures = 0,
                 retry_at = NULL, version = version + 1, lease_holder = NULL, lease_until = NULL,
                 lease_instance = NULL, updated_at = ?
             WHERE id = ? AND lease_holder = ?",
        )
        .bind(&t.access_ciphertext)
        .bind(&t.access_hash)
        .bind(&t.refresh_ciphertext)
        .bind(t.expires_at)
        .bind(&t.scope)
        .bind(t.obtained_at)
        .bind(now)
        .bind(id.to_string())
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn fail_refresh(
        &self,
        id: Uuid,
        holder: &str,
        failure: &RefreshFailure,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let query = match failure {
            RefreshFailure::NeedsReauth { message } => sqlx::query(
                "UPDATE connections SET status = 'needs_reauth', failure_kind = NULL,
                     failure_message = ?, retry_at = NULL, version = version + 1,
                     lease_holder = NULL, lease_until = NULL, lease_instance = NULL, updated_at = ?
                 WHERE id = ? AND lease_holder = ?",
            )
            .bind(message)
            .bind(now),
            RefreshFailure::Kept {
                kind,
                message,
                retry_at,
            } => sqlx::query(
                "UPDATE connections SET failure_kind = ?, failure_message = ?,
                     failures = failures + 1, retry_at = ?, version = version + 1,
                     lease_holder = NULL, lease_until = NULL, lease_instance = NULL, updated_at = ?
                 WHERE id = ? AND lease_holder = ?",
            )
            .bind(kind)
            .bind(message)
            .bind(*retry_at)
            .bind(now),
        };
        let done = query
            .bind(id.to_string())
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn expire_access_token(
        &self,
        id: Uuid,
        access_hash: &[u8],
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE connections SET expires_at = ?, version = version + 1, updated_at = ?
             WHERE id = ? AND access_hash = ? AND (expires_at IS NULL OR expires_at > ?)",
        )
        .bind(now)
        .bind(now)
        .bind(id.to_string())
        .bind(access_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn mark_needs_reauth(
        &self,
        id: Uuid,
        version: i64,
        message: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE connections SET status = 'needs_reauth', failure_message = ?,
                 version = version + 1, updated_at = ?
             WHERE id = ? AND version = ?",
        )
        .bind(message)
        .bind(now)
        .bind(id.to_string())
        .bind(version)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn connections_expiring(
        &self,
        until: Timestamp,
        now: Timestamp,
        live_since: Timestamp,
        limit: i64,
    ) -> Result<Vec<Connection>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT * FROM connections
             WHERE status = 'active' AND refresh_ciphertext IS NOT NULL
               AND expires_at IS NOT NULL AND expires_at <= ?
               AND (retry_at IS NULL OR retry_at <= ?)
               AND NOT EXISTS (SELECT 1 FROM users u
                               WHERE u.id = connections.user_id AND u.disabled_at IS NOT NULL)
               AND ",
            lease_free!(),
            " ORDER BY expires_at LIMIT ?"
        ))
        .bind(until)
        .bind(now)
        .bind(now)
        .bind(live_since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(connection_from_row).collect()
    }

    async fn delete_connection(&self, id: Uuid) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let gone = sqlx::query(
            "DELETE FROM connections WHERE id = ? RETURNING user_id, server_id, provider, is_default",
        )
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(gone) = gone
            && gone.try_get::<bool, _>("is_default")?
        {
            let user_id: String = gone.try_get("user_id")?;
            let server_id: String = gone.try_get("server_id")?;
            let provider: String = gone.try_get("provider")?;
            sqlx::query(
                "UPDATE connections SET is_default = 1 WHERE id = (
                     SELECT id FROM connections WHERE user_id = ? AND server_id = ? AND provider = ?
                     ORDER BY created_at, id LIMIT 1)",
            )
            .bind(user_id)
            .bind(server_id)
            .bind(provider)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn beat_instance(
        &self,
        id: Uuid,
        started_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO platform_instances (id, started_at, heartbeat_at) VALUES (?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = MAX(heartbeat_at, excluded.heartbeat_at)",
        )
        .bind(id.to_string())
        .bind(started_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn remove_instance(&self, id: Uuid) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM platform_instances WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn forget_instances(&self, before: Timestamp) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM platform_instances WHERE heartbeat_at < ?")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
