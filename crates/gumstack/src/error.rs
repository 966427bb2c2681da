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
    NeedsAuthorization { url: String, message: String },
    /// A transient failure (the platform or a provider is unavailable); the same call may
    /// succeed later.
    #[error("{message} Please try again later.")]
    RetryLater { message: String },
    /// The server is set up wrongly (a missing environment variable, the wrong credential
    /// function for its auth type, …). The developer must fix its configuration.
    #[error("server misconfigured: {message}")]
    Misconfigured { message: String },
    /// There is no authenticated call to act for: the code ran outside a request handled by
    /// [`GumstackHost`](crate::GumstackHost), or the request carries no verified identity.
    #[error("{message}")]
    NoAuthContext { message: String },
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
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    #[error(
        "ENVIRONMENT is not set. To run this server on your machine without the Gumstack \
         platform, set ENVIRONMENT=local (unauthenticated, loopback only, credentials from \
         LOCAL_<NAME> variables). The platform sets ENVIRONMENT=production itself."
    )]
    EnvironmentNotSet,
    #[error(
        "ENVIRONMENT={value:?} is not recognised. Set ENVIRONMENT=local for local development; \
         the platform sets ENVIRONMENT=production itself."
    )]
    UnknownEnvironment { value: String },
    #[error(
        "PORT is not set. The Gumstack platform sets PORT for the servers it runs; to run this \
         server on your machine set ENVIRONMENT=local (PORT then defaults to 8000)."
    )]
    MissingPort,
    #[error("PORT={value:?} is not a valid TCP port: expected a number from 1 to 65535")]
    InvalidPort { value: String },
    #[error(
        "{name} is not set. The Gumstack platform sets it for the servers it runs (it is needed \
         to verify the signed identity of every call); to run this server on your machine \
         without the platform, set ENVIRONMENT=local."
    )]
    MissingPlatformVariable { name: &'static str },
    #[error(
        "GUMSTACK_SERVER_ID={value:?} is not a UUID (expected the lower-case, hyphenated form \
         the platform sets)"
    )]
    InvalidServerId { value: String },
    #[error("GUMSTACK_BACKEND_URL={value:?} cannot be used: {reason}")]
    InvalidBackendUrl { value: String, reason: String },
    #[error(
        "cannot build the HTTP client that calls the platform (signing keys, credentials): {0}"
    )]
    PlatformClient(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error(
        "two OAuth providers are registered with the name {name:?} (GumstackHost::register_auth): \
         each provider of a server needs its own name"
    )]
    DuplicateProvider { name: String },
    #[error(
        "the OAuth provider name {name:?} is not valid: like config.yaml's auth.provider, it must \
         match [a-z0-9][a-z0-9_-]*"
    )]
    InvalidProviderName { name: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
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
