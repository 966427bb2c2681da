//! Every store trait on SQLite: one file under the data directory, WAL mode, embedded
//! migrations (`migrations/sqlite`). One file per aggregate implements its trait directly on
//! [`SqliteStore`]; `rows` holds what they share.

mod activity;
mod activity_writes;
mod api_tokens;
mod audit;
mod connections;
mod credentials;
mod deployments;
mod groups;
mod keys;
mod maintainers;
mod oauth;
mod rows;
mod servers;
mod tools;
mod users;
mod vault;

use std::path::Path;
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::StoreError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// [`OAuthStore::access_version`](super::OAuthStore::access_version): counts the writes
    /// that change what a grant authorizes, made through this store.
    access: Arc<AtomicU64>,
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
        Ok(Self {
            pool,
            access: Arc::default(),
        })
    }

    /// Runs `write`, which may change what a grant authorizes, then counts it in the access
    /// version (after the write has committed or failed: a reader that sees the new version
    /// reads what the write left).
    async fn changing_access<T>(
        &self,
        write: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let result = write.await;
        self.access.fetch_add(1, Ordering::AcqRel);
        result
    }

    /// The pool, for tests that must write rows directly (e.g. to prove defence in depth).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}
