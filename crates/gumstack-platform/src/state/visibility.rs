//! Servers as a user may see them: an unknown slug and a server the user may not see get the
//! same answer, so the pages and the API never tell a member that a hidden server exists.

use super::AppState;
use crate::servers::ServerError;
use crate::store::{Server, User};

impl AppState {
    /// The server `reference` (slug or UUID) names, when `user` sees it
    /// ([`Permissions::sees`](crate::permissions::Permissions)); otherwise the error of an
    /// unknown server.
    pub(crate) async fn visible_server(
        &self,
        user: &User,
        reference: &str,
    ) -> Result<Server, ServerError> {
        let server = self.servers.resolve(reference).await?;
        if self.permissions.sees(user, &server).await? {
            Ok(server)
        } else {
            Err(ServerError::NotFound(reference.escape_debug().to_string()))
        }
    }

    /// Every server `user` sees.
    pub(crate) async fn visible_servers(&self, user: &User) -> Result<Vec<Server>, ServerError> {
        let servers = self.servers.list().await?;
        Ok(self.permissions.visible(user, servers).await?)
    }
}
