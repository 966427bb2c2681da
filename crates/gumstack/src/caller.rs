//! [`GumstackContext`] as data: who is calling, with no knowledge of where the host keeps it.
//!
//! The lowest of the request modules: `identity` builds a caller from a verified identity,
//! `scope` carries it through the request, and `context` reads it back with
//! [`GumstackContext::current`]. Keeping the type here lets all three use it without using
//! each other.

/// The caller of the current tool call, as vouched for by the platform.
///
/// In production it comes from the identity the platform signed for the call (claims `sub`,
/// `email`, `org`, `grp`, `cid`; the server id is this server's `GUMSTACK_SERVER_ID`, which the
/// identity's audience names). In local mode it is a fixed `local` user.
///
/// Read it anywhere inside a tool handled by [`GumstackHost`](crate::GumstackHost) (or a task
/// started with [`crate::spawn`]) with [`GumstackContext::current`]; there is nothing to pass
/// around.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GumstackContext {
    /// The platform's stable id of the user.
    pub user_id: String,
    /// The user's e-mail address, as the platform knows it.
    pub email: String,
    /// The user's organisation (one per platform until RBAC lands).
    pub org_id: String,
    /// The user's permission group.
    pub group_id: String,
    /// This server's id on the platform.
    pub server_id: String,
    /// The OAuth client id of the MCP client that made the call.
    pub client_id: String,
}

impl GumstackContext {
    /// Whether the caller is the platform itself rather than a user: the platform lists a
    /// server's tools (`initialize`, `tools/list`) with an identity of its own when it deploys
    /// it (docs/PROTOCOL.md §2.1). Such a call has no user, so `get_credentials()` fails with
    /// [`GumstackError::NoAuthContext`](crate::GumstackError::NoAuthContext) for `cred` and
    /// `oauth` servers.
    pub fn is_platform(&self) -> bool {
        self.user_id == gumstack_protocol::claims::PLATFORM_SUBJECT
    }

    /// The fixed caller of local mode, where there is no platform to vouch for anyone.
    pub(crate) fn local(server_id: Option<&str>) -> Self {
        Self {
            user_id: "local".to_owned(),
            email: "local@localhost".to_owned(),
            org_id: "local".to_owned(),
            group_id: "default".to_owned(),
            server_id: server_id.unwrap_or("local").to_owned(),
            client_id: "local".to_owned(),
        }
    }
}
