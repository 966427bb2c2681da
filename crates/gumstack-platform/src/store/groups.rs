//! Permission groups (SPEC §8): the groups of the organisation, who is in which, and what each
//! group may do with each server.

use std::collections::BTreeMap;

use async_trait::async_trait;
use uuid::Uuid;

use super::{Group, StoreError, Timestamp};

/// A group with how many users it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    pub group: Group,
    pub is_default: bool,
    pub members: i64,
    pub created_at: Timestamp,
}

/// What one group may do with one server. Without a stored row: enabled, every tool allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAccess {
    /// May the group use the server at all?
    pub enabled: bool,
    /// What a tool without its own entry gets (new tools follow it).
    pub default_allow: bool,
    /// Tools with their own decision: `true` allowed, `false` denied.
    pub tools: BTreeMap<String, bool>,
}

impl Default for ServerAccess {
    fn default() -> Self {
        Self {
            enabled: true,
            default_allow: true,
            tools: BTreeMap::new(),
        }
    }
}

/// Groups, their members and their access to servers.
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Every group of the organisation, the default first, then by name.
    async fn list_groups(&self) -> Result<Vec<GroupSummary>, StoreError>;
    async fn group_by_id(&self, id: Uuid) -> Result<GroupSummary, StoreError>;
    /// `Conflict(GroupName)` when the organisation has a group of this name.
    async fn insert_group(&self, org_id: Uuid, name: &str) -> Result<Group, StoreError>;
    async fn rename_group(&self, id: Uuid, name: &str) -> Result<(), StoreError>;
    /// Deletes a group that is not the default; its members move to the default group in the
    /// same transaction. `Conflict(DefaultGroup)` for the default group.
    async fn delete_group(&self, id: Uuid) -> Result<(), StoreError>;
    /// Puts a user in a group.
    async fn set_user_group(&self, user_id: Uuid, group_id: Uuid) -> Result<(), StoreError>;
    /// What `group_id` may do with `server_id` (the default when nothing is stored).
    async fn server_access(
        &self,
        group_id: Uuid,
        server_id: Uuid,
    ) -> Result<ServerAccess, StoreError>;
    /// Replaces what `group_id` may do with `server_id`, tools included, in one transaction.
    async fn set_server_access(
        &self,
        group_id: Uuid,
        server_id: Uuid,
        access: &ServerAccess,
    ) -> Result<(), StoreError>;
}
