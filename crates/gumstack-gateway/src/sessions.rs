//! MCP sessions bound to the user who opened them.
//!
//! When an upstream answers with `Mcp-Session-Id`, the gateway binds (server, session) to the
//! calling user; a later request carrying that id goes through only for the same user on the
//! same server. [`SessionBindings`] is the seam (a store-backed version shares bindings across
//! platform instances); [`MemorySessionBindings`] keeps them in this process, bounded in size
//! and idle time.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

/// What the MCP client declared it can do when it opened a session (its `initialize`), as far
/// as the gateway acts on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCaps {
    /// `capabilities.elicitation.url`: the client can send its user to a URL (2025-11-25).
    pub url_elicitation: bool,
}

/// Whom a session belongs to, as far as the caller is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCheck {
    /// Bound to this user on this server: forward. With what the client declared.
    Owned(ClientCaps),
    /// Never bound, ended, or expired: answer "session not found".
    Unknown,
    /// Bound to another user: answer "session not found", and never forward.
    OwnedByAnother,
}

/// The upstream handed out a session id that is already bound to another user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("session id already bound to another user")]
pub struct SessionConflict;

/// Where session bindings live.
#[async_trait::async_trait]
pub trait SessionBindings: Send + Sync + fmt::Debug + 'static {
    /// Whether `session_id` on `server_id` belongs to `user_id`; counts as use of the binding.
    async fn check(&self, server_id: &str, session_id: &str, user_id: &str) -> SessionCheck;
    /// Binds `session_id` on `server_id` to `user_id`, whose client declared `caps`. Binding it
    /// again to the same user only counts as use; a binding to another user is kept and
    /// reported as a conflict.
    async fn bind(
        &self,
        server_id: &str,
        session_id: &str,
        user_id: &str,
        caps: ClientCaps,
    ) -> Result<(), SessionConflict>;
    /// Forgets a binding (session ended).
    async fn unbind(&self, server_id: &str, session_id: &str);
}

/// In-process bindings: at most `capacity` (the least recently used goes first) and none idle
/// for longer than `idle_timeout`.
///
/// One mutex around a map and a recency index; every operation is O(log n), and using a known
/// session allocates nothing beyond the recency index's occasional tree node.
pub struct MemorySessionBindings {
    capacity: usize,
    idle_timeout: Duration,
    state: Mutex<Bindings>,
}

impl MemorySessionBindings {
    /// Default bound on the number of bindings.
    pub const DEFAULT_CAPACITY: usize = 100_000;
    /// Default idle lifetime of a binding.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

    pub fn new(capacity: usize, idle_timeout: Duration) -> Self {
        Self {
            capacity: capacity.max(1),
            idle_timeout,
            state: Mutex::new(Bindings::default()),
        }
    }

    /// How many bindings are held (expired ones included until they are swept).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Bindings> {
        // The state is consistent after every statement that could panic; keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_at(&self, now: Instant, server: &str, session: &str, user: &str) -> SessionCheck {
        let mut bindings = self.lock();
        let Some(binding) = bindings.get(server, session) else {
            return SessionCheck::Unknown;
        };
        if now.saturating_duration_since(binding.last_used) > self.idle_timeout {
            bindings.remove(server, session);
            return SessionCheck::Unknown;
        }
        if *binding.user_id != *user {
            return SessionCheck::OwnedByAnother;
        }
        let caps = binding.caps;
        bindings.touch(server, session, now);
        SessionCheck::Owned(caps)
    }

    fn bind_at(
        &self,
        now: Instant,
        server: &str,
        session: &str,
        user: &str,
        caps: ClientCaps,
    ) -> Result<(), SessionConflict> {
        let mut bindings = self.lock();
        bindings.expire(now, self.idle_timeout);
        if let Some(binding) = bindings.get(server, session) {
            if *binding.user_id != *user {
                return Err(SessionConflict);
            }
            bindings.touch(server, session, now);
            return Ok(());
        }
        while bindings.len() >= self.capacity {
            bindings.evict_least_recent();
        }
        bindings.insert(server, session, user, caps, now);
        Ok(())
    }
}

