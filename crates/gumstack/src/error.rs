//! The two error surfaces of the SDK: [`GumstackError`] for code running inside a tool, and
//! [`HostError`] for starting the host.

use std::net::SocketAddr;

use rmcp::{
    handler::server::tool::IntoCallToolResult,
    model::{CallToolResponse, CallToolResult, ContentBlock},
};

/// What went wrong when a tool asked the SDK for its caller or credentials, phrased as what the
/// caller of the tool should do about it.
///
/// Return it from a tool (`Result<T, GumstackError>`, or [`GumstackError::into_tool_result`]):
/// the MCP client then shows the user a tool error with the text of the variant, and for
/// [`GumstackError::NeedsAuthorization`] the link to follow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GumstackError {
    /// The user must connect (or reconnect) an account first, at `url`.
    #[error("{message} Connect your account at {url}")]
    NeedsAuthorization {
        /// The platform page where the user connects the account or enters the credentials;
        /// show it to the user as is.
        url: String,
        /// What is missing, as a sentence for the user (for example "Linear is not
        /// connected.").
        message: String,
    },
    /// A transient failure (the platform or a provider is unavailable); the same call may
    /// succeed later.
    #[error("{message} Please try again later.")]
    RetryLater {
        /// What is unavailable, as a sentence for the user.
        message: String,
    },
    /// The server is set up wrongly (a missing environment variable, the wrong credential
    /// function for its auth type, …). The developer must fix its configuration.
    #[error("server misconfigured: {message}")]
    Misconfigured {
        /// What is wrong and how to fix it, for the developer.
        message: String,
    },
    /// There is no authenticated call to act for: the code ran outside a request handled by
    /// [`GumstackHost`](crate::GumstackHost), or the request carries no verified identity.
    #[error("{message}")]
    NoAuthContext {
        /// Where the code ran without a caller, for the developer.
        message: String,
    },
}

impl GumstackError {
    pub(crate) fn misconfigured(message: impl Into<String>) -> Self {
        Self::Misconfigured {
            message: message.into(),
        }
    }

    pub(crate) fn no_auth_context(message: impl Into<String>) -> Self {
        Self::NoAuthContext {
            message: message.into(),
        }
    }

    /// The tool result an MCP client shows the user for this error (`isError: true`).
    pub fn into_tool_result(self) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text(self.to_string())])
    }
}

impl From<GumstackError> for CallToolResult {
    fn from(error: GumstackError) -> Self {
        error.into_tool_result()
    }
}

/// Lets a `#[tool]` function return `Result<T, GumstackError>` and use `?` on SDK calls.
impl IntoCallToolResult for GumstackError {
    fn into_call_tool_result(self) -> Result<CallToolResponse, rmcp::ErrorData> {
        Ok(self.into_tool_result().into())
    }
}

