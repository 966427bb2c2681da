//! The vocabulary the services' own errors share, with no HTTP in it: each domain error says
//! what kind of failure it is ([`ErrorClass`]) and its stable machine-readable code, and each
//! surface (JSON API, pages, OAuth endpoints, internal routes) turns that into its own answer
//! in one place.

use crate::store::{Constraint, StoreError};
use crate::vault::VaultError;

/// What kind of failure an error is: the caller fixes the request, looks elsewhere, resolves a
/// conflict, lacks the right, or waits while the operator reads the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request is malformed or a value is invalid; the message says exactly what.
    Invalid,
    /// What the request names does not exist.
    NotFound,
    /// The request contradicts what is stored (a taken name, the last admin, …).
    Conflict,
    /// The caller may not do this.
    Forbidden,
    /// Something failed inside the platform: the client gets a generic message, the log the
    /// cause.
    Internal,
}

/// An error a service returns: its class and code; its `Display` is the message a client may
/// see unless the class is [`ErrorClass::Internal`].
pub trait DomainError: std::error::Error {
    /// What kind of failure this is.
    fn class(&self) -> ErrorClass;
    /// A stable machine-readable name (`slug_taken`, `last_admin`, …).
    fn code(&self) -> &'static str;
}

impl DomainError for StoreError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::NotFound => ErrorClass::NotFound,
            Self::Conflict(_) | Self::AuthTypeImmutable => ErrorClass::Conflict,
            Self::Database(_) | Self::Migrate(_) | Self::Corrupt(_) => ErrorClass::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Conflict(constraint) => constraint.code(),
            Self::AuthTypeImmutable => "auth_type_immutable",
            Self::Database(_) | Self::Migrate(_) | Self::Corrupt(_) => "internal",
        }
    }
}

impl Constraint {
    /// The code a client sees for a write this constraint refused.
    pub fn code(self) -> &'static str {
        match self {
            Self::UserEmail => "email_taken",
            Self::ServerSlug => "slug_taken",
            Self::EnvVarName | Self::OtherUnique => "conflict",
            Self::LastAdmin => "last_admin",
            Self::FlowLimit => "too_many_flows",
            Self::GroupName => "group_name_taken",
            Self::DefaultGroup => "default_group",
            Self::AccountName => "account_name_taken",
        }
    }
}

impl DomainError for VaultError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Internal
    }

    fn code(&self) -> &'static str {
        "internal"
    }
}

/// A failure inside the platform that no caller can fix: a store or vault failure, a task that
/// panicked, stored data that does not read back. Shown to clients as a generic message.
#[derive(Debug, thiserror::Error)]
pub enum Internal {
    /// The store failed; its own class is kept (a row that vanished is still "not found").
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A sealed value could not be sealed or opened.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// Anything else, with its cause for the log.
    #[error("{0}")]
    Other(String),
}

impl Internal {
    /// An internal failure with its cause.
    pub fn other(cause: impl std::fmt::Display) -> Self {
        Self::Other(cause.to_string())
    }
}

impl DomainError for Internal {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Store(err) => err.class(),
            Self::Vault(_) | Self::Other(_) => ErrorClass::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Store(err) => err.code(),
            Self::Vault(_) | Self::Other(_) => "internal",
        }
    }
}
