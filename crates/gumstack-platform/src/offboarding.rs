//! Offboarding (SPEC §8): an admin disables, re-enables or deletes an account.
//!
//! - **Disable** ends at once, in one transaction, the account's browser sessions, API tokens,
//!   connect flows and MCP clients' grants (their access tokens stop working at the gateway,
//!   their refresh tokens are refused), and refuses its logins; then asks each of its OAuth
//!   connections' servers to revoke the grant at the provider. The [`OffboardReport`] says
//!   what was ended, revoked, and what failed. A connection whose revocation failed keeps its
//!   (unusable) tokens so that disabling again retries it; the background refresher leaves
//!   disabled accounts' connections alone.
//! - **Enable** lets the account log in again; nothing that was ended comes back.
//! - **Delete** does what disable does (failed revocations are reported, and the tokens
//!   deleted anyway), then removes the account with its saved credentials and connections; its
//!   servers pass to the admin who deleted it.
//!
//! The last enabled admin can be neither disabled nor deleted (checked in the statement that
//! would do it), and an admin cannot disable or delete their own account.

use std::sync::Arc;

use uuid::Uuid;

use crate::clock::Clock;
use crate::connections::{Connections, RevokeOutcome};
use crate::store::{Constraint, Ended, Removed, Role, Store, StoreError, User};
use crate::users::AccountError;

/// Which offboarding a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Disabled,
    Deleted,
}

/// One connection's fate at its provider.
#[derive(Debug, Clone)]
pub struct ConnectionReport {
    pub server_slug: String,
    pub server_name: String,
    pub provider: String,
    pub nickname: String,
    pub outcome: RevokeOutcome,
    /// Whether the stored tokens were deleted.
    pub deleted: bool,
}

/// What offboarding an account did.
#[derive(Debug, Clone)]
pub struct OffboardReport {
    pub user_id: Uuid,
    pub email: String,
    pub action: Action,
    /// Sessions, API tokens and MCP-client grants ended now (none when they had been already).
    pub ended: Ended,
    /// Every OAuth connection the account had, and what became of it at its provider.
    pub connections: Vec<ConnectionReport>,
    /// What deleting removed (delete only).
    pub removed: Option<Removed>,
}

impl OffboardReport {
    /// Connections whose revocation did not succeed.
    pub fn failures(&self) -> usize {
        self.connections
            .iter()
            .filter(|c| !c.outcome.is_revoked())
            .count()
    }
}

/// Disabling, enabling and deleting accounts, shared by the API, the dashboard and the CLI.
#[derive(Debug, Clone)]
pub struct Offboarding {
    store: Arc<dyn Store>,
    connections: Connections,
    clock: Arc<dyn Clock>,
}

fn account_error(err: StoreError, email: &str) -> AccountError {
    match err {
        StoreError::NotFound => AccountError::NotFound,
        StoreError::Conflict(Constraint::LastAdmin) => AccountError::LastAdmin(email.to_owned()),
        other => other.into(),
    }
}

impl Offboarding {
    pub fn new(store: Arc<dyn Store>, connections: Connections, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            connections,
            clock,
        }
    }

    async fn user(&self, id: Uuid) -> Result<User, AccountError> {
        self.store
            .user_by_id(id)
            .await
            .map_err(|e| account_error(e, ""))
    }

    /// Disables the account `user_id` (again: retries the revocations that failed). `by` is
    /// the admin doing it (`None`: the operator, from the CLI).
    pub async fn disable(
        &self,
        user_id: Uuid,
        by: Option<Uuid>,
    ) -> Result<OffboardReport, AccountError> {
        let user = self.user(user_id).await?;
        if by == Some(user.id) {
            return Err(AccountError::OwnAccount("disable"));
        }
        let ended = self
            .store
            .disable_user(user.id, self.clock.now())
            .await
            .map_err(|e| account_error(e, &user.email))?;
        tracing::info!(user = %user.id, by = ?by, ?ended, "account disabled");
        let connections = self.revoke_connections(user.id, false).await?;
        Ok(OffboardReport {
            user_id: user.id,
            email: user.email,
            action: Action::Disabled,
            ended,
            connections,
            removed: None,
        })
    }

    /// Lets a disabled account log in again.
    pub async fn enable(&self, user_id: Uuid) -> Result<User, AccountError> {
        let user = self.user(user_id).await?;
        self.store
            .enable_user(user.id)
            .await
            .map_err(|e| account_error(e, &user.email))?;
        tracing::info!(user = %user.id, "account enabled");
        Ok(User {
            disabled_at: None,
            ..user
        })
    }

    /// Deletes the account `user_id`; its servers pass to `heir`, an enabled admin (the admin
    /// deleting it, or the one the operator names). `by` as for [`disable`](Self::disable).
    pub async fn delete(
        &self,
        user_id: Uuid,
        by: Option<Uuid>,
        heir: &User,
    ) -> Result<OffboardReport, AccountError> {
        let user = self.user(user_id).await?;
        if by == Some(user.id) {
            return Err(AccountError::OwnAccount("delete"));
        }
        // As stored now: the caller's copy may be older than a change of role or state.
        let heir = self.user(heir.id).await?;
        if heir.id == user.id || heir.role != Role::Admin || heir.is_disabled() {
            return Err(AccountError::Invalid {
                code: "invalid_heir",
                message: format!(
                    "the servers of {} must pass to another enabled admin",
                    user.email
                ),
            });
        }
        // Access ends first, in one transaction (and the last admin is refused here, before
        // anything else happens).
        let ended = self
            .store
            .disable_user(user.id, self.clock.now())
            .await
            .map_err(|e| account_error(e, &user.email))?;
        let connections = self.revoke_connections(user.id, true).await?;
        let removed = self
            .store
            .delete_user(user.id, heir.id)
            .await
            .map_err(|e| account_error(e, &user.email))?;
        tracing::info!(user = %user.id, heir = %heir.id, ?removed, "account deleted");
        Ok(OffboardReport {
            user_id: user.id,
            email: user.email,
            action: Action::Deleted,
            ended,
            connections,
            removed: Some(removed),
        })
    }

    async fn revoke_connections(
        &self,
        user_id: Uuid,
        delete_failed: bool,
    ) -> Result<Vec<ConnectionReport>, AccountError> {
        let revocations = self.connections.revoke_all(user_id, delete_failed).await?;
        let mut report = Vec::with_capacity(revocations.len());
        for r in revocations {
            let (server_slug, server_name) = match self.store.server_by_id(r.server_id).await {
                Ok(server) => (server.slug, server.name),
                Err(StoreError::NotFound) => (r.server_id.to_string(), "(deleted server)".into()),
                Err(other) => return Err(other.into()),
            };
            report.push(ConnectionReport {
                server_slug,
                server_name,
                provider: r.provider,
                nickname: r.nickname,
                outcome: r.outcome,
                deleted: r.deleted,
            });
        }
        Ok(report)
    }
}
