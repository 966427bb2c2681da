//! What the SQLite files share: reading ids (UUID text) and the user columns several queries
//! join.

use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use crate::store::{StoreError, User};

/// A UUID stored as text.
pub(super) fn uuid_col(row: &SqliteRow, col: &str) -> Result<Uuid, StoreError> {
    let text: String = row.try_get(col)?;
    Uuid::parse_str(&text).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

/// A nullable UUID stored as text.
pub(super) fn opt_uuid_col(row: &SqliteRow, col: &str) -> Result<Option<Uuid>, StoreError> {
    let text: Option<String> = row.try_get(col)?;
    text.map(|t| Uuid::parse_str(&t).map_err(|e| StoreError::Corrupt(format!("{col}: {e}"))))
        .transpose()
}

/// The columns [`user_from_row`] reads, from a `users u`.
pub(super) const USER_COLUMNS: &str =
    "u.id, u.org_id, u.group_id, u.email, u.password_hash, u.role, u.created_at, u.disabled_at";

/// A user from [`USER_COLUMNS`].
pub(super) fn user_from_row(row: &SqliteRow) -> Result<User, StoreError> {
    Ok(User {
        id: uuid_col(row, "id")?,
        org_id: uuid_col(row, "org_id")?,
        group_id: uuid_col(row, "group_id")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        role: row.try_get("role")?,
        created_at: row.try_get("created_at")?,
        disabled_at: row.try_get("disabled_at")?,
    })
}
