//! The activity log (SPEC §9): every `tools/call` through the gateway, written off the
//! request path.
//!
//! - The gateway reports each call to [`ActivityLog`] (it implements
//!   [`gumstack_gateway::CallLog`]). When a call starts it is put in the in-flight registry
//!   ([`ActivityLog::in_flight`], status "In Progress", memory only) and takes a slot in the
//!   bounded queue. When it ends, its record goes into that slot; the writer task redacts it
//!   and inserts it with others, one transaction per batch.
//! - **Full queue: back-pressure, then a counted loss.** A call that finds the queue full
//!   waits for a slot up to [`ActivitySettings::queue_wait`] before it is forwarded; if none
//!   frees up, the call goes ahead and its record is counted as lost. The writer writes the
//!   count to `activity_lost` (when, how many), which the Activity pages show: a gap in the
//!   log is never silent. Slots are taken when a call starts, so the queue's capacity counts
//!   the records waiting to be written and the calls in progress.
//! - **Redaction** (`crate::redact`) happens in the writer: the values released to the
//!   server during that call (`/internal` files them under the call's id), the caller's own
//!   bearer token, the deployment's env values (decrypted once per deployment), and every
//!   secret shape.
//! - **Retention**: rows older than [`ActivitySettings::retention_days`] are deleted every
//!   [`ActivitySettings::prune_every`], in bounded batches.
//! - **Shutdown**: [`ActivityLog::run`] returns once the queue is drained (the calls still
//!   streaming get a few seconds to end).
//! - **Live calls**: the same in-flight table knows every call the gateway is forwarding,
//!   logged or not (also with the log off): `ActivityLog::open_call` makes one live until
//!   its `LiveCall` guard drops, and `/internal` releases credentials only for a live call
//!   (`ActivityLog::live_call`, docs/PROTOCOL.md §3).
//!
//! # Layout
//! - `in_flight`: the calls in flight: live calls (`CallScope`) and calls in progress
//!   ([`InFlightCall`]).
//! - `released`: what `/internal` released during each call, until the writer takes it.
//! - `writer`: the queue's consumer: redaction, caps, batched inserts, lost counts.
//! - `retention`: the pruning job.

mod in_flight;
pub(crate) use in_flight::{CallScope, NeededInput};
mod released;
mod retention;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use gumstack_gateway::{CallEnd, CallLog, CallRecord, CallStart};
use secrecy::SecretString;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::clock::Clock;
use crate::redact::SecretValues;
use crate::store::Store;
use crate::supervisor::Supervisor;

pub use in_flight::InFlightCall;
pub(crate) use in_flight::unix_millis;

/// How the activity log runs.
#[derive(Debug, Clone)]
pub struct ActivitySettings {
    /// Whether calls are logged at all (`gumstackd serve --activity off`).
    pub enabled: bool,
    /// Rows older than this many days are pruned; 0 keeps them forever.
    pub retention_days: u32,
    /// Slots of the queue: records waiting to be written plus calls in progress.
    pub queue: usize,
    /// Most rows inserted in one transaction.
    pub batch: usize,
    /// How long the writer gathers records before it writes a batch that is not full.
    pub flush_every: Duration,
    /// How long a call waits for a slot in a full queue before its record is counted lost.
    pub queue_wait: Duration,
    /// How often old rows are pruned.
    pub prune_every: Duration,
    /// Most rows deleted per statement when pruning.
    pub prune_batch: u32,
    /// How long a stopping platform waits for calls still streaming to end.
    pub drain_timeout: Duration,
}

impl Default for ActivitySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            retention_days: 30,
            queue: 8192,
            batch: 512,
            flush_every: Duration::from_millis(100),
            queue_wait: Duration::from_millis(100),
            prune_every: Duration::from_secs(3600),
            prune_batch: 1000,
            drain_timeout: Duration::from_secs(5),
        }
    }
}

/// A record on its way to the writer.
#[derive(Debug)]
struct Pending {
    record: CallRecord,
    /// The deployment's secret values when the call started.
    deployment: Option<Arc<SecretValues>>,
}

/// The activity log of this instance: the in-flight registry, the queue and its writer.
#[derive(Debug, Clone)]
pub struct ActivityLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: ActivitySettings,
    sender: mpsc::Sender<Pending>,
    receiver: std::sync::Mutex<Option<mpsc::Receiver<Pending>>>,
    in_flight: in_flight::InFlight,
    released: released::Released,
    /// Records lost since the writer last wrote the count.
    lost: AtomicU64,
    store: Arc<dyn Store>,
    supervisor: Arc<Supervisor>,
    clock: Arc<dyn Clock>,
}

