//! [`AuditStore`] on SQLite. An append is one `BEGIN IMMEDIATE` transaction: it takes the
//! database's write lock before reading the head, so two processes on one file append one
//! after the other (the second waits on the busy timeout), never both after the same record.

use async_trait::async_trait;
use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite};

use super::SqliteStore;
use crate::store::{
    AuditDraft, AuditHead, AuditQuery, AuditRecord, AuditStore, ChainLink, StoreError,
};

const RECORD_COLUMNS: &str = "seq, at, actor_id, actor_label, action, target_kind, target_id, \
                              target_label, details, source, prev_hash, hash";

fn record_from_row(row: &SqliteRow) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        seq: row.try_get("seq")?,
        draft: AuditDraft {
            at: row.try_get("at")?,
            actor_id: row.try_get("actor_id")?,
            actor_label: row.try_get("actor_label")?,
            action: row.try_get("action")?,
            target_kind: row.try_get("target_kind")?,
            target_id: row.try_get("target_id")?,
            target_label: row.try_get("target_label")?,
            details: row.try_get("details")?,
            source: row.try_get("source")?,
        },
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn audit_head(&self) -> Result<AuditHead, StoreError> {
        let row = sqlx::query(
            "SELECT count, last_hash, head_mac, key_id, key_ciphertext FROM audit_head WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::Corrupt("audit_head has no row".into()))?;
        Ok(AuditHead {
            count: row.try_get("count")?,
            last_hash: row.try_get("last_hash")?,
            head_mac: row.try_get("head_mac")?,
            key_id: row.try_get("key_id")?,
            key_ciphertext: row.try_get("key_ciphertext")?,
        })
    }

    async fn init_audit_key(
        &self,
        key_id: &str,
        key_ciphertext: &[u8],
        head_mac: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE audit_head SET key_id = ?, key_ciphertext = ?, head_mac = ?
             WHERE id = 1 AND key_ciphertext IS NULL AND count = 0",
        )
        .bind(key_id)
        .bind(key_ciphertext)
        .bind(head_mac)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn append_audit(
        &self,
        draft: &AuditDraft,
        link: &(dyn for<'p> Fn(i64, &'p str) -> ChainLink + Send + Sync),
    ) -> Result<AuditRecord, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let head = sqlx::query("SELECT count, last_hash FROM audit_head WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::Corrupt("audit_head has no row".into()))?;
        let count: i64 = head.try_get("count")?;
        let prev_hash: String = head.try_get("last_hash")?;
        let seq = count + 1;
        let ChainLink { hash, head_mac } = link(seq, &prev_hash);
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor_id, actor_label, action, target_kind, target_id,
                                    target_label, details, source, prev_hash, hash)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(seq)
        .bind(draft.at)
        .bind(&draft.actor_id)
        .bind(&draft.actor_label)
        .bind(&draft.action)
        .bind(&draft.target_kind)
        .bind(&draft.target_id)
        .bind(&draft.target_label)
        .bind(&draft.details)
        .bind(&draft.source)
        .bind(&prev_hash)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE audit_head SET count = ?, last_hash = ?, head_mac = ? WHERE id = 1")
            .bind(seq)
            .bind(&hash)
            .bind(&head_mac)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(AuditRecord {
            seq,
            draft: draft.clone(),
            prev_hash,
            hash,
        })
    }

    async fn audit_records(
        &self,
        query: &AuditQuery,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        // Only the filters given become conditions, so SQLite can pick the matching
        // `(column, seq)` index; values are always bound.
        let mut sql = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {RECORD_COLUMNS} FROM audit_log WHERE 1 = 1"
        ));
        if let Some(id) = query.actor_id {
            sql.push(" AND actor_id = ").push_bind(id.to_string());
        }
        if let Some(label) = &query.actor_label {
            sql.push(" AND actor_label = ").push_bind(label.clone());
        }
        if let Some(action) = &query.action {
            sql.push(" AND action = ").push_bind(action.clone());
        }
        if let Some(kind) = &query.target_kind {
            sql.push(" AND target_kind = ").push_bind(kind.clone());
        }
        if let Some(from) = query.from {
            sql.push(" AND at >= ").push_bind(from);
        }
        if let Some(until) = query.until {
            sql.push(" AND at < ").push_bind(until);
        }
        if let Some(before) = query.before {
            sql.push(" AND seq < ").push_bind(before);
        }
        sql.push(" ORDER BY seq DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows = sql.build().fetch_all(&self.pool).await?;
        rows.iter().map(record_from_row).collect()
    }

    async fn audit_chain(&self, after: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        let sql =
            format!("SELECT {RECORD_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?");
        let rows = sqlx::query(&sql)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(record_from_row).collect()
    }
}
