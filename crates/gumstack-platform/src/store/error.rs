//! What a store operation can fail with, by kind. The driver's error is classified here, once:
//! no caller parses driver text, and no client ever sees it.

use sqlx::error::ErrorKind;

/// What a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No row matched.
    #[error("not found")]
    NotFound,
    /// A write was refused by a constraint; the value names which one.
    #[error("{0}")]
    Conflict(Constraint),
    /// The auth type of a server cannot change (enforced by the database as well).
    #[error("{}", super::AUTH_TYPE_IMMUTABLE)]
    AuthTypeImmutable,
    /// The database failed (connection, I/O, a bug in a statement). Never shown to clients.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The embedded migrations could not be applied.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value does not read back as its type (a hand-edited or damaged row).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// The rule a refused write broke: a unique key of the schema, or a rule the store checks in
/// the same statement as the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Constraint {
    /// `users.email`: an account with this email exists.
    #[error("an account with this email exists")]
    UserEmail,
    /// `servers.slug`: a server with this slug exists.
    #[error("a server with this slug exists")]
    ServerSlug,
    /// `env_vars (server_id, name)`.
    #[error("this server has an env var of this name")]
    EnvVarName,
    /// Any other unique key (an id or a hash that should never repeat).
    #[error("a row with this key exists")]
    OtherUnique,
    /// The change would leave the organisation without an admin.
    #[error("the last admin keeps the admin role")]
    LastAdmin,
    /// `groups (org_id, name)`: the organisation has a group of this name.
    #[error("a group with this name exists")]
    GroupName,
    /// The default group cannot be deleted.
    #[error("the default group cannot be deleted")]
    DefaultGroup,
    /// A user has as many connect flows in progress as allowed.
    #[error("too many connect flows in progress")]
    FlowLimit,
    /// Another account of the same provider already goes by this name (nickname or label).
    #[error("another account of this provider has this name")]
    AccountName,
}

impl Constraint {
    /// The constraint a unique violation names. PostgreSQL gives the constraint's name; SQLite
    /// only a message `UNIQUE constraint failed: table.column[, table.column]`.
    fn of_unique_violation(db: &dyn sqlx::error::DatabaseError) -> Self {
        let name = db.constraint().unwrap_or_else(|| {
            db.message()
                .strip_prefix("UNIQUE constraint failed: ")
                .unwrap_or_default()
        });
        match name {
            "users.email" | "users_email_key" => Self::UserEmail,
            "servers.slug" | "servers_slug_key" => Self::ServerSlug,
            "env_vars.server_id, env_vars.name" | "env_vars_server_id_name_key" => Self::EnvVarName,
            "groups.org_id, groups.name" | "groups_org_id_name_key" => Self::GroupName,
            _ => Self::OtherUnique,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::ColumnDecode { index, source } => {
                Self::Corrupt(format!("column {index}: {source}"))
            }
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation => {
                    Self::Conflict(Constraint::of_unique_violation(&**db))
                }
                // Our own trigger's message: the only way SQLite lets a trigger name its reason.
                _ if db.message().contains("auth_type_immutable") => Self::AuthTypeImmutable,
                _ => Self::Database(err),
            },
            _ => Self::Database(err),
        }
    }
}
