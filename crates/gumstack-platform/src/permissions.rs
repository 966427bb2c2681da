//! Permission groups (SPEC §8): every user is in exactly one group, and per group × server the
//! group may use the server or not, and call each tool or not (a default that new tools
//! follow, plus per-tool decisions). The gateway applies them on every call
//! ([`Permissions::for_call`]); admins change them through the API.
//!
//! Decisions are cached per (group, server) in memory and the cache is cleared by every change
//! made through this service, so a change applies to the next call without a restart. (Several
//! instances on one database need the change announced to the others; that comes with the
//! PostgreSQL backend.)

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use gumstack_gateway::ToolAccess;
use uuid::Uuid;

use crate::error::{DomainError, ErrorClass, Internal};
use crate::store::{Constraint, Group, GroupSummary, ServerAccess, Store, StoreError};

mod visibility;

/// Longest group name.
const MAX_GROUP_NAME: usize = 100;
/// Longest tool name (MCP names are short; this bounds what an admin can store).
const MAX_TOOL_NAME: usize = 128;
/// Most per-tool decisions per group × server.
const MAX_TOOLS: usize = 1000;
/// Cached decisions kept, at most; the cache is cleared when it fills.
const CACHED: usize = 10_000;

/// Why a permission change was refused.
#[derive(Debug, thiserror::Error)]
pub enum PermissionError {
    #[error("no group with id {0}")]
    GroupNotFound(Uuid),
    #[error("no user with id {0}")]
    UserNotFound(Uuid),
    #[error("a group with the name `{0}` exists")]
    NameTaken(String),
    #[error("the default group cannot be deleted; new users join it")]
    DefaultGroup,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<StoreError> for PermissionError {
    fn from(err: StoreError) -> Self {
        Self::Internal(err.into())
    }
}

impl DomainError for PermissionError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::GroupNotFound(_) | Self::UserNotFound(_) => ErrorClass::NotFound,
            Self::NameTaken(_) | Self::DefaultGroup => ErrorClass::Conflict,
            Self::Invalid(_) => ErrorClass::Invalid,
            Self::Internal(err) => err.class(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::GroupNotFound(_) | Self::UserNotFound(_) => "not_found",
            Self::NameTaken(_) => Constraint::GroupName.code(),
            Self::DefaultGroup => Constraint::DefaultGroup.code(),
            Self::Invalid(_) => "invalid",
            Self::Internal(err) => err.code(),
        }
    }
}

/// What a call may do on a server, as the gateway needs it.
#[derive(Debug, Clone)]
pub(crate) enum CallAccess {
    /// The caller's group may not use this server.
    ServerDisabled,
    /// The caller may use the server; these tools.
    Tools(ToolAccess),
}

/// The permission groups service.
#[derive(Debug, Clone)]
pub struct Permissions {
    store: Arc<dyn Store>,
    cache: Arc<Mutex<HashMap<(Uuid, Uuid), CallAccess>>>,
    /// Grows with every change: a decision read from the store before a change is not cached
    /// after it (a reader that raced the change would otherwise keep the old decision).
    generation: Arc<AtomicU64>,
}

