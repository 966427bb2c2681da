//! Master-key rotation (SPEC §11): re-seal every sealed column under a new master key while
//! the platform serves, verify that everything decrypts, and retire a key nothing uses.
//!
//! The order of operations, for one instance or several sharing a database:
//! 1. **add** the new key to every instance's key files (`gumstackd key add`); each running
//!    instance reloads its files within seconds, starts sealing new values with it, and
//!    reports the keys it holds with its heartbeat;
//! 2. **rotate** (`gumstackd key rotate`): waits until every live instance seals with the new
//!    key, then re-seals each column in batches — each batch one transaction whose writes
//!    compare-and-set on the old ciphertext, so a value the platform wrote meanwhile is never
//!    overwritten. Rows already under the new key are skipped, so a rotation that was killed
//!    resumes by running it again;
//! 3. **retire** the old key (`gumstackd key retire <id>`) on every instance: refused while any
//!    ciphertext still uses it or a live instance still seals with it.
//!
//! `gumstackd key verify` decrypts every value and names each row that does not decrypt (table,
//! column, row id; never a plaintext).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::clock::Clock;
use crate::store::{InstanceKeys, Reseal, SealedColumn, SealedValue, Store, StoreError};
use crate::vault::{Aad, Vault, VaultError, key_file, key_id_of};

/// How a rotation runs.
#[derive(Debug, Clone)]
pub struct RotateOptions {
    /// Rows per batch (one transaction each).
    pub batch_size: u32,
    /// A pause between batches, to go easy on a busy database.
    pub pause: Duration,
    /// How long to wait for every live instance to seal with the new key.
    pub wait_for_instances: Duration,
}

impl Default for RotateOptions {
    fn default() -> Self {
        Self {
            batch_size: 200,
            pause: Duration::ZERO,
            wait_for_instances: Duration::from_secs(60),
        }
    }
}

/// What a rotation did to one column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ColumnTally {
    /// Values sealed again under the new key.
    pub resealed: u64,
    /// Values already under the new key (sealed by the platform since, or by an earlier run).
    pub current: u64,
    /// Values the platform rewrote between our read and our write (left as the platform wrote
    /// them; a later pass checks them).
    pub raced: u64,
}

/// A value that does not decrypt (or cannot be bound to its row). Never holds plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowFailure {
    pub column: SealedColumn,
    pub row_id: String,
    pub reason: String,
}

impl std::fmt::Display for RowFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} row {}: {}", self.column, self.row_id, self.reason)
    }
}

/// The outcome of a rotation.
#[derive(Debug, Clone, Default)]
pub struct RotationReport {
    pub target: String,
    pub columns: Vec<(SealedColumn, ColumnTally)>,
    /// Values that do not decrypt: still under their old key (`key verify` lists them too).
    pub failures: Vec<RowFailure>,
    /// Values still under another key after the last pass (the platform kept writing with an
    /// older key: run the rotation again).
    pub remaining: u64,
}

/// What uses which key: per key id, per column, how many values; and what does not decrypt.
#[derive(Debug, Clone, Default)]
pub struct KeyUsage {
    pub by_key: BTreeMap<String, BTreeMap<String, u64>>,
    pub failures: Vec<RowFailure>,
    pub values: u64,
}

