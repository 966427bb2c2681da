//! Several accounts of one provider (SPEC §3): a user may connect more than one account of a
//! provider to a server; each is told apart by its nickname, may carry a label of the user's
//! own, and one is the default a tool gets unless it names another.

use uuid::Uuid;

use super::Connections;
use crate::error::Internal;
use crate::store::{Connection, Constraint, StoreError};

/// The longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 64;

/// Why an account could not be renamed.
#[derive(Debug, thiserror::Error)]
pub enum RenameError {
    #[error("you have no such account")]
    NotFound,
    #[error("another of your accounts of this provider is already called {0}")]
    Taken(String),
    #[error("a label has at most {MAX_LABEL_CHARS} characters and no control characters")]
    Invalid,
    #[error(transparent)]
    Internal(#[from] Internal),
}

/// The label to store for what the user typed: trimmed; empty removes the label.
fn label_of(typed: &str) -> Result<Option<&str>, RenameError> {
    let label = typed.trim();
    if label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
        return Err(RenameError::Invalid);
    }
    Ok((!label.is_empty()).then_some(label))
}

impl Connections {
    /// The user's connection `id` to `server_id`, if it is theirs.
    pub(super) async fn owned(
        &self,
        user_id: Uuid,
        server_id: Uuid,
        id: Uuid,
    ) -> Result<Option<Connection>, Internal> {
        Ok(self
            .inner
            .store
            .user_connections(user_id)
            .await?
            .into_iter()
            .find(|c| c.id == id && c.server_id == server_id))
    }

    /// The user's accounts at `provider` of `server_id`, the default first.
    pub(super) async fn accounts(
        &self,
        user_id: Uuid,
        server_id: Uuid,
        provider: &str,
    ) -> Result<Vec<Connection>, Internal> {
        Ok(self
            .inner
            .store
            .user_connections(user_id)
            .await?
            .into_iter()
            .filter(|c| c.server_id == server_id && c.provider == provider)
            .collect())
    }

    /// Makes the user's connection `id` to `server_id` the default of its provider. False
    /// when the user has no such connection.
    pub async fn set_default(
        &self,
        user_id: Uuid,
        server_id: Uuid,
        id: Uuid,
    ) -> Result<bool, Internal> {
        if self.owned(user_id, server_id, id).await?.is_none() {
            return Ok(false);
        }
        match self.inner.store.set_default_connection(user_id, id).await {
            Ok(()) => {
                tracing::info!(connection = %id, user = %user_id, "default account changed");
                Ok(true)
            }
            // Disconnected meanwhile.
            Err(StoreError::NotFound) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives the user's connection `id` to `server_id` the label `typed` (trimmed; empty
    /// removes it).
    pub async fn rename(
        &self,
        user_id: Uuid,
        server_id: Uuid,
        id: Uuid,
        typed: &str,
    ) -> Result<(), RenameError> {
        let label = label_of(typed)?;
        if self.owned(user_id, server_id, id).await?.is_none() {
            return Err(RenameError::NotFound);
        }
        match self.inner.store.label_connection(user_id, id, label).await {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => Err(RenameError::NotFound),
            Err(StoreError::Conflict(Constraint::AccountName)) => {
                Err(RenameError::Taken(label.unwrap_or_default().to_owned()))
            }
            Err(e) => Err(Internal::from(e).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_trimmed_and_empty_removes_them() {
        assert_eq!(label_of("  Work  ").unwrap(), Some("Work"));
        assert_eq!(label_of("   ").unwrap(), None);
        assert_eq!(label_of("").unwrap(), None);
    }

    #[test]
    fn long_labels_and_control_characters_are_refused() {
        assert!(matches!(
            label_of(&"x".repeat(65)),
            Err(RenameError::Invalid)
        ));
        assert_eq!(label_of(&"é".repeat(64)).unwrap().map(str::len), Some(128));
        assert!(matches!(label_of("a\nb"), Err(RenameError::Invalid)));
    }
}
