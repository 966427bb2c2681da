//! OAuth errors as RFC 6749 §5.2 shapes them: `{"error", "error_description"}`, the code one
//! of `ErrorCode`, so a misspelt code can't reach a client.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The `error` codes the token, revocation and registration endpoints answer with (RFC 6749
/// §5.2, RFC 7591 §3.2.2, RFC 8707 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    /// The request is malformed: fix it.
    InvalidRequest,
    /// The client is unknown or failed to authenticate.
    InvalidClient,
    /// The code or refresh token is unknown, expired, used, or not the client's.
    InvalidGrant,
    /// The client did not register this grant type.
    UnauthorizedClient,
    /// The grant type is not supported here.
    UnsupportedGrantType,
    /// The `resource` is not the one the user authorized.
    InvalidTarget,
    /// Registration: a redirect URI is not acceptable.
    InvalidRedirectUri,
    /// Registration: other client metadata is not acceptable.
    InvalidClientMetadata,
    /// Too many requests: wait before trying again.
    SlowDown,
    /// The platform failed; the cause is in its log.
    ServerError,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::SlowDown => "slow_down",
            Self::ServerError => "server_error",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Self::InvalidClient => StatusCode::UNAUTHORIZED,
            Self::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::SlowDown => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// An error of the token, revocation or registration endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub(crate) code: ErrorCode,
    pub(crate) description: String,
}

impl OAuthError {
    pub(crate) fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    pub(crate) fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }

    pub(crate) fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }

    pub(crate) fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(err: crate::store::StoreError) -> Self {
        tracing::error!(error = %err, "oauth store failure");
        Self::new(
            ErrorCode::ServerError,
            "internal error; the platform log has the details",
        )
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        let mut response = (
            status,
            Json(serde_json::json!({
                "error": self.code.as_str(),
                "error_description": self.description,
            })),
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"gumstack\""),
            );
        }
        response
    }
}
