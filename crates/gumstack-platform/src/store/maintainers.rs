//! Maintainers of servers (SPEC §8): the developers besides the owner who may manage a server.

use async_trait::async_trait;
use uuid::Uuid;

use super::{Role, StoreError, Timestamp};

/// A maintainer of a server, with what the pages and the API show of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maintainer {
    pub user_id: Uuid,
    /// Lower-cased.
    pub email: String,
    /// The user's role now (a maintainer demoted to member manages nothing).
    pub role: Role,
    /// Who added them; `None` once that account is deleted.
    pub added_by: Option<Uuid>,
    pub added_at: Timestamp,
}

/// Who maintains which server.
#[async_trait]
pub trait MaintainerStore: Send + Sync {
    /// The maintainers of a server, by email.
    async fn list_maintainers(&self, server_id: Uuid) -> Result<Vec<Maintainer>, StoreError>;
    /// Makes `user_id` a maintainer of `server_id`; `false` when they were one already (the
    /// row is left as it was).
    async fn insert_maintainer(
        &self,
        server_id: Uuid,
        user_id: Uuid,
        added_by: Option<Uuid>,
        at: Timestamp,
    ) -> Result<bool, StoreError>;
    /// `false` when `user_id` was not a maintainer of `server_id`.
    async fn delete_maintainer(&self, server_id: Uuid, user_id: Uuid) -> Result<bool, StoreError>;
    async fn is_maintainer(&self, server_id: Uuid, user_id: Uuid) -> Result<bool, StoreError>;
    /// The ids of the servers `user_id` maintains.
    async fn maintained_servers(&self, user_id: Uuid) -> Result<Vec<Uuid>, StoreError>;
}
