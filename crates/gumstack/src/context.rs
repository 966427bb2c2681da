//! [`GumstackContext`]: who is calling the tool that is running.

pub use crate::caller::GumstackContext;
use crate::{error::GumstackError, scope::RequestScope};

impl GumstackContext {
    /// The caller of the tool call this code runs in.
    ///
    /// Fails with [`GumstackError::NoAuthContext`] outside a request handled by the host (or a
    /// task started with [`crate::spawn`]). Requests without a valid identity never reach a
    /// tool: the host refuses them with 401.
    pub fn current() -> Result<Self, GumstackError> {
        let scope = RequestScope::current().ok_or_else(|| {
            GumstackError::no_auth_context(
                "no authentication context: GumstackContext::current() was called outside a \
                 tool call handled by GumstackHost",
            )
        })?;
        scope.caller().cloned().ok_or_else(|| {
            GumstackError::no_auth_context(
                "no authentication context: this request carries no verified user identity",
            )
        })
    }
}
