//! What each answer of the platform's credentials routes means for the tool, as a
//! [`GumstackError`] (the table of [`platform_api`](super)), and what of it is logged.

use std::collections::BTreeMap;

use gumstack_protocol::credentials::{CredentialsReply, ErrorBody, ErrorCode, ErrorDetail};
use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};

use super::{MAX_MESSAGE_CHARS, UNREADABLE};
use crate::error::GumstackError;

/// The platform's error answers: `{"error": {"code": …, "message": …, "connect_url": …}}`.
type PlatformError = ErrorDetail;

/// What the platform's answer to a fetch means for the tool.
/// What a credentials fetch got.
#[derive(Debug)]
pub(crate) struct Fetched {
    /// Name → value, values that are set only.
    pub(crate) values: BTreeMap<String, SecretString>,
    /// `oauth`: the nickname of the account the token is of.
    pub(crate) account: Option<String>,
}

pub(super) fn credentials_answer(
    status: StatusCode,
    body: &[u8],
) -> Result<Fetched, GumstackError> {
    if status == StatusCode::OK {
        let body: CredentialsReply = serde_json::from_slice(body).map_err(|error| {
            // The body may hold credentials: log where it failed, not what it says.
            tracing::warn!(
                line = error.line(),
                column = error.column(),
                "the platform's credentials answer is not {{\"credentials\": {{name: string}}}}"
            );
            retry_later(UNREADABLE)
        })?;
        let values = body
            .credentials
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?)))
            .filter(|(_, value)| !value.expose_secret().is_empty())
            .collect();
        return Ok(Fetched {
            values,
            account: body.account,
        });
    }
    Err(error_answer(status, body))
}

/// Why a call of the platform itself (tool discovery at deployment) gets no credentials.
pub(crate) const NO_USER: &str = "no user credentials: this call comes from the Gumstack \
     platform itself (it lists the server's tools when it deploys it), not from a user. \
     Answer tools/list without fetching credentials";

/// What an error answer of the platform means for the tool.
pub(super) fn error_answer(status: StatusCode, body: &[u8]) -> GumstackError {
    let error = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|body| body.error);
    log_refusal(status, error.as_ref());
    let code = error.as_ref().map(|error| error.code);
    match status {
        StatusCode::CONFLICT => match error {
            Some(error) if error.code == ErrorCode::CredentialsRequired => {
                needs_authorization(error)
            }
            _ => retry_later(UNREADABLE),
        },
        StatusCode::BAD_REQUEST if code == Some(ErrorCode::NotSupported) => {
            GumstackError::misconfigured(
                "the platform keeps no per-user credentials for this server: its auth type on the \
             platform is not `cred` or `oauth`. Make config.yaml's auth type match the server \
             registered on the platform",
            )
        }
        StatusCode::BAD_REQUEST => GumstackError::misconfigured(format!(
            "the platform refused the credentials request as invalid ({}); is the provider \
             declared for this server on the platform?",
            describe_code(code)
        )),
        StatusCode::FORBIDDEN if code == Some(ErrorCode::NoUser) => {
            GumstackError::no_auth_context(NO_USER)
        }
        StatusCode::UNAUTHORIZED if code == Some(ErrorCode::InvalidIdentity) => {
            GumstackError::misconfigured(
                "the platform refused the identity of this call (Gumstack-Identity) when \
                 fetching the user's credentials: it is accepted only for this server, while \
                 its call is in flight (fetch while serving the call, not after answering it), \
                 and not once the user revoked the MCP client or was disabled",
            )
        }
        StatusCode::UNAUTHORIZED => GumstackError::misconfigured(format!(
            "the platform refused this server's token (GUMSTACK_SERVER_TOKEN) when fetching the \
             user's credentials ({}): it is valid only for a running deployment of this server; \
             redeploy it",
            describe_code(code)
        )),
        StatusCode::NOT_FOUND => GumstackError::misconfigured(
            "the platform at GUMSTACK_BACKEND_URL does not serve /internal/v1/credentials (is it \
             an older version of Gumstack?)",
        ),
        StatusCode::BAD_GATEWAY if code == Some(ErrorCode::IntegrationError) => {
            integration_error(error.map(|error| error.message))
        }
        StatusCode::SERVICE_UNAVAILABLE => retry_later(
            "The Gumstack platform cannot provide your credentials for this server right now.",
        ),
        status if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS => {
            retry_later("The Gumstack platform failed to provide your credentials for this server.")
        }
        _ => retry_later(UNREADABLE),
    }
}

/// 502 `integration_error`: the provider refused the server's own client; the platform's
/// message, written for the developer, says what to fix.
fn integration_error(message: Option<String>) -> GumstackError {
    let message: String = message
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_MESSAGE_CHARS)
        .collect();
    let message = message.trim();
    GumstackError::misconfigured(if message.is_empty() {
        "the OAuth provider refused this server's client (an integration error the developer \
         must fix)"
    } else {
        message
    })
}

/// Logs why the platform handed out no credentials (never the body beyond its error fields).
fn log_refusal(status: StatusCode, error: Option<&PlatformError>) {
    match error {
        // The expected answer until the user enters their credentials: not a fault.
        Some(error) if status == StatusCode::CONFLICT => tracing::info!(
            %status,
            code = ?error.code,
            "the user has no usable credentials for this server yet"
        ),
        Some(error) => tracing::warn!(
            %status,
            code = ?error.code,
            message = %error.message,
            "the platform did not hand out the user's credentials"
        ),
        None => tracing::warn!(
            %status,
            "the platform did not hand out the user's credentials (no error body)"
        ),
    }
}

pub(super) fn retry_later(message: &str) -> GumstackError {
    GumstackError::RetryLater {
        message: message.to_owned(),
    }
}

/// The platform's error code for an error message: a code of the protocol, else a
/// placeholder (the message is shown to users; it repeats nothing else of the answer).
fn describe_code(code: Option<ErrorCode>) -> String {
    match code.map(serde_json::to_value) {
        Some(Ok(serde_json::Value::String(name))) if code != Some(ErrorCode::Unknown) => {
            format!("error `{name}`")
        }
        _ => "no error code".to_owned(),
    }
}

/// 409 `credentials_required`: the user must go to the connect URL, which must be one a user
/// can follow (an absolute http(s) URL); without one the answer is unusable.
fn needs_authorization(error: PlatformError) -> GumstackError {
    let followable = |value: &str| {
        Url::parse(value)
            .is_ok_and(|url| matches!(url.scheme(), "https" | "http") && url.host().is_some())
    };
    match error.connect_url {
        Some(url) if followable(&url) => GumstackError::NeedsAuthorization {
            url,
            message: if error.message.trim().is_empty() {
                "Your credentials for this server are needed first.".to_owned()
            } else {
                error.message
            },
        },
        _ => retry_later(UNREADABLE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_error_codes_are_repeated() {
        assert_eq!(
            describe_code(Some(ErrorCode::InvalidServerToken)),
            "error `invalid_server_token`"
        );
        assert_eq!(describe_code(None), "no error code");
        for odd in ["", "Bearer gst_1", "<script>"] {
            let code: ErrorCode = serde_json::from_value(serde_json::json!(odd)).unwrap();
            assert_eq!(describe_code(Some(code)), "no error code", "{odd:?}");
        }
    }
}