/// Why [`GumstackHost`](crate::GumstackHost) could not start or stopped with an error.
///
/// Every variant but [`HostError::Serve`] is found before the server answers any request; its
/// text says which setting to fix. Log it and exit: restarting with the same environment fails
/// the same way.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// `ENVIRONMENT` is unset: set `ENVIRONMENT=local` to run on your machine (the platform
    /// sets `production` itself).
    #[error(
        "ENVIRONMENT is not set. To run this server on your machine without the Gumstack \
         platform, set ENVIRONMENT=local (unauthenticated, loopback only, credentials from \
         LOCAL_<NAME> variables). The platform sets ENVIRONMENT=production itself."
    )]
    EnvironmentNotSet,
    /// `ENVIRONMENT` is neither `local` nor `production`: set `ENVIRONMENT=local` for local
    /// development.
    #[error(
        "ENVIRONMENT={value:?} is not recognised. Set ENVIRONMENT=local for local development; \
         the platform sets ENVIRONMENT=production itself."
    )]
    UnknownEnvironment {
        /// The value found in `ENVIRONMENT`.
        value: String,
    },
    /// Production mode without `PORT`: the platform sets it; on your machine use
    /// `ENVIRONMENT=local`, where it defaults to 8000.
    #[error(
        "PORT is not set. The Gumstack platform sets PORT for the servers it runs; to run this \
         server on your machine set ENVIRONMENT=local (PORT then defaults to 8000)."
    )]
    MissingPort,
    /// `PORT` is not a number from 1 to 65535: fix the variable.
    #[error("PORT={value:?} is not a valid TCP port: expected a number from 1 to 65535")]
    InvalidPort {
        /// The value found in `PORT`.
        value: String,
    },
    /// Production mode without a `GUMSTACK_*` variable it needs (`GUMSTACK_SERVER_ID`,
    /// `GUMSTACK_BACKEND_URL`): the platform sets them; on your machine use
    /// `ENVIRONMENT=local`.
    #[error(
        "{name} is not set. The Gumstack platform sets it for the servers it runs (it is needed \
         to verify the signed identity of every call); to run this server on your machine \
         without the platform, set ENVIRONMENT=local."
    )]
    MissingPlatformVariable {
        /// The name of the missing variable.
        name: &'static str,
    },
    /// `GUMSTACK_SERVER_ID` is not a lower-case hyphenated UUID: set it to the server's id as
    /// the platform writes it.
    #[error(
        "GUMSTACK_SERVER_ID={value:?} is not a UUID (expected the lower-case, hyphenated form \
         the platform sets)"
    )]
    InvalidServerId {
        /// The value found in `GUMSTACK_SERVER_ID`.
        value: String,
    },
    /// `GUMSTACK_BACKEND_URL` is not a URL the host may call the platform at: `reason` says
    /// why; set it to the platform's base URL.
    #[error("GUMSTACK_BACKEND_URL={value:?} cannot be used: {reason}")]
    InvalidBackendUrl {
        /// The value found in `GUMSTACK_BACKEND_URL`.
        value: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The HTTP client for the platform could not be built (TLS set-up, usually): an
    /// environment problem of the machine, not of the server's settings.
    #[error(
        "cannot build the HTTP client that calls the platform (signing keys, credentials): {0}"
    )]
    PlatformClient(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// [`GumstackHost::register_auth`](crate::GumstackHost::register_auth) was called twice
    /// with the same provider name: give each provider its own name.
    #[error(
        "two OAuth providers are registered with the name {name:?} (GumstackHost::register_auth): \
         each provider of a server needs its own name"
    )]
    DuplicateProvider {
        /// The name registered twice.
        name: String,
    },
    /// A provider was registered under a name that does not match `[a-z0-9][a-z0-9_-]*`:
    /// use the name config.yaml's `auth.provider` gives it.
    #[error(
        "the OAuth provider name {name:?} is not valid: like config.yaml's auth.provider, it must \
         match [a-z0-9][a-z0-9_-]*"
    )]
    InvalidProviderName {
        /// The rejected name.
        name: String,
    },
    /// The host could not listen on its address: the port is taken or not allowed; choose
    /// another `PORT` or stop what holds it.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address the host tried to listen on.
        addr: SocketAddr,
        /// What the operating system answered.
        source: std::io::Error,
    },
    /// The HTTP server stopped with an I/O error after it started.
    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(result: &CallToolResult) -> &str {
        &result.content[0].as_text().unwrap().text
    }

    #[test]
    fn needs_authorization_shows_the_link() {
        let result = GumstackError::NeedsAuthorization {
            url: "https://gumstack.example/connect/linear".to_owned(),
            message: "Linear is not connected.".to_owned(),
        }
        .into_tool_result();
        assert_eq!(result.is_error, Some(true));
        assert_eq!(
            text_of(&result),
            "Linear is not connected. Connect your account at https://gumstack.example/connect/linear"
        );
    }

    #[test]
    fn returning_the_error_from_a_tool_is_a_tool_error() {
        let error = GumstackError::RetryLater {
            message: "Linear is unavailable.".to_owned(),
        };
        let CallToolResponse::Complete(result) =
            Err::<String, _>(error).into_call_tool_result().unwrap()
        else {
            panic!("expected a complete result");
        };
        assert_eq!(result.is_error, Some(true));
        assert_eq!(
            text_of(&result),
            "Linear is unavailable. Please try again later."
        );
    }
}
