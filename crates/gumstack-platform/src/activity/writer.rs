//! The queue's one consumer: redacts each record, caps its texts, and inserts records in
//! batches (one transaction each); writes the count of lost records.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use gumstack_gateway::{CallStatus, Captured};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use tokio::sync::{mpsc, watch};

use super::in_flight::unix_millis;
use super::{Inner, Pending};
use crate::redact::{SecretValues, redact};
use crate::store::{CallStatus as StoredStatus, NewActivity};

/// The most of an input, output or error kept, after redaction (bytes).
pub(crate) const STORED_CAP: usize = 16 * 1024;

/// How often the lost count is written when no record arrives.
const LOST_CHECK: Duration = Duration::from_secs(1);

pub(super) async fn run(
    inner: Arc<Inner>,
    mut receiver: mpsc::Receiver<Pending>,
    mut stop: watch::Receiver<bool>,
) {
    let batch_size = inner.settings.batch.max(1);
    let mut batch = Vec::with_capacity(batch_size);
    let mut sets = CallSets::default();
    loop {
        tokio::select! {
            received = receiver.recv_many(&mut batch, batch_size) => {
                if received == 0 {
                    break;
                }
            }
            () = stopped(&mut stop) => break,
            () = tokio::time::sleep(LOST_CHECK) => {
                write_lost(&inner).await;
                continue;
            }
        }
        // Gather more for a moment, so a busy gateway costs one transaction per batch.
        let deadline = tokio::time::sleep(inner.settings.flush_every);
        tokio::pin!(deadline);
        while batch.len() < batch_size {
            let room = batch_size - batch.len();
            tokio::select! {
                () = &mut deadline => break,
                () = stopped(&mut stop) => break,
                received = receiver.recv_many(&mut batch, room) => {
                    if received == 0 {
                        break;
                    }
                }
            }
        }
        write(&inner, &mut batch, &mut sets).await;
        write_lost(&inner).await;
    }
    drain(&inner, receiver, &mut batch, &mut sets).await;
}

/// Resolves once the stop is signalled (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// After the stop: no new slots; the records queued, and those of calls still streaming
/// (for up to the drain timeout), are written.
async fn drain(
    inner: &Inner,
    mut receiver: mpsc::Receiver<Pending>,
    batch: &mut Vec<Pending>,
    sets: &mut CallSets,
) {
    receiver.close();
    let until = Instant::now() + inner.settings.drain_timeout;
    let batch_size = inner.settings.batch.max(1);
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, receiver.recv()).await {
            Ok(Some(pending)) => {
                batch.push(pending);
                if batch.len() >= batch_size {
                    write(inner, batch, sets).await;
                }
            }
            Ok(None) => break,
            Err(_) => {
                tracing::warn!("calls still in progress at shutdown are not logged");
                break;
            }
        }
    }
    write(inner, batch, sets).await;
    write_lost(inner).await;
}

async fn write(inner: &Inner, batch: &mut Vec<Pending>, sets: &mut CallSets) {
    if batch.is_empty() {
        return;
    }
    let rows: Vec<NewActivity> = batch.drain(..).map(|p| row(inner, p, sets)).collect();
    if let Err(error) = inner.store.insert_activity(&rows).await {
        tracing::error!(%error, records = rows.len(), "activity records could not be written");
        inner.lost.fetch_add(rows.len() as u64, Ordering::Relaxed);
    }
}

async fn write_lost(inner: &Inner) {
    let lost = inner.lost.swap(0, Ordering::Relaxed);
    if lost == 0 {
        return;
    }
    tracing::warn!(records = lost, "activity records lost (the queue was full)");
    let at = inner.clock.now().saturating_mul(1000);
    if let Err(error) = inner.store.record_activity_lost(at, lost).await {
        tracing::error!(%error, records = lost, "the count of lost activity records could not be written");
        inner.lost.fetch_add(lost, Ordering::Relaxed);
    }
}

/// The secret sets of calls, by the SHA-256 of their values: a client's token (and a user's
/// credentials) repeat from call to call, and building a set's automaton costs far more than
/// using it. Cleared when full.
#[derive(Debug, Default)]
struct CallSets {
    sets: HashMap<[u8; 32], Arc<SecretValues>>,
}

/// Sets of calls kept at most.
const CALL_SETS: usize = 1024;

impl CallSets {
    fn get(&mut self, values: Vec<SecretString>) -> Arc<SecretValues> {
        let mut hasher = Sha256::new();
        for value in &values {
            let value = value.expose_secret().as_bytes();
            hasher.update((value.len() as u64).to_le_bytes());
            hasher.update(value);
        }
        let key: [u8; 32] = hasher.finalize().into();
        if let Some(set) = self.sets.get(&key) {
            return Arc::clone(set);
        }
        if self.sets.len() >= CALL_SETS {
            self.sets.clear();
        }
        let set = Arc::new(SecretValues::new(values));
        self.sets.insert(key, Arc::clone(&set));
        set
    }
}

/// The stored row of a record: every text redacted, then capped.
fn row(inner: &Inner, pending: Pending, cache: &mut CallSets) -> NewActivity {
    let Pending { record, deployment } = pending;
    let call = record.call;
    let mut released: Vec<SecretString> = inner.released.take(&call.call_id);
    released.extend(call.token);
    let for_call = (!released.is_empty()).then(|| cache.get(released));
    let mut sets: Vec<&SecretValues> = Vec::with_capacity(2);
    if let Some(deployment) = deployment.as_deref()
        && !deployment.is_empty()
    {
        sets.push(deployment);
    }
    if let Some(for_call) = for_call.as_deref()
        && !for_call.is_empty()
    {
        sets.push(for_call);
    }
    let stored = |captured: Option<Captured>| match captured {
        Some(captured) => {
            let (text, cut) = cap(&redact(&captured.text, &sets));
            (Some(text), captured.truncated || cut)
        }
        None => (None, false),
    };
    let (input, input_truncated) = stored(call.input);
    let (output, output_truncated) = stored(record.output);
    let error = record.error.map(|error| cap(&redact(&error, &sets)).0);
    NewActivity {
        server_id: call.server_id,
        user_id: call.user_id,
        client_id: Some(call.client_id).filter(|id| !id.is_empty()),
        tool: call.tool,
        status: match record.status {
            CallStatus::Success => StoredStatus::Success,
            CallStatus::Error => StoredStatus::Error,
            CallStatus::Denied => StoredStatus::Denied,
            CallStatus::InputRequired => StoredStatus::InputRequired,
        },
        started_at: unix_millis(call.started_at),
        duration_us: i64::try_from(record.duration.as_micros()).unwrap_or(i64::MAX),
        input,
        input_truncated,
        output,
        output_truncated,
        error,
    }
}

/// `text` cut at [`STORED_CAP`] bytes on a character boundary; whether it was cut.
fn cap(text: &str) -> (String, bool) {
    if text.len() <= STORED_CAP {
        return (text.to_owned(), false);
    }
    let mut end = STORED_CAP;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (text[..end].to_owned(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_cut_on_character_boundaries() {
        let long = "é".repeat(STORED_CAP);
        let (cut, was_cut) = cap(&long);
        assert!(was_cut);
        assert!(cut.len() <= STORED_CAP && cut.len() >= STORED_CAP - 1);
        assert_eq!(cap("short"), ("short".to_owned(), false));
    }
}
