//! Who holds a connection's refresh lease: this process's instance and its heartbeat.
//!
//! Every process gets a new instance id when it starts ([`Connections::new`]), registers it at
//! start ([`Connections::register_instance`]), writes a heartbeat every
//! [`heartbeat`](super::RefreshSettings::heartbeat) ([`Connections::run_heartbeat`], and before
//! it takes a lease) and names its instance in every lease it takes. A lease is free when it
//! expired, or when its instance's last heartbeat is older than
//! [`instance_stale`](super::RefreshSettings::instance_stale): a process killed in the middle of
//! a refresh blocks its connection for that long at most, not for the lease's term. Nothing
//! here assumes one process per database: instances sharing one see each other's heartbeats,
//! and a live instance's leases are never taken over before they expire.

use uuid::Uuid;

use super::{Connections, TokenError, secs};
use crate::error::Internal;
use crate::store::{Connection, LeaseClaim, StoreError, Timestamp};

impl Connections {
    /// Registers this instance (its first heartbeat) and forgets instances that have been gone
    /// for longer than a lease term (their leases are free either way). Called at start.
    pub async fn register_instance(&self) -> Result<(), Internal> {
        let now = self.inner.clock.now();
        self.beat(now).await?;
        let forgotten = self
            .inner
            .store
            .forget_instances(now.saturating_sub(secs(self.inner.settings.lease)))
            .await?;
        tracing::debug!(instance = %self.inner.instance, forgotten, "platform instance registered");
        Ok(())
    }

    /// Removes this instance's row at a clean shutdown: its leases are free at once, and no one
    /// waits for it to report keys.
    pub async fn deregister_instance(&self) -> Result<(), StoreError> {
        self.inner.store.remove_instance(self.inner.instance).await
    }

    /// Writes this instance's heartbeat until `shutdown` resolves.
    pub async fn run_heartbeat(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(self.inner.settings.heartbeat) => {}
            }
            if let Err(error) = self.beat(self.inner.clock.now()).await {
                tracing::warn!(%error, "writing the instance heartbeat failed");
            }
        }
    }

    async fn beat(&self, now: Timestamp) -> Result<(), StoreError> {
        self.inner
            .store
            .beat_instance(self.inner.instance, self.inner.started_at, now)
            .await?;
        // Which master keys this instance holds: `gumstackd key rotate` and `key retire` wait
        // for, or refuse on, what every live instance reports.
        let vault = &self.inner.vault;
        self.inner
            .store
            .report_instance_keys(
                self.inner.instance,
                &vault.key_ids(),
                &vault.active_key_id(),
            )
            .await?;
        *self
            .inner
            .last_beat
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(now);
        Ok(())
    }

    /// Writes the heartbeat unless a recent one says this instance is alive, so that a lease
    /// it takes is never taken for the lease of a process that is gone.
    async fn beat_if_due(&self, now: Timestamp) -> Result<(), StoreError> {
        let last = *self
            .inner
            .last_beat
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if last.is_none_or(|at| now.saturating_sub(at) >= secs(self.inner.settings.heartbeat)) {
            self.beat(now).await?;
        }
        Ok(())
    }

    /// The oldest heartbeat at `now` of an instance that is still alive.
    pub(super) fn live_since(&self, now: Timestamp) -> Timestamp {
        now.saturating_sub(secs(self.inner.settings.instance_stale))
    }

    /// Takes the refresh lease of `c` as it was read; the holder name when taken.
    pub(super) async fn lease(
        &self,
        c: &Connection,
        now: Timestamp,
    ) -> Result<Option<String>, TokenError> {
        self.beat_if_due(now).await?;
        let holder = format!("{}:{}", self.inner.instance, Uuid::new_v4());
        let claim = LeaseClaim {
            holder: &holder,
            instance: self.inner.instance,
            until: now.saturating_add(secs(self.inner.settings.lease)),
        };
        let taken = self
            .inner
            .store
            .lease_connection(c.id, c.version, &claim, now, self.live_since(now))
            .await?;
        Ok(taken.then_some(holder))
    }
}
