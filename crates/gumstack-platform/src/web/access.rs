//! Who may do what on the dashboard, checked on the server for every admin page and every form:
//! a form's CSRF token first (nothing of a forged or stale form is looked at), then the role.
//! Each check is a `Result` whose error, [`Denied`], renders the 403 page to answer with.

use axum::response::{IntoResponse, Response};

use super::pages;
use crate::auth::SessionUser;
use crate::store::Role;

/// What members are told they may not do on server pages.
pub const MANAGE_SERVERS: &str = "manage servers (create them, change their settings, env vars \
     and deployments); that takes the admin or developer role";
/// What non-admins are told on the users page.
pub const MANAGE_USERS: &str = "manage users; that takes the admin role";

/// Why a page or a form was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The form's CSRF token is missing or not the session's.
    StaleForm,
    /// The role may not do this; says what.
    Role(&'static str),
}

impl Denied {
    /// The 403 page to answer with.
    pub fn page(self, session: &SessionUser) -> Response {
        match self {
            Self::StaleForm => pages::forbidden_form().into_response(),
            Self::Role(what) => pages::forbidden(session, what),
        }
    }
}

/// The submitted CSRF token must be the session's.
pub fn csrf(session: &SessionUser, submitted: &str) -> Result<(), Denied> {
    if session.check_csrf(submitted) {
        Ok(())
    } else {
        Err(Denied::StaleForm)
    }
}

/// Admins and developers manage servers and their env vars (SPEC §8).
pub fn manager(session: &SessionUser) -> Result<(), Denied> {
    if session.user.role.manages_servers() {
        Ok(())
    } else {
        Err(Denied::Role(MANAGE_SERVERS))
    }
}

/// Only admins manage accounts.
pub fn admin(session: &SessionUser) -> Result<(), Denied> {
    if session.user.role == Role::Admin {
        Ok(())
    } else {
        Err(Denied::Role(MANAGE_USERS))
    }
}