impl Permissions {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            cache: Arc::default(),
            generation: Arc::default(),
        }
    }

    /// What a member of `group_id` may do on `server_id` (cached).
    pub(crate) async fn for_call(
        &self,
        group_id: Uuid,
        server_id: Uuid,
    ) -> Result<CallAccess, StoreError> {
        let key = (group_id, server_id);
        if let Some(found) = self.lock().get(&key) {
            return Ok(found.clone());
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let access = self.store.server_access(group_id, server_id).await?;
        let decided = if access.enabled {
            let exceptions = access
                .tools
                .into_iter()
                .filter(|(_, allowed)| *allowed != access.default_allow)
                .map(|(tool, _)| tool);
            CallAccess::Tools(ToolAccess::new(access.default_allow, exceptions))
        } else {
            CallAccess::ServerDisabled
        };
        let mut cache = self.lock();
        if self.generation.load(Ordering::SeqCst) == generation {
            if cache.len() >= CACHED {
                cache.clear();
            }
            cache.insert(key, decided.clone());
        }
        Ok(decided)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Uuid, Uuid), CallAccess>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn changed(&self) {
        let mut cache = self.lock();
        self.generation.fetch_add(1, Ordering::SeqCst);
        cache.clear();
    }

    pub async fn groups(&self) -> Result<Vec<GroupSummary>, PermissionError> {
        Ok(self.store.list_groups().await?)
    }

    pub async fn group(&self, id: Uuid) -> Result<GroupSummary, PermissionError> {
        self.store.group_by_id(id).await.map_err(|err| match err {
            StoreError::NotFound => PermissionError::GroupNotFound(id),
            other => other.into(),
        })
    }

    pub async fn create_group(&self, name: &str) -> Result<Group, PermissionError> {
        let name = group_name(name)?;
        let (org, _) = self.store.default_org().await?;
        self.store
            .insert_group(org.id, &name)
            .await
            .map_err(|err| name_taken(err, &name))
    }

    pub async fn rename_group(&self, id: Uuid, name: &str) -> Result<(), PermissionError> {
        let name = group_name(name)?;
        self.group(id).await?;
        self.store
            .rename_group(id, &name)
            .await
            .map_err(|err| name_taken(err, &name))
    }

    /// Deletes a group; its members move to the default group.
    pub async fn delete_group(&self, id: Uuid) -> Result<(), PermissionError> {
        self.group(id).await?;
        let result = self.store.delete_group(id).await.map_err(|err| match err {
            StoreError::Conflict(Constraint::DefaultGroup) => PermissionError::DefaultGroup,
            StoreError::NotFound => PermissionError::GroupNotFound(id),
            other => other.into(),
        });
        self.changed();
        result
    }

    /// Puts a user in a group; their next call follows the group's decisions.
    pub async fn move_user(&self, user_id: Uuid, group_id: Uuid) -> Result<(), PermissionError> {
        self.group(group_id).await?;
        self.store
            .set_user_group(user_id, group_id)
            .await
            .map_err(|err| match err {
                StoreError::NotFound => PermissionError::UserNotFound(user_id),
                other => other.into(),
            })
    }

    /// What a group may do with a server.
    pub async fn server_access(
        &self,
        group_id: Uuid,
        server_id: Uuid,
    ) -> Result<ServerAccess, PermissionError> {
        self.group(group_id).await?;
        Ok(self.store.server_access(group_id, server_id).await?)
    }

    /// Replaces what a group may do with a server; applies to the next call.
    pub async fn set_server_access(
        &self,
        group_id: Uuid,
        server_id: Uuid,
        access: ServerAccess,
    ) -> Result<ServerAccess, PermissionError> {
        self.group(group_id).await?;
        let access = validated(access)?;
        self.store
            .set_server_access(group_id, server_id, &access)
            .await?;
        self.changed();
        Ok(access)
    }
}

fn name_taken(err: StoreError, name: &str) -> PermissionError {
    match err {
        StoreError::Conflict(Constraint::GroupName) => PermissionError::NameTaken(name.to_owned()),
        other => other.into(),
    }
}

fn group_name(name: &str) -> Result<String, PermissionError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_GROUP_NAME {
        return Err(PermissionError::Invalid(format!(
            "a group name has 1 to {MAX_GROUP_NAME} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(PermissionError::Invalid(
            "a group name may not contain control characters".to_owned(),
        ));
    }
    Ok(name.to_owned())
}

/// Tool names are checked, and decisions equal to the default are kept (they stay when the
/// default changes).
fn validated(access: ServerAccess) -> Result<ServerAccess, PermissionError> {
    if access.tools.len() > MAX_TOOLS {
        return Err(PermissionError::Invalid(format!(
            "at most {MAX_TOOLS} tools per group and server"
        )));
    }
    let mut tools = BTreeMap::new();
    for (tool, allowed) in access.tools {
        if let Some(problem) = tool_name_problem(&tool) {
            return Err(PermissionError::Invalid(problem));
        }
        tools.insert(tool, allowed);
    }
    Ok(ServerAccess { tools, ..access })
}

/// Why `tool` cannot be a tool name a decision is kept for (also what discovery skips).
pub(crate) fn tool_name_problem(tool: &str) -> Option<String> {
    (tool.is_empty()
        || tool.len() > MAX_TOOL_NAME
        || tool.chars().any(|c| c.is_control() || c.is_whitespace()))
    .then(|| {
        format!(
            "`{}` is not a tool name: 1 to {MAX_TOOL_NAME} bytes, no spaces or control characters",
            tool.escape_debug()
        )
    })
}