impl ActivityLog {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        supervisor: Arc<Supervisor>,
        clock: Arc<dyn Clock>,
        settings: ActivitySettings,
    ) -> Self {
        let (sender, receiver) = mpsc::channel(settings.queue.max(1));
        let ttl = Duration::from_secs(
            u64::try_from(gumstack_protocol::claims::IDENTITY_SECONDS).unwrap_or(600) + 60,
        );
        Self {
            inner: Arc::new(Inner {
                settings,
                sender,
                receiver: std::sync::Mutex::new(Some(receiver)),
                in_flight: in_flight::InFlight::default(),
                released: released::Released::new(ttl),
                lost: AtomicU64::new(0),
                store,
                supervisor,
                clock,
            }),
        }
    }

    /// Whether calls are logged.
    pub fn enabled(&self) -> bool {
        self.inner.settings.enabled
    }

    /// The calls in progress on this instance ("In Progress"), oldest first.
    pub fn in_flight(&self) -> Vec<InFlightCall> {
        self.inner.in_flight.list()
    }

    /// Makes `call_id` live for `scope` until the returned guard is dropped: the gateway
    /// holds it while it forwards the call and its response streams. Works with the log off.
    pub(crate) fn open_call(&self, call_id: &str, scope: CallScope) -> LiveCall {
        self.inner.in_flight.open(call_id, scope);
        LiveCall {
            inner: Arc::clone(&self.inner),
            call_id: call_id.to_owned(),
        }
    }

    /// Whom the call `call_id` is for, while it is live on this instance; `None` once it
    /// ended (or if it never was).
    pub(crate) fn live_call(&self, call_id: &str) -> Option<CallScope> {
        self.inner.in_flight.live(call_id)
    }

    /// The live call `call_id` calls `tool` (the gateway read it from the call).
    pub(crate) fn name_tool(&self, call_id: &str, tool: &str) {
        self.inner.in_flight.name_tool(call_id, tool);
    }

    /// The live call `call_id`'s server was refused its user's credentials: the gateway may
    /// ask the user for them inside the call ([`Self::needed`]).
    pub(crate) fn mark_needed(&self, call_id: &str, needed: NeededInput) {
        self.inner.in_flight.mark_needed(call_id, needed);
    }

    /// Whom the live call `call_id` is for and what its server was refused, if it was.
    pub(crate) fn needed(&self, call_id: &str) -> Option<(CallScope, NeededInput)> {
        self.inner.in_flight.needed(call_id)
    }

    /// Files values the platform handed the server during the call `call_id` (its
    /// `Gumstack-Call`), so that its record is redacted of them.
    pub(crate) fn released(&self, call_id: &str, values: impl IntoIterator<Item = SecretString>) {
        if self.enabled() {
            self.inner.released.add(call_id, values);
        }
    }

    /// Writes records until `shutdown` resolves, prunes old rows meanwhile, then drains the
    /// queue and returns. Call it once (a second call returns at once).
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()> + Send) {
        let Some(receiver) = self
            .inner
            .receiver
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let writing = tokio::spawn(writer::run(
            Arc::clone(&self.inner),
            receiver,
            stop_rx.clone(),
        ));
        let pruning = tokio::spawn(retention::run(Arc::clone(&self.inner), stop_rx));
        shutdown.await;
        let _ = stop_tx.send(true);
        let _ = pruning.await;
        let _ = writing.await;
    }

    /// Deletes the rows older than the retention now; returns how many went.
    pub async fn prune(&self) -> Result<u64, crate::store::StoreError> {
        retention::prune(&self.inner).await
    }
}

impl ActivityLog {
    /// The call's entry "In Progress" and the deployment's secret values, before its slot.
    fn ticket(&self, call: &CallStart) -> Ticket {
        let inner = &self.inner;
        inner.in_flight.insert(call);
        let deployment = Uuid::parse_str(&call.server_id)
            .ok()
            .and_then(|id| inner.supervisor.live(id))
            .map(|live| live.secrets);
        Ticket {
            inner: Arc::clone(inner),
            call_id: call.call_id.clone(),
            permit: None,
            deployment,
        }
    }
}

#[async_trait]
impl CallLog for ActivityLog {
    fn try_begin(&self, call: &CallStart) -> Option<Box<dyn CallEnd>> {
        // A full queue goes to `begin`, which waits; a closed one has no slot to wait for.
        let permit = match self.inner.sender.clone().try_reserve_owned() {
            Ok(permit) => Some(permit),
            Err(mpsc::error::TrySendError::Full(_)) => return None,
            Err(mpsc::error::TrySendError::Closed(_)) => None,
        };
        let mut ticket = self.ticket(call);
        ticket.permit = permit;
        Some(Box::new(ticket))
    }

    async fn begin(&self, call: &CallStart) -> Box<dyn CallEnd> {
        let mut ticket = self.ticket(call);
        let inner = &self.inner;
        ticket.permit = match inner.sender.clone().try_reserve_owned() {
            Ok(permit) => Some(permit),
            Err(mpsc::error::TrySendError::Full(sender)) => {
                tokio::time::timeout(inner.settings.queue_wait, sender.reserve_owned())
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => None,
        };
        Box::new(ticket)
    }
}

/// One call's slot in the queue (none when the queue stayed full).
struct Ticket {
    inner: Arc<Inner>,
    call_id: String,
    permit: Option<mpsc::OwnedPermit<Pending>>,
    deployment: Option<Arc<SecretValues>>,
}

impl CallEnd for Ticket {
    fn end(mut self: Box<Self>, record: CallRecord) {
        match self.permit.take() {
            Some(permit) => {
                permit.send(Pending {
                    record,
                    deployment: self.deployment.take(),
                });
            }
            None => {
                self.inner.lost.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.inner.in_flight.remove(&self.call_id);
    }
}

/// A live call (see [`ActivityLog::open_call`]); dropping it ends the call.
#[derive(Debug)]
pub(crate) struct LiveCall {
    inner: Arc<Inner>,
    call_id: String,
}

impl Drop for LiveCall {
    fn drop(&mut self) {
        self.inner.in_flight.close(&self.call_id);
    }
}
