//! Users and what authenticates them: the organisation and its groups, accounts and browser
//! sessions; disabling and deleting accounts (API tokens are [`super::ApiTokenStore`]'s).

use async_trait::async_trait;
use uuid::Uuid;

use super::{StoreError, Timestamp};

/// A user's role (SPEC §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Developer,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Developer => "developer",
            Self::Member => "member",
        }
    }

    /// Admins and developers manage servers and their env vars.
    pub fn manages_servers(self) -> bool {
        matches!(self, Self::Admin | Self::Developer)
    }

    /// What the role may do, as a number: admin 2, developer 1, member 0. A demotion ends the
    /// API tokens made under a higher rank than the new role's.
    pub fn rank(self) -> i64 {
        match self {
            Self::Admin => 2,
            Self::Developer => 1,
            Self::Member => 0,
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Self::Admin),
            "developer" => Ok(Self::Developer),
            "member" => Ok(Self::Member),
            other => Err(format!(
                "unknown role `{other}`: expected admin, developer or member"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
}

#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub org_id: Uuid,
    pub group_id: Uuid,
    /// Lower-cased.
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub role: Role,
    pub created_at: Timestamp,
    /// When an admin disabled the account; `None` while it is enabled.
    pub disabled_at: Option<Timestamp>,
}

impl User {
    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

/// What disabling an account ended at once (the store part of offboarding).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ended {
    pub sessions: u64,
    pub api_tokens: u64,
    /// MCP clients' grants revoked: their access and refresh tokens stop working.
    pub grants: u64,
}

/// What deleting an account removed besides the account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    /// Slugs of the servers the account owned, now owned by the heir.
    pub servers_reassigned: Vec<String>,
    /// Saved `cred` values (one row per server).
    pub credentials: u64,
    /// OAuth connections still stored (those whose revocation failed, or made since).
    pub connections: u64,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("disabled_at", &self.disabled_at)
            .finish_non_exhaustive()
    }
}

/// Accounts and their browser sessions.
#[async_trait]
pub trait UserStore: Send + Sync {
    // Organisation and groups.
    /// The single organisation and its default group, created on first call.
    async fn default_org(&self) -> Result<(Org, Group), StoreError>;

    // Users.
    async fn insert_user(&self, user: &User) -> Result<(), StoreError>;
    async fn user_by_id(&self, id: Uuid) -> Result<User, StoreError>;
    async fn user_by_email(&self, email: &str) -> Result<User, StoreError>;
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    async fn count_users(&self) -> Result<i64, StoreError>;
    /// Sets a new password; ends the account's browser sessions and API tokens and revokes
    /// its MCP clients' grants.
    async fn set_password_hash(&self, user_id: Uuid, hash: &str) -> Result<(), StoreError>;
    /// Changes a user's role, unless that would leave no enabled admin (checked in the same
    /// statement, so two admins demoting each other at once cannot both succeed): `Conflict`
    /// then. Ends the user's API tokens made under a higher role than the new one; how many.
    async fn set_user_role(&self, user_id: Uuid, role: Role) -> Result<u64, StoreError>;
    /// Disables an account (again: keeps the first time) and, in the same transaction, ends
    /// its sessions, API tokens and connect flows and revokes its MCP clients' grants. Refused
    /// with `Conflict(LastAdmin)` when it is the last enabled admin (checked in the statement).
    async fn disable_user(&self, user_id: Uuid, at: Timestamp) -> Result<Ended, StoreError>;
    /// Lets a disabled account log in again (nothing that was ended comes back).
    async fn enable_user(&self, user_id: Uuid) -> Result<(), StoreError>;
    /// Deletes an account and everything it owns (sessions, tokens, grants, credentials,
    /// connections); its servers pass to `heir`. Refused with `Conflict(LastAdmin)` like
    /// [`disable_user`](Self::disable_user).
    async fn delete_user(&self, user_id: Uuid, heir: Uuid) -> Result<Removed, StoreError>;

    // Browser sessions.
    async fn insert_session(
        &self,
        user_id: Uuid,
        token_hash: &[u8],
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;
    /// The enabled user of an unexpired session.
    async fn session_user(&self, token_hash: &[u8], now: Timestamp) -> Result<User, StoreError>;
    async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError>;
}
