//! Users and what authenticates them: the organisation and its groups, accounts, browser
//! sessions and admin API tokens.

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
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Accounts, their browser sessions and admin API tokens.
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
    /// Sets a new password; ends the account's browser sessions and revokes its MCP clients'
    /// grants.
    async fn set_password_hash(&self, user_id: Uuid, hash: &str) -> Result<(), StoreError>;
    /// Changes a user's role, unless that would leave no admin (checked in the same statement,
    /// so two admins demoting each other at once cannot both succeed): `Conflict` then.
    async fn set_user_role(&self, user_id: Uuid, role: Role) -> Result<(), StoreError>;

    // Browser sessions.
    async fn insert_session(
        &self,
        user_id: Uuid,
        token_hash: &[u8],
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;
    /// The user of an unexpired session.
    async fn session_user(&self, token_hash: &[u8], now: Timestamp) -> Result<User, StoreError>;
    async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError>;

    // Admin API tokens.
    async fn insert_api_token(
        &self,
        user_id: Uuid,
        name: &str,
        token_hash: &[u8],
    ) -> Result<Uuid, StoreError>;
    async fn api_token_user(&self, token_hash: &[u8], now: Timestamp) -> Result<User, StoreError>;
}