/// Why a key operation was refused or failed. Nothing was changed when it is refused.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error(
        "not every running instance seals with key `{target}` yet: {behind}. Add the key to \
         their key files (they reload them within seconds), then run this again"
    )]
    InstancesBehind { target: String, behind: String },
    #[error("unknown key id `{id}`; the key files hold: {known}")]
    UnknownKey { id: String, known: String },
    #[error(
        "`{0}` is the active key (the last line of the last key file): add a new key \
         (`gumstackd key add`) and rotate (`gumstackd key rotate`) before retiring it"
    )]
    ActiveKey(String),
    #[error(
        "{count} sealed value(s) still use key `{id}` ({detail}); run `gumstackd key rotate` \
         first (values that do not decrypt are listed by `gumstackd key verify`)"
    )]
    InUse {
        id: String,
        count: u64,
        detail: String,
    },
    #[error(
        "instance {instance} still seals with key `{id}`: add the new key to its key files \
         first (it reloads them within seconds)"
    )]
    StillSealing { instance: Uuid, id: String },
    #[error("key `{0}` is in none of the key files this command can edit")]
    NotInFiles(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// The key commands on one data directory: its store, with the key files given.
#[derive(Debug, Clone)]
pub struct KeyAdmin {
    store: Arc<dyn Store>,
    vault: Arc<Vault>,
    clock: Arc<dyn Clock>,
    /// An instance whose heartbeat is older than this is gone.
    instance_stale: Duration,
}

/// The binding of a value of `column`, from the ids its row carries.
fn aad_of(column: SealedColumn, v: &SealedValue) -> Result<Aad, String> {
    let row = || Uuid::parse_str(&v.row_id).map_err(|_| "the row id is not a UUID".to_owned());
    let user = || v.user_id.ok_or_else(|| "the row has no user id".to_owned());
    let server = || {
        v.server_id
            .ok_or_else(|| "the row has no server id".to_owned())
    };
    Ok(match column {
        SealedColumn::EnvVarValue => crate::servers::env_var_aad(server()?, row()?),
        SealedColumn::CredentialValues => {
            crate::credentials::credentials_aad(user()?, server()?, row()?)
        }
        SealedColumn::ConnectionAccess => {
            crate::connections::access_aad_of(user()?, server()?, row()?)
        }
        SealedColumn::ConnectionRefresh => {
            crate::connections::refresh_aad_of(user()?, server()?, row()?)
        }
        SealedColumn::FlowVerifier => {
            crate::connections::flow::verifier_aad(row()?, user()?, server()?)
        }
        SealedColumn::SigningKeyPrivate => {
            crate::keys::key_aad(&v.row_id).map_err(|e| e.to_string())?
        }
        SealedColumn::AuditChainKey => crate::audit::chain_key_aad(row()?),
    })
}

impl KeyAdmin {
    pub fn new(
        store: Arc<dyn Store>,
        vault: Arc<Vault>,
        clock: Arc<dyn Clock>,
        instance_stale: Duration,
    ) -> Self {
        Self {
            store,
            vault,
            clock,
            instance_stale,
        }
    }

    /// Stores a new signing key that starts signing after `activate_in` (published at once,
    /// so every instance and every cached JWKS knows it first). Its id and activation time.
    pub async fn add_signing_key(
        &self,
        activate_in: Duration,
    ) -> Result<(String, crate::store::Timestamp), crate::keys::KeyError> {
        let now = self.clock.now();
        let activates_at =
            now.saturating_add(i64::try_from(activate_in.as_secs()).unwrap_or(i64::MAX));
        let kid =
            crate::keys::SigningKeys::add_key(&self.store, &self.vault, now, activates_at).await?;
        Ok((kid, activates_at))
    }

    /// The stored signing keys (id, when each starts or started signing), oldest first.
    pub async fn signing_keys(&self) -> Result<Vec<(String, crate::store::Timestamp)>, StoreError> {
        let records = self.store.signing_keys().await?;
        Ok(records
            .iter()
            .map(|r| (r.kid.clone(), r.activates_at.unwrap_or(r.created_at)))
            .collect())
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The instances alive now, with the keys they reported.
    pub async fn live_instances(&self) -> Result<Vec<InstanceKeys>, StoreError> {
        let stale = i64::try_from(self.instance_stale.as_secs()).unwrap_or(i64::MAX);
        self.store
            .live_instances(self.clock.now().saturating_sub(stale))
            .await
    }

    /// Waits until every live instance seals with `target` (at most `timeout`).
    pub async fn wait_for_instances(
        &self,
        target: &str,
        timeout: Duration,
    ) -> Result<Vec<InstanceKeys>, RotationError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let live = self.live_instances().await?;
            let behind: Vec<String> = live
                .iter()
                .filter(|i| i.active_key.as_deref() != Some(target))
                .map(|i| match &i.active_key {
                    Some(active) => format!("{} seals with `{active}`", i.instance),
                    None => format!("{} reports no keys", i.instance),
                })
                .collect();
            if behind.is_empty() {
                return Ok(live);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(RotationError::InstancesBehind {
                    target: target.to_owned(),
                    behind: behind.join("; "),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Re-seals every sealed value under the active key, in batches, after every live instance
    /// seals with it. `progress` is called after each batch.
    pub async fn rotate(
        &self,
        options: &RotateOptions,
        progress: &mut (dyn FnMut(SealedColumn, &ColumnTally) + Send),
    ) -> Result<RotationReport, RotationError> {
        let target = self.vault.active_key_id();
        self.wait_for_instances(&target, options.wait_for_instances)
            .await?;
        let mut report = RotationReport {
            target: target.clone(),
            ..RotationReport::default()
        };
        // Values the platform rewrote under our feet are looked at again, a few times at most.
        for pass in 0..3 {
            let mut raced = 0;
            report.failures.clear();
            for column in SealedColumn::ALL {
                let tally = self
                    .reseal_column(column, &target, options, &mut report.failures, progress)
                    .await?;
                raced += tally.raced;
                match report.columns.iter_mut().find(|(c, _)| *c == column) {
                    Some((_, total)) => {
                        total.resealed += tally.resealed;
                        total.raced += tally.raced;
                        if pass > 0 {
                            total.current = tally.current;
                        }
                    }
                    None => report.columns.push((column, tally)),
                }
            }
            report.remaining = raced;
            if raced == 0 {
                break;
            }
        }
        Ok(report)
    }

    async fn reseal_column(
        &self,
        column: SealedColumn,
        target: &str,
        options: &RotateOptions,
        failures: &mut Vec<RowFailure>,
        progress: &mut (dyn FnMut(SealedColumn, &ColumnTally) + Send),
    ) -> Result<ColumnTally, RotationError> {
        let mut tally = ColumnTally::default();
        let mut cursor: Option<String> = None;
        let size = options.batch_size.max(1);
        loop {
            let batch = self
                .store
                .sealed_values(column, cursor.as_deref(), size)
                .await?;
            let Some(last) = batch.last() else { break };
            cursor = Some(last.row_id.clone());
            let mut reseals = Vec::new();
            for value in &batch {
                if key_id_of(&value.ciphertext).is_ok_and(|kid| kid == target) {
                    tally.current += 1;
                    continue;
                }
                match self.open(column, value) {
                    Ok((plain, aad)) => reseals.push(Reseal {
                        row_id: value.row_id.clone(),
                        old: value.ciphertext.clone(),
                        new: self.vault.encrypt_with(target, &plain, &aad)?,
                    }),
                    Err(reason) => failures.push(RowFailure {
                        column,
                        row_id: value.row_id.clone(),
                        reason,
                    }),
                }
            }
            if !reseals.is_empty() {
                let written = self.store.reseal(column, &reseals).await?;
                tally.resealed += written;
                tally.raced += reseals.len() as u64 - written;
            }
            progress(column, &tally);
            if batch.len() < size as usize {
                break;
            }
            if !options.pause.is_zero() {
                tokio::time::sleep(options.pause).await;
            }
        }
        Ok(tally)
    }

    /// Decrypts one value; why not, in words that name no plaintext.
    fn open(
        &self,
        column: SealedColumn,
        value: &SealedValue,
    ) -> Result<(zeroize::Zeroizing<Vec<u8>>, Aad), String> {
        let aad = aad_of(column, value)?;
        let plain = self
            .vault
            .decrypt(&value.ciphertext, &aad)
            .map_err(|e| e.to_string())?;
        Ok((plain, aad))
    }

    /// Reads every sealed value: which key each uses, and (with `decrypt`) which do not
    /// decrypt with the keys held.
    pub async fn usage(&self, decrypt: bool) -> Result<KeyUsage, RotationError> {
        let mut usage = KeyUsage::default();
        for column in SealedColumn::ALL {
            let mut cursor: Option<String> = None;
            loop {
                let batch = self
                    .store
                    .sealed_values(column, cursor.as_deref(), 500)
                    .await?;
                let Some(last) = batch.last() else { break };
                cursor = Some(last.row_id.clone());
                for value in &batch {
                    usage.values += 1;
                    let kid = match key_id_of(&value.ciphertext) {
                        Ok(kid) => kid.to_owned(),
                        Err(e) => {
                            usage.failures.push(RowFailure {
                                column,
                                row_id: value.row_id.clone(),
                                reason: e.to_string(),
                            });
                            continue;
                        }
                    };
                    *usage
                        .by_key
                        .entry(kid)
                        .or_default()
                        .entry(column.to_string())
                        .or_default() += 1;
                    if decrypt && let Err(reason) = self.open(column, value) {
                        usage.failures.push(RowFailure {
                            column,
                            row_id: value.row_id.clone(),
                            reason,
                        });
                    }
                }
                if batch.len() < 500 {
                    break;
                }
            }
        }
        Ok(usage)
    }

    /// Removes key `id` from the key files that hold it, once nothing needs it: it is held
    /// and not the active key, no live instance seals with it, and no sealed value uses it.
    /// The files edited.
    pub async fn retire(&self, id: &str) -> Result<Vec<PathBuf>, RotationError> {
        if !self.vault.has_key(id) {
            return Err(RotationError::UnknownKey {
                id: id.to_owned(),
                known: self.vault.key_ids().join(", "),
            });
        }
        if self.vault.active_key_id() == id {
            return Err(RotationError::ActiveKey(id.to_owned()));
        }
        if let Some(instance) = self
            .live_instances()
            .await?
            .into_iter()
            // An instance that has not reported its keys (an older binary, or one just started)
            // may still seal with this one.
            .find(|i| i.active_key.is_none() || i.active_key.as_deref() == Some(id))
        {
            return Err(RotationError::StillSealing {
                instance: instance.instance,
                id: id.to_owned(),
            });
        }
        let usage = self.usage(false).await?;
        if let Some(columns) = usage.by_key.get(id) {
            let count = columns.values().sum();
            let detail = columns
                .iter()
                .map(|(column, n)| format!("{column}: {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(RotationError::InUse {
                id: id.to_owned(),
                count,
                detail,
            });
        }
        let mut edited = Vec::new();
        for file in self.vault.files() {
            if key_file::remove_key(file, id)? {
                edited.push(file.clone());
            }
        }
        if edited.is_empty() {
            return Err(RotationError::NotInFiles(id.to_owned()));
        }
        Ok(edited)
    }
}

#[cfg(test)]
mod tests;
