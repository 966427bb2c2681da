//! [`SigningKeyStore`] on SQLite.

use async_trait::async_trait;
use sqlx::Row as _;

use super::SqliteStore;
use crate::store::{SigningKeyRecord, SigningKeyStore, StoreError};

#[async_trait]
impl SigningKeyStore for SqliteStore {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, private_ciphertext, public_x, created_at, activates_at FROM signing_keys
             WHERE retired_at IS NULL ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SigningKeyRecord {
                    kid: row.try_get("kid")?,
                    private_ciphertext: row.try_get("private_ciphertext")?,
                    public_x: row.try_get("public_x")?,
                    created_at: row.try_get("created_at")?,
                    activates_at: row.try_get("activates_at")?,
                })
            })
            .collect()
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, private_ciphertext, public_x, created_at, activates_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&key.kid)
        .bind(&key.private_ciphertext)
        .bind(&key.public_x)
        .bind(key.created_at)
        .bind(key.activates_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM signing_keys WHERE kid = ?")
            .bind(kid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
