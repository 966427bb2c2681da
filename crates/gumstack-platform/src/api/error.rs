//! The error of the JSON API: `{"error": {"code", "message"}}` with the right HTTP status,
//! converted from every service's [`DomainError`] in one place. Input errors say exactly what is
//! wrong; internal errors give the client a generic message and the log the cause.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::{DomainError, ErrorClass};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or a value is invalid; `code` is a stable machine-readable name.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error(
        "authentication required: send `Authorization: Bearer <API token>` (an unexpired token of an enabled account)"
    )]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("too many attempts; try again in {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64 },
    /// Something failed inside the platform. The client sees a generic message.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid { .. } => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { code, .. } | Self::Conflict { code, .. } => code,
            Self::NotFound(_) => "not_found",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::RateLimited { .. } => "rate_limited",
            Self::Internal(_) => "internal",
        }
    }

    /// The message the client sees.
    pub fn public_message(&self) -> String {
        match self {
            Self::Internal(_) => "internal error; the platform log has the details".to_owned(),
            other => other.to_string(),
        }
    }
}

impl<E: DomainError> From<E> for ApiError {
    fn from(err: E) -> Self {
        let message = err.to_string();
        match err.class() {
            ErrorClass::Invalid => Self::Invalid {
                code: err.code(),
                message,
            },
            ErrorClass::NotFound => Self::NotFound(message),
            ErrorClass::Conflict => Self::Conflict {
                code: err.code(),
                message,
            },
            ErrorClass::Forbidden => Self::Forbidden(message),
            ErrorClass::Internal => Self::Internal(message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let body = serde_json::json!({
            "error": { "code": self.code(), "message": self.public_message() }
        });
        let mut response = (self.status(), Json(body)).into_response();
        if let Self::RateLimited { retry_after_secs } = self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after_secs),
            );
        }
        response
    }
}
