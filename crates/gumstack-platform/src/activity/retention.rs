//! The pruning job: rows older than the retention are deleted in bounded batches, so the
//! database is never locked for long.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::Inner;
use crate::store::StoreError;

/// The pause between two batches of one pruning pass: other writers get the database.
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);

pub(super) async fn run(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    if inner.settings.retention_days == 0 {
        return;
    }
    loop {
        match prune(&inner).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "old activity records pruned"),
            Err(error) => tracing::warn!(%error, "pruning the activity log failed"),
        }
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return,
            () = tokio::time::sleep(inner.settings.prune_every) => {}
        }
    }
}

/// One pass: deletes every row older than the retention, a batch at a time.
pub(super) async fn prune(inner: &Inner) -> Result<u64, StoreError> {
    let days = i64::from(inner.settings.retention_days);
    if days == 0 {
        return Ok(0);
    }
    let before = inner
        .clock
        .now()
        .saturating_sub(days * 86_400)
        .saturating_mul(1000);
    let limit = inner.settings.prune_batch.max(1);
    let mut total = 0;
    loop {
        let deleted = inner.store.prune_activity(before, limit).await?;
        total += deleted;
        if deleted < u64::from(limit) {
            return Ok(total);
        }
        tokio::time::sleep(BETWEEN_BATCHES).await;
    }
}
