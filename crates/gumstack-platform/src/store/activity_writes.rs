//! The activity log's writes (SPEC §9): rows of ended calls, inserted in batches by the
//! activity writer; counts of records it could not keep; pruning past the retention.
//!
//! Units of table `activity` (migration 0010): `started_at` in Unix milliseconds,
//! `duration_us` in microseconds; `input`, `output` and `error` are already redacted and capped
//! when they arrive here. `activity_lost.at` is in Unix milliseconds too.

use async_trait::async_trait;

use super::StoreError;
use super::activity::CallStatus;

/// One ended call, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewActivity {
    pub server_id: String,
    pub user_id: String,
    pub client_id: Option<String>,
    pub tool: String,
    pub status: CallStatus,
    /// Unix milliseconds.
    pub started_at: i64,
    pub duration_us: i64,
    pub input: Option<String>,
    pub input_truncated: bool,
    pub output: Option<String>,
    pub output_truncated: bool,
    pub error: Option<String>,
}

/// What the activity writer and the retention job do to the log.
#[async_trait]
pub trait ActivityWrites: Send + Sync {
    /// Inserts `rows` in one transaction (all or none).
    async fn insert_activity(&self, rows: &[NewActivity]) -> Result<(), StoreError>;
    /// Records that `records` calls could not be kept, at `at` (Unix milliseconds).
    async fn record_activity_lost(&self, at: i64, records: u64) -> Result<(), StoreError>;
    /// Deletes at most `limit` rows of `activity` (and of `activity_lost`) older than
    /// `before` (Unix milliseconds), oldest first; returns how many `activity` rows went.
    async fn prune_activity(&self, before: i64, limit: u32) -> Result<u64, StoreError>;
}
