//! Reading the activity log (SPEC §9): pages of calls newest first under a filter, one call
//! with its bodies, the stats of a period, and how many records were lost. The records are
//! written by the activity writer, already redacted.

use async_trait::async_trait;
use uuid::Uuid;

use super::StoreError;

/// How a call ended, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallStatus {
    Success,
    Error,
    /// Refused by the gateway: the caller's group may not call the tool.
    Denied,
    /// Answered by asking the client for input, e.g. to connect the user's account inside the
    /// call (docs/PROTOCOL.md §5); the client's retry is a call of its own.
    InputRequired,
}

impl CallStatus {
    pub const ALL: [Self; 4] = [
        Self::Success,
        Self::Error,
        Self::Denied,
        Self::InputRequired,
    ];

    /// The stored (and query-string) form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
            Self::Denied => "denied",
            Self::InputRequired => "input_required",
        }
    }

    /// As people read it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Success => "Success",
            Self::Error => "Error",
            Self::Denied => "Permission Denied",
            Self::InputRequired => "Input Required",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Whose calls a reader may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Every call (admins).
    All,
    /// The reader's own calls, and every call to the servers listed (those the reader owns or
    /// maintains).
    Limited { user_id: Uuid, servers: Vec<Uuid> },
}

/// Which calls a query returns; every condition holds at once.
#[derive(Debug, Clone)]
pub struct ActivityFilter {
    pub visible: Visibility,
    pub status: Option<CallStatus>,
    pub server_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub tool: Option<String>,
    /// Calls started at or after, Unix milliseconds.
    pub from_ms: Option<i64>,
    /// Calls started before, Unix milliseconds.
    pub until_ms: Option<i64>,
}

impl ActivityFilter {
    /// Every call `visible` allows, with no other condition.
    pub fn visible(visible: Visibility) -> Self {
        Self {
            visible,
            status: None,
            server_id: None,
            user_id: None,
            tool: None,
            from_ms: None,
            until_ms: None,
        }
    }
}

/// Where a page ends: the next page holds the calls strictly older than this one (by start
/// time, then id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivityCursor {
    pub started_at_ms: i64,
    pub id: i64,
}

impl ActivityCursor {
    /// `started_at_ms.id`, as it travels in a query string.
    pub fn encode(self) -> String {
        format!("{}.{}", self.started_at_ms, self.id)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (at, id) = text.split_once('.')?;
        Some(Self {
            started_at_ms: at.parse().ok()?,
            id: id.parse().ok()?,
        })
    }
}

/// One recorded call, with the names of what it refers to (None when that was deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRecord {
    pub id: i64,
    pub server_id: Uuid,
    pub server_slug: Option<String>,
    pub server_name: Option<String>,
    pub user_id: Uuid,
    pub user_email: Option<String>,
    pub client_id: Option<String>,
    pub client_name: Option<String>,
    pub tool: String,
    pub status: CallStatus,
    pub started_at_ms: i64,
    pub duration_us: i64,
    /// The bodies are read only when asked for (a call's page, the export).
    pub bodies: Option<CallBodies>,
}

impl ActivityRecord {
    pub fn cursor(&self) -> ActivityCursor {
        ActivityCursor {
            started_at_ms: self.started_at_ms,
            id: self.id,
        }
    }
}

/// What a call was asked and answered, redacted and capped when it was written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallBodies {
    pub input: Option<String>,
    pub input_truncated: bool,
    pub output: Option<String>,
    pub output_truncated: bool,
    pub error: Option<String>,
}

/// The numbers of a period's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActivityStats {
    pub calls: i64,
    pub users: i64,
    pub errors: i64,
    pub denied: i64,
    /// Latency of the calls that reached the server (not the denied ones), in microseconds;
    /// None without such calls.
    pub mean_us: Option<i64>,
    pub p50_us: Option<i64>,
    pub p95_us: Option<i64>,
}

impl ActivityStats {
    /// Errors among the calls, in percent (denied calls are not errors of the server).
    pub fn error_rate(&self) -> Option<f64> {
        (self.calls > 0).then(|| self.errors as f64 * 100.0 / self.calls as f64)
    }
}

/// Reading the activity log.
#[async_trait]
pub trait ActivityReads: Send + Sync {
    /// At most `limit` calls matching `filter`, newest first, older than `before` when given.
    async fn activity_page(
        &self,
        filter: &ActivityFilter,
        before: Option<ActivityCursor>,
        limit: u32,
        with_bodies: bool,
    ) -> Result<Vec<ActivityRecord>, StoreError>;

    /// One call with its bodies; `NotFound` when there is none or `visible` hides it.
    async fn activity_record(
        &self,
        id: i64,
        visible: &Visibility,
    ) -> Result<ActivityRecord, StoreError>;

    /// The numbers of the calls matching `filter`.
    async fn activity_stats(&self, filter: &ActivityFilter) -> Result<ActivityStats, StoreError>;

    /// How many records the writer could not keep, since `since_ms`.
    async fn activity_lost_since(&self, since_ms: i64) -> Result<i64, StoreError>;
}
