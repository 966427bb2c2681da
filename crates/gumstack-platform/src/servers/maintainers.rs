//! Who may manage a server (SPEC §8), and its maintainers.
//!
//! The rule lives here and nowhere else: admins manage every server; a developer manages the
//! servers they own and those they were made maintainer of; members manage none. "Manage" is
//! every change to a server — settings, env vars, redeploys, disabling, enabling, deleting —
//! and reading what only its managers read (env var names, deployment errors, call bodies in
//! the activity log). [`Servers::can_manage`] answers for one server;
//! [`Servers::managed_by`] reads once what a user may manage, for pages that ask about many.
//!
//! The maintainers of a server are chosen by its owner or an admin
//! ([`Servers::can_manage_maintainers`]); only developers and admins can be maintainers (a
//! member would manage nothing). A maintainer whose role is later lowered to member manages
//! nothing either: the role is read with every request.

use std::collections::HashSet;

use uuid::Uuid;

use super::Servers;
use crate::error::{DomainError, ErrorClass, Internal};
use crate::store::{Maintainer, Role, Server, StoreError, User, now};

/// Whether a user of `role` manages a server they own (`owner`) or maintain (`maintainer`).
/// The one rule every check applies.
fn manages(role: Role, owner: bool, maintainer: bool) -> bool {
    match role {
        Role::Admin => true,
        Role::Developer => owner || maintainer,
        Role::Member => false,
    }
}

/// Which servers one user may manage, read once: the synchronous form of
/// [`Servers::can_manage`] for lists and pages that ask about many servers.
#[derive(Debug, Clone)]
pub struct ManagedServers {
    user_id: Uuid,
    role: Role,
    maintained: HashSet<Uuid>,
}

impl ManagedServers {
    /// Whether the user may manage `server`.
    pub fn includes(&self, server: &Server) -> bool {
        manages(
            self.role,
            server.owner_id == Some(self.user_id),
            self.maintained.contains(&server.id),
        )
    }
}

/// Why a change to a server's maintainers was refused.
#[derive(Debug, thiserror::Error)]
pub enum MaintainerError {
    /// The request names someone who cannot be a maintainer; the message says why.
    #[error("{message}")]
    Invalid {
        /// `invalid_email`, `unknown_user`, `not_a_developer`, `already_owner`,
        /// `account_disabled`.
        code: &'static str,
        message: String,
    },
    /// The user is a maintainer already (email, escaped).
    #[error("{0} is already a maintainer of this server")]
    AlreadyMaintainer(String),
    /// The user is not a maintainer of the server.
    #[error("user {0} is not a maintainer of this server")]
    NotMaintainer(Uuid),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl MaintainerError {
    fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
        }
    }
}

impl From<StoreError> for MaintainerError {
    fn from(err: StoreError) -> Self {
        Self::Internal(err.into())
    }
}

impl DomainError for MaintainerError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Invalid { .. } => ErrorClass::Invalid,
            Self::AlreadyMaintainer(_) => ErrorClass::Conflict,
            Self::NotMaintainer(_) => ErrorClass::NotFound,
            Self::Internal(err) => err.class(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Invalid { code, .. } => code,
            Self::AlreadyMaintainer(_) => "already_maintainer",
            Self::NotMaintainer(_) => "not_found",
            Self::Internal(err) => err.code(),
        }
    }
}

impl Servers {
    /// Whether `user` may manage `server` (see the module's rule). Reads the store only for a
    /// developer who does not own the server.
    pub async fn can_manage(&self, user: &User, server: &Server) -> Result<bool, Internal> {
        let owner = server.owner_id == Some(user.id);
        let maintainer = user.role == Role::Developer
            && !owner
            && self.store.is_maintainer(server.id, user.id).await?;
        Ok(manages(user.role, owner, maintainer))
    }

    /// What `user` may manage, read once (see [`ManagedServers`]).
    pub async fn managed_by(&self, user: &User) -> Result<ManagedServers, Internal> {
        let maintained = match user.role {
            Role::Developer => self.store.maintained_servers(user.id).await?,
            Role::Admin | Role::Member => Vec::new(),
        };
        Ok(ManagedServers {
            user_id: user.id,
            role: user.role,
            maintained: maintained.into_iter().collect(),
        })
    }

    /// Whether `user` may choose the maintainers of `server`: its owner (while a developer or
    /// admin) and admins. Maintainers may not add or remove other maintainers.
    pub fn can_manage_maintainers(user: &User, server: &Server) -> bool {
        manages(user.role, server.owner_id == Some(user.id), false)
    }

    /// The maintainers of `server`, by email.
    pub async fn maintainers(&self, server: &Server) -> Result<Vec<Maintainer>, Internal> {
        Ok(self.store.list_maintainers(server.id).await?)
    }

    /// Makes the account with `email` a maintainer of `server`; `by` is who does it. The caller
    /// has checked [`can_manage_maintainers`](Self::can_manage_maintainers).
    pub async fn add_maintainer(
        &self,
        server: &Server,
        email: &str,
        by: Option<Uuid>,
    ) -> Result<Maintainer, MaintainerError> {
        let email = email.trim().to_lowercase();
        if email.is_empty() || !email.contains('@') {
            return Err(MaintainerError::invalid(
                "invalid_email",
                "enter the email address of a developer's or admin's account",
            ));
        }
        let shown = email.escape_debug().to_string();
        let user = match self.store.user_by_email(&email).await {
            Ok(user) => user,
            Err(StoreError::NotFound) => {
                return Err(MaintainerError::invalid(
                    "unknown_user",
                    format!("no account has the email {shown}"),
                ));
            }
            Err(other) => return Err(other.into()),
        };
        if user.role == Role::Member {
            return Err(MaintainerError::invalid(
                "not_a_developer",
                format!(
                    "{shown} is a member, and members manage no server: an admin must make them \
                     a developer first"
                ),
            ));
        }
        if user.is_disabled() {
            return Err(MaintainerError::invalid(
                "account_disabled",
                format!("the account {shown} is disabled"),
            ));
        }
        if server.owner_id == Some(user.id) {
            return Err(MaintainerError::invalid(
                "already_owner",
                format!("{shown} owns this server, which lets them manage it already"),
            ));
        }
        let at = now();
        if !self
            .store
            .insert_maintainer(server.id, user.id, by, at)
            .await?
        {
            return Err(MaintainerError::AlreadyMaintainer(shown));
        }
        tracing::info!(server = %server.id, user = %user.id, by = ?by, "maintainer added");
        Ok(Maintainer {
            user_id: user.id,
            email: user.email,
            role: user.role,
            added_by: by,
            added_at: at,
        })
    }

    /// Ends `user_id`'s maintainership of `server`; their next request is refused.
    pub async fn remove_maintainer(
        &self,
        server: &Server,
        user_id: Uuid,
        by: Option<Uuid>,
    ) -> Result<(), MaintainerError> {
        if !self.store.delete_maintainer(server.id, user_id).await? {
            return Err(MaintainerError::NotMaintainer(user_id));
        }
        tracing::info!(server = %server.id, user = %user_id, by = ?by, "maintainer removed");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule() {
        for (role, owner, maintainer, expected) in [
            (Role::Admin, false, false, true),
            (Role::Developer, true, false, true),
            (Role::Developer, false, true, true),
            (Role::Developer, false, false, false),
            (Role::Member, true, false, false),
            (Role::Member, false, true, false),
        ] {
            assert_eq!(
                manages(role, owner, maintainer),
                expected,
                "{role:?} owner={owner} maintainer={maintainer}"
            );
        }
    }
}
