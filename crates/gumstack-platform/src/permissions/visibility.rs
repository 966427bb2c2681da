//! Who sees which server on the dashboard and the JSON API (SPEC §8, §10).
//!
//! Admins and developers see every server: they administer them (a developer sees every
//! server and manages those they own or maintain, [`crate::servers::Servers::can_manage`]).
//! A member sees a server only when their group may use it — the same cached decision the
//! gateway answers 403 by ([`Permissions::for_call`]), so a change applies to the next page
//! as it does to the next call.

use super::{CallAccess, Permissions};
use crate::store::{Role, Server, StoreError, User};

impl Permissions {
    /// Whether `user` sees `server`.
    pub(crate) async fn sees(&self, user: &User, server: &Server) -> Result<bool, StoreError> {
        if user.role != Role::Member {
            return Ok(true);
        }
        let access = self.for_call(user.group_id, server.id).await?;
        Ok(!matches!(access, CallAccess::ServerDisabled))
    }

    /// The servers of `servers` that `user` sees, in their order.
    pub(crate) async fn visible(
        &self,
        user: &User,
        servers: Vec<Server>,
    ) -> Result<Vec<Server>, StoreError> {
        let mut shown = Vec::with_capacity(servers.len());
        for server in servers {
            if self.sees(user, &server).await? {
                shown.push(server);
            }
        }
        Ok(shown)
    }
}