impl Default for MemorySessionBindings {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY, Self::DEFAULT_IDLE_TIMEOUT)
    }
}

impl fmt::Debug for MemorySessionBindings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySessionBindings")
            .field("capacity", &self.capacity)
            .field("idle_timeout", &self.idle_timeout)
            .field("len", &self.len())
            .finish()
    }
}

#[async_trait::async_trait]
impl SessionBindings for MemorySessionBindings {
    async fn check(&self, server_id: &str, session_id: &str, user_id: &str) -> SessionCheck {
        self.check_at(Instant::now(), server_id, session_id, user_id)
    }

    async fn bind(
        &self,
        server_id: &str,
        session_id: &str,
        user_id: &str,
        caps: ClientCaps,
    ) -> Result<(), SessionConflict> {
        self.bind_at(Instant::now(), server_id, session_id, user_id, caps)
    }

    async fn unbind(&self, server_id: &str, session_id: &str) {
        self.lock().remove(server_id, session_id);
    }
}

struct Binding {
    user_id: Arc<str>,
    caps: ClientCaps,
    last_used: Instant,
    /// This binding's key in [`Bindings::recency`].
    stamp: u64,
}

/// Server id → session id → binding, plus the bindings ordered by last use (a counter
/// `stamp`), so the least recently used — also the longest idle — is always first.
#[derive(Default)]
struct Bindings {
    servers: HashMap<Arc<str>, HashMap<Arc<str>, Binding>>,
    recency: BTreeMap<u64, (Arc<str>, Arc<str>)>,
    next_stamp: u64,
}

impl Bindings {
    fn len(&self) -> usize {
        self.recency.len()
    }

    fn get(&self, server: &str, session: &str) -> Option<&Binding> {
        self.servers.get(server)?.get(session)
    }

    fn insert(&mut self, server: &str, session: &str, user: &str, caps: ClientCaps, now: Instant) {
        let stamp = self.stamp();
        let server_key: Arc<str> = match self.servers.get_key_value(server) {
            Some((key, _)) => Arc::clone(key),
            None => Arc::from(server),
        };
        let session_key: Arc<str> = Arc::from(session);
        self.recency
            .insert(stamp, (Arc::clone(&server_key), Arc::clone(&session_key)));
        self.servers.entry(server_key).or_default().insert(
            session_key,
            Binding {
                user_id: Arc::from(user),
                caps,
                last_used: now,
                stamp,
            },
        );
    }

    fn touch(&mut self, server: &str, session: &str, now: Instant) {
        let stamp = self.stamp();
        let Some(binding) = self
            .servers
            .get_mut(server)
            .and_then(|sessions| sessions.get_mut(session))
        else {
            return;
        };
        binding.last_used = now;
        if let Some(key) = self.recency.remove(&binding.stamp) {
            self.recency.insert(stamp, key);
        }
        binding.stamp = stamp;
    }

    fn remove(&mut self, server: &str, session: &str) {
        let Some(sessions) = self.servers.get_mut(server) else {
            return;
        };
        if let Some(binding) = sessions.remove(session) {
            self.recency.remove(&binding.stamp);
        }
        if sessions.is_empty() {
            self.servers.remove(server);
        }
    }

    fn evict_least_recent(&mut self) {
        if let Some((_, (server, session))) = self.recency.pop_first() {
            self.remove(&server, &session);
        }
    }

    /// Drops every binding idle for longer than `idle_timeout` (they are all at the front).
    fn expire(&mut self, now: Instant, idle_timeout: Duration) {
        while let Some((_, (server, session))) = self.recency.first_key_value() {
            let idle = self
                .get(server, session)
                .is_none_or(|b| now.saturating_duration_since(b.last_used) > idle_timeout);
            if !idle {
                break;
            }
            self.evict_least_recent();
        }
    }

