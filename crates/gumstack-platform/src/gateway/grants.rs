//! What the gateway remembers of grants, so that a call costs neither a store read nor a
//! signature (docs/ARCHITECTURE.md, "The gateway's caches").
//!
//! - A grant is read with its user once, and used while the store's access version
//!   ([`OAuthStore::access_version`](crate::store::OAuthStore::access_version)) stays the same
//!   and for at most [`GRANT_TTL`]: a revocation, a disabled user or a new group through this
//!   process applies to the next call; one made by another process on the same database (the
//!   `gumstackd user` commands) within [`GRANT_TTL`].
//! - The identity forwarded to a deployment is signed once per grant and deployment and given
//!   to the calls of the next [`IDENTITY_REUSE_SECONDS`]; each call is told apart by its own
//!   id (`Gumstack-Call`), which is what the platform releases credentials for. An identity
//!   is kept across a re-read of its grant only while the claims it carries are unchanged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use gumstack_protocol::claims::IDENTITY_REUSE_SECONDS;
use http::HeaderValue;
use uuid::Uuid;

use crate::store::{Grant, Timestamp, User};

/// How long a grant read from the store is used at most: the bound on noticing a change made
/// by another process.
pub(crate) const GRANT_TTL: Duration = Duration::from_secs(1);

/// Grants kept at most; the cache is emptied when it fills.
const MAX_GRANTS: usize = 10_000;

/// The grants the gateway has read, by id.
#[derive(Debug, Default)]
pub(super) struct Grants {
    entries: Mutex<HashMap<Uuid, Arc<GrantEntry>>>,
}

/// One grant with its user, as read at `read_at` under the access version `version`, and the
/// identities signed for it.
#[derive(Debug)]
pub(super) struct GrantEntry {
    pub(super) grant: Grant,
    pub(super) user: User,
    version: u64,
    read_at: Instant,
    identities: Mutex<Vec<Signed>>,
}

/// An identity signed for one deployment, issued at `iat` (the platform clock's seconds).
#[derive(Debug, Clone)]
struct Signed {
    deployment_id: Uuid,
    header: HeaderValue,
    iat: Timestamp,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Grants {
    /// The grant `id` if it was read under `version` less than [`GRANT_TTL`] ago.
    pub(super) fn get(&self, id: Uuid, version: u64) -> Option<Arc<GrantEntry>> {
        let entries = lock(&self.entries);
        let entry = entries.get(&id)?;
        (entry.version == version && entry.read_at.elapsed() < GRANT_TTL).then(|| Arc::clone(entry))
    }

    /// Keeps `grant` and `user`, read under `version` (taken before the read). The identities
    /// of the entry it replaces stay if they still say the same.
    pub(super) fn insert(&self, grant: Grant, user: User, version: u64) -> Arc<GrantEntry> {
        let mut entries = lock(&self.entries);
        let identities = entries
            .get(&grant.id)
            .filter(|old| old.claims_unchanged(&grant, &user))
            .map(|old| lock(&old.identities).clone())
            .unwrap_or_default();
        if entries.len() >= MAX_GRANTS && !entries.contains_key(&grant.id) {
            entries.clear();
        }
        let entry = Arc::new(GrantEntry {
            grant,
            user,
            version,
            read_at: Instant::now(),
            identities: Mutex::new(identities),
        });
        entries.insert(entry.grant.id, Arc::clone(&entry));
        entry
    }

    /// Forgets the grant `id` (it no longer exists).
    pub(super) fn remove(&self, id: Uuid) {
        lock(&self.entries).remove(&id);
    }
}

impl GrantEntry {
    /// Whether an identity signed for `self` says what one signed for `grant` and `user` would.
    fn claims_unchanged(&self, grant: &Grant, user: &User) -> bool {
        self.grant.server_id == grant.server_id
            && self.grant.client_id == grant.client_id
            && self.user.id == user.id
            && self.user.email == user.email
            && self.user.org_id == user.org_id
            && self.user.group_id == user.group_id
    }

