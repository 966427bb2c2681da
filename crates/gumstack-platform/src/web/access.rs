//! Who may do what on the dashboard, checked on the server for every admin page and every form
//! (after the form's CSRF token, which [`super::csrf::VerifiedForm`] checks before the handler
//! runs). Each check is a `Result` whose error, [`Denied`], renders the 403 page to answer with.

use axum::response::Response;

use super::pages;
use crate::auth::SessionUser;
use crate::state::AppState;
use crate::store::{Role, Server};

/// What members are told they may not do on server pages.
pub(super) const MANAGE_SERVERS: &str = "manage servers (create them, change their settings, env vars \
     and deployments); that takes the admin or developer role";
/// What a developer who neither owns nor maintains a server is told on its admin pages.
pub(super) const MANAGE_THIS_SERVER: &str = "manage this server (its settings, env vars and \
     deployments) unless you own it or were made one of its maintainers";
/// What non-admins are told on the users page.
pub(super) const MANAGE_USERS: &str = "manage users; that takes the admin role";

/// Why a page or a form was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Denied {
    /// The role may not do this; says what.
    Role(&'static str),
}

impl Denied {
    /// The 403 page to answer with.
    pub(super) fn page(self, session: &SessionUser) -> Response {
        match self {
            Self::Role(what) => pages::forbidden(session, what),
        }
    }
}

/// Admins and developers manage servers and their env vars (SPEC §8).
pub(super) fn manager(session: &SessionUser) -> Result<(), Denied> {
    if session.user.role.manages_servers() {
        Ok(())
    } else {
        Err(Denied::Role(MANAGE_SERVERS))
    }
}

/// The user may manage this server: admins every one, developers those they own or maintain
/// ([`Servers::can_manage`](crate::servers::Servers::can_manage)). Otherwise the 403 page.
pub(super) async fn server_manager(
    state: &AppState,
    session: &SessionUser,
    server: &Server,
) -> Result<(), Response> {
    match state.servers.can_manage(&session.user, server).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Denied::Role(MANAGE_THIS_SERVER).page(session)),
        Err(err) => Err(pages::error_page(Some(session), err)),
    }
}

/// Only admins manage accounts.
pub(super) fn admin(session: &SessionUser) -> Result<(), Denied> {
    if session.user.role == Role::Admin {
        Ok(())
    } else {
        Err(Denied::Role(MANAGE_USERS))
    }
}