    fn stamp(&mut self) -> u64 {
        self.next_stamp += 1;
        self.next_stamp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn a_session_belongs_to_the_user_and_server_that_opened_it() {
        let bindings = MemorySessionBindings::new(10, HOUR);
        let now = Instant::now();
        assert_eq!(
            bindings.bind_at(now, "srv", "s1", "alice", ClientCaps::default()),
            Ok(())
        );
        assert_eq!(
            bindings.check_at(now, "srv", "s1", "alice"),
            SessionCheck::Owned(ClientCaps::default())
        );
        assert_eq!(
            bindings.check_at(now, "srv", "s1", "bob"),
            SessionCheck::OwnedByAnother
        );
        assert_eq!(
            bindings.check_at(now, "other", "s1", "alice"),
            SessionCheck::Unknown
        );
        assert_eq!(
            bindings.check_at(now, "srv", "s2", "alice"),
            SessionCheck::Unknown
        );
        assert_eq!(
            bindings.bind_at(now, "srv", "s1", "alice", ClientCaps::default()),
            Ok(())
        );
        assert_eq!(
            bindings.bind_at(now, "srv", "s1", "bob", ClientCaps::default()),
            Err(SessionConflict)
        );
        assert_eq!(
            bindings.check_at(now, "srv", "s1", "alice"),
            SessionCheck::Owned(ClientCaps::default())
        );
    }

    #[test]
    fn unbinding_forgets_the_session() {
        let bindings = MemorySessionBindings::new(10, HOUR);
        let now = Instant::now();
        bindings
            .bind_at(now, "srv", "s1", "alice", ClientCaps::default())
            .unwrap();
        bindings.lock().remove("srv", "s1");
        assert_eq!(
            bindings.check_at(now, "srv", "s1", "alice"),
            SessionCheck::Unknown
        );
        assert!(bindings.is_empty());
        assert!(bindings.lock().servers.is_empty());
    }

    #[test]
    fn idle_bindings_expire_and_use_keeps_them_alive() {
        let bindings = MemorySessionBindings::new(10, HOUR);
        let start = Instant::now();
        bindings
            .bind_at(start, "srv", "used", "alice", ClientCaps::default())
            .unwrap();
        bindings
            .bind_at(start, "srv", "idle", "alice", ClientCaps::default())
            .unwrap();
        let later = start + HOUR / 2;
        assert_eq!(
            bindings.check_at(later, "srv", "used", "alice"),
            SessionCheck::Owned(ClientCaps::default())
        );
        let end = start + HOUR + Duration::from_secs(1);
        assert_eq!(
            bindings.check_at(end, "srv", "used", "alice"),
            SessionCheck::Owned(ClientCaps::default())
        );
        assert_eq!(
            bindings.check_at(end, "srv", "idle", "alice"),
            SessionCheck::Unknown
        );
        // Binding sweeps out what nobody has asked about since.
        bindings
            .bind_at(end, "srv", "forgotten", "bob", ClientCaps::default())
            .unwrap();
        assert_eq!(bindings.len(), 2);
        bindings
            .bind_at(end + HOUR * 2, "srv", "new", "bob", ClientCaps::default())
            .unwrap();
        assert_eq!(bindings.len(), 1, "only the new binding remains");
    }

    #[test]
    fn at_capacity_the_least_recently_used_binding_goes() {
        let bindings = MemorySessionBindings::new(2, HOUR);
        let now = Instant::now();
        bindings
            .bind_at(now, "srv", "a", "alice", ClientCaps::default())
            .unwrap();
        bindings
            .bind_at(now, "srv", "b", "alice", ClientCaps::default())
            .unwrap();
        assert_eq!(
            bindings.check_at(now, "srv", "a", "alice"),
            SessionCheck::Owned(ClientCaps::default())
        );
        bindings
            .bind_at(now, "srv", "c", "alice", ClientCaps::default())
            .unwrap();
        assert_eq!(bindings.len(), 2);
        assert_eq!(
            bindings.check_at(now, "srv", "b", "alice"),
            SessionCheck::Unknown
        );
        assert_eq!(
            bindings.check_at(now, "srv", "a", "alice"),
            SessionCheck::Owned(ClientCaps::default())
        );
        assert_eq!(
            bindings.check_at(now, "srv", "c", "alice"),
            SessionCheck::Owned(ClientCaps::default())
        );
    }
}