    /// The identity to forward to `deployment_id` at `now`: the one signed for it less than
    /// [`IDENTITY_REUSE_SECONDS`] ago, else a new one from `sign` (`None` if it fails).
    pub(super) fn identity(
        &self,
        deployment_id: Uuid,
        now: Timestamp,
        sign: impl FnOnce() -> Option<HeaderValue>,
    ) -> Option<HeaderValue> {
        // Held while signing: the calls that arrive meanwhile wait for this one signature.
        let mut identities = lock(&self.identities);
        if let Some(signed) = identities
            .iter()
            .find(|signed| signed.deployment_id == deployment_id)
            && (0..IDENTITY_REUSE_SECONDS).contains(&(now - signed.iat))
        {
            return Some(signed.header.clone());
        }
        let header = sign()?;
        identities.retain(|signed| signed.deployment_id != deployment_id);
        identities.push(Signed {
            deployment_id,
            header: header.clone(),
            iat: now,
        });
        Some(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Role;

    fn grant_and_user() -> (Grant, User) {
        let user = User {
            id: Uuid::new_v4(),
            org_id: Uuid::new_v4(),
            group_id: Uuid::new_v4(),
            email: "ada@example.com".to_owned(),
            password_hash: String::new(),
            role: Role::Member,
            created_at: 0,
            disabled_at: None,
        };
        let grant = Grant {
            id: Uuid::new_v4(),
            user_id: user.id,
            client_id: "client".to_owned(),
            server_id: Uuid::new_v4(),
            resource: "http://platform/mcp/s".to_owned(),
            scope: None,
            created_at: 0,
            revoked_at: None,
        };
        (grant, user)
    }

    fn header(text: &'static str) -> Option<HeaderValue> {
        Some(HeaderValue::from_static(text))
    }

    #[test]
    fn a_grant_is_used_only_under_the_version_it_was_read_with() {
        let grants = Grants::default();
        let (grant, user) = grant_and_user();
        let id = grant.id;
        grants.insert(grant, user, 7);
        assert!(grants.get(id, 7).is_some());
        assert!(grants.get(id, 8).is_none(), "a write through the store");
        assert!(grants.get(Uuid::new_v4(), 7).is_none());
        grants.remove(id);
        assert!(grants.get(id, 7).is_none());
    }

    #[test]
    fn an_identity_is_reused_per_deployment_until_its_reuse_ends() {
        let grants = Grants::default();
        let (grant, user) = grant_and_user();
        let entry = grants.insert(grant, user, 0);
        let (one, two) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(entry.identity(one, 100, || header("a")), header("a"));
        assert_eq!(entry.identity(one, 101, || header("b")), header("a"));
        assert_eq!(entry.identity(two, 101, || header("c")), header("c"));
        let last = 100 + IDENTITY_REUSE_SECONDS - 1;
        assert_eq!(entry.identity(one, last, || header("d")), header("a"));
        assert_eq!(entry.identity(one, last + 1, || header("e")), header("e"));
        // A clock that went back gets a new identity, never one from its future.
        assert_eq!(entry.identity(two, 50, || header("f")), header("f"));
        // A failed signature is no identity.
        let later = last + 1 + IDENTITY_REUSE_SECONDS;
        assert_eq!(entry.identity(one, later, || None), None);
    }

    #[test]
    fn a_re_read_grant_keeps_its_identities_only_when_their_claims_still_hold() {
        let grants = Grants::default();
        let (grant, user) = grant_and_user();
        let deployment = Uuid::new_v4();
        let entry = grants.insert(grant.clone(), user.clone(), 0);
        entry.identity(deployment, 10, || header("old"));

        let again = grants.insert(grant.clone(), user.clone(), 1);
        assert_eq!(
            again.identity(deployment, 11, || header("new")),
            header("old")
        );

        let moved = User {
            group_id: Uuid::new_v4(),
            ..user
        };
        let regrouped = grants.insert(grant, moved, 2);
        assert_eq!(
            regrouped.identity(deployment, 12, || header("new")),
            header("new"),
            "an identity naming the old group is not forwarded again"
        );
    }
}
