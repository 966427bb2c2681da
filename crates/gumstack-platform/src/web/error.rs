//! The pages' error: what a service's [`DomainError`] means to a person in a browser, always
//! shown as an HTML page (never JSON). Input errors go back into their form; the rest is a page
//! with the error's status. Internal errors show a generic message (the cause goes to the log).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::{DomainError, ErrorClass};

/// An error a page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageError {
    class: ErrorClass,
    /// The stable code (`invalid_config`, `slug_taken`, …): which form field it belongs to.
    code: &'static str,
    /// What the person reads (for internal errors: the cause, for the log only).
    message: String,
}

impl PageError {
    /// A value the person typed is invalid.
    pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::Invalid,
            code,
            message: message.into(),
        }
    }

    /// What the page asked for does not exist.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::NotFound,
            code: "not_found",
            message: message.into(),
        }
    }

    /// The stable code of the error.
    pub(crate) fn code(&self) -> &'static str {
        self.code
    }

    /// Whether the person can fix it in the form they sent (invalid values, a taken name).
    pub(crate) fn is_input_error(&self) -> bool {
        matches!(self.class, ErrorClass::Invalid | ErrorClass::Conflict)
    }

    /// Whether it failed inside the platform.
    pub(crate) fn is_internal(&self) -> bool {
        self.class == ErrorClass::Internal
    }

    /// The HTTP status of the page.
    pub(crate) fn status(&self) -> StatusCode {
        match self.class {
            ErrorClass::Invalid => StatusCode::BAD_REQUEST,
            ErrorClass::NotFound => StatusCode::NOT_FOUND,
            ErrorClass::Conflict => StatusCode::CONFLICT,
            ErrorClass::Forbidden => StatusCode::FORBIDDEN,
            ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message the person sees.
    pub(crate) fn public_message(&self) -> String {
        if self.is_internal() {
            "internal error; the platform log has the details".to_owned()
        } else {
            self.message.clone()
        }
    }

    /// The cause, for the log.
    pub(super) fn cause(&self) -> &str {
        &self.message
    }
}

impl<E: DomainError> From<E> for PageError {
    fn from(err: E) -> Self {
        Self {
            class: err.class(),
            code: err.code(),
            message: err.to_string(),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        super::pages::error_page(None, self)
    }
}
