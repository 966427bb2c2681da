//! Local accounts (SPEC §8): argon2id passwords, account creation, password resets and role
//! changes. Disabling and deleting accounts is [`crate::offboarding`]'s.

use std::sync::{Arc, OnceLock};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::crypto::{random_bytes, random_password};
use crate::error::{DomainError, ErrorClass, Internal};
use crate::store::{Constraint, Role, Store, StoreError, User, now};

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// A value of the request is invalid (`invalid_email`, `weak_password`).
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// No account has this email.
    #[error("no user with email {0}")]
    NoSuchEmail(String),
    /// No account has this id.
    #[error("no such user")]
    NotFound,
    /// An account with this email exists.
    #[error("a user with email {0} already exists")]
    EmailTaken(String),
    /// The change would leave no enabled admin.
    #[error("{0} is the only admin; make another account admin first")]
    LastAdmin(String),
    /// The account is disabled (said only after the right password).
    #[error("the account {0} is disabled; ask an admin to enable it again")]
    Disabled(String),
    /// An admin tried to disable or delete their own account.
    #[error("you cannot {0} your own account; another admin has to")]
    OwnAccount(&'static str),
    /// The store failed, or hashing a password did.
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl AccountError {
    fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
        }
    }
}

impl From<StoreError> for AccountError {
    fn from(err: StoreError) -> Self {
        Self::Internal(err.into())
    }
}

impl DomainError for AccountError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Invalid { .. } => ErrorClass::Invalid,
            Self::NoSuchEmail(_) | Self::NotFound => ErrorClass::NotFound,
            Self::EmailTaken(_) | Self::LastAdmin(_) | Self::OwnAccount(_) => ErrorClass::Conflict,
            Self::Disabled(_) => ErrorClass::Forbidden,
            Self::Internal(err) => err.class(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Invalid { code, .. } => code,
            Self::NoSuchEmail(_) | Self::NotFound => "not_found",
            Self::EmailTaken(_) => "email_taken",
            Self::LastAdmin(_) => "last_admin",
            Self::Disabled(_) => "account_disabled",
            Self::OwnAccount(_) => "own_account",
            Self::Internal(err) => err.code(),
        }
    }
}

/// Shortest password the platform accepts from a person.
pub(crate) const MIN_PASSWORD_LEN: usize = 12;

/// Hashes a password with argon2id (the crate's default parameters, OWASP's recommendation).
pub(crate) fn hash_password(password: &SecretString) -> String {
    let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("16 bytes is a valid salt");
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any password")
        .to_string()
}

/// Checks a password against a stored argon2 PHC string.
pub(crate) fn verify_password(password: &SecretString, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &hash)
            .is_ok()
    })
}

/// A hash to verify against when the email is unknown, so a login for a missing account costs
/// the same time as one with a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_password()))
}

/// Normalises and validates an email address (lower-cased, one `@`, no spaces).
pub(crate) fn normalize_email(email: &str) -> Result<String, AccountError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split('@').count() == 2
        && email.split('@').all(|part| !part.is_empty())
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(AccountError::invalid(
            "invalid_email",
            "email must look like name@example.com",
        ))
    }
}

fn check_password_strength(password: &SecretString) -> Result<(), AccountError> {
    if password.expose_secret().chars().count() < MIN_PASSWORD_LEN {
        return Err(AccountError::invalid(
            "weak_password",
            format!("password must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    Ok(())
}

/// Account operations shared by the API, the dashboard and the CLI.
#[derive(Debug, Clone)]
pub struct Accounts {
    store: Arc<dyn Store>,
}

/// A newly created account and its password when the platform generated it (shown once).
#[derive(Debug)]
pub struct NewAccount {
    pub user: User,
    pub generated_password: Option<SecretString>,
}

impl Accounts {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Creates an account in the default organisation and group. Without a password, one is
    /// generated and returned.
    pub async fn create(
        &self,
        email: &str,
        role: Role,
        password: Option<SecretString>,
    ) -> Result<NewAccount, AccountError> {
        let email = normalize_email(email)?;
        if let Some(password) = &password {
            check_password_strength(password)?;
        }
        let (generated_password, password) = match password {
            Some(p) => (None, p),
            None => {
                let p = random_password();
                (Some(p.clone()), p)
            }
        };
        let (org, group) = self.store.default_org().await?;
        let user = User {
            id: Uuid::new_v4(),
            org_id: org.id,
            group_id: group.id,
            email,
            password_hash: hash_password_blocking(password).await?,
            role,
            created_at: now(),
            disabled_at: None,
        };
        match self.store.insert_user(&user).await {
            Err(StoreError::Conflict(Constraint::UserEmail)) => {
                Err(AccountError::EmailTaken(user.email.clone()))
            }
            other => other.map_err(AccountError::from),
        }?;
        Ok(NewAccount {
            user,
            generated_password,
        })
    }

    /// Sets a new password (generated when `None`); ends the account's sessions and API tokens
    /// and revokes its MCP clients' grants.
    pub async fn reset_password(
        &self,
        email: &str,
        password: Option<SecretString>,
    ) -> Result<(User, Option<SecretString>), AccountError> {
        let email = normalize_email(email)?;
        let user = match self.store.user_by_email(&email).await {
            Err(StoreError::NotFound) => {
                return Err(AccountError::NoSuchEmail(email));
            }
            other => other?,
        };
        if let Some(password) = &password {
            check_password_strength(password)?;
        }
        let (generated, password) = match password {
            Some(p) => (None, p),
            None => {
                let p = random_password();
                (Some(p.clone()), p)
            }
        };
        let hash = hash_password_blocking(password).await?;
        self.store.set_password_hash(user.id, &hash).await?;
        Ok((user, generated))
    }

    /// Changes an account's role. The last enabled admin keeps the role: without one, nobody
    /// could manage accounts from the dashboard any more. A demotion ends the account's API
    /// tokens made under a higher role; the number ended comes back with the account.
    pub async fn set_role(&self, user_id: Uuid, role: Role) -> Result<(User, u64), AccountError> {
        let user = match self.store.user_by_id(user_id).await {
            Err(StoreError::NotFound) => {
                return Err(AccountError::NotFound);
            }
            other => other?,
        };
        match self.store.set_user_role(user.id, role).await {
            Ok(ended) => Ok((User { role, ..user }, ended)),
            Err(StoreError::Conflict(Constraint::LastAdmin)) => {
                Err(AccountError::LastAdmin(user.email))
            }
            Err(StoreError::NotFound) => Err(AccountError::NotFound),
            Err(other) => Err(other.into()),
        }
    }

    /// The account for a login, or `None` for an unknown email or a wrong password (the two are
    /// indistinguishable to the caller, and take the same time). A disabled account with the
    /// right password is [`AccountError::Disabled`]: only someone who knows the password learns
    /// it is disabled.
    pub async fn authenticate(
        &self,
        email: &str,
        password: SecretString,
    ) -> Result<Option<User>, AccountError> {
        let user = match normalize_email(email) {
            Ok(email) => match self.store.user_by_email(&email).await {
                Ok(user) => Some(user),
                Err(StoreError::NotFound) => None,
                Err(other) => return Err(other.into()),
            },
            Err(_) => None,
        };
        let phc = user
            .as_ref()
            .map_or_else(|| dummy_hash().to_owned(), |u| u.password_hash.clone());
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
            .await
            .map_err(Internal::other)?;
        match user.filter(|_| ok) {
            Some(user) if user.is_disabled() => Err(AccountError::Disabled(user.email)),
            other => Ok(other),
        }
    }
}

/// Argon2 takes tens of milliseconds of CPU: keep it off the async workers.
async fn hash_password_blocking(password: SecretString) -> Result<String, AccountError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| Internal::other(e).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[test]
    fn argon2id_hashes_verify_and_differ() {
        let password = SecretString::from("correct horse battery".to_owned());
        let a = hash_password(&password);
        let b = hash_password(&password);
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "salted");
        assert!(verify_password(&password, &a));
        assert!(!verify_password(
            &SecretString::from("wrong".to_owned()),
            &a
        ));
        assert!(!verify_password(&password, "not a phc string"));
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email(" Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "a b@example.com",
            "a@b@c",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn accounts_create_authenticate_and_reset() {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
        let accounts = Accounts::new(store.clone());
        let created = accounts
            .create("Ada@example.com", Role::Admin, None)
            .await
            .unwrap();
        let password = created.generated_password.unwrap();
        assert_eq!(created.user.email, "ada@example.com");

        let ok = accounts
            .authenticate("ada@example.com", password.clone())
            .await
            .unwrap();
        assert_eq!(ok.unwrap().id, created.user.id);
        let wrong = SecretString::from("not the password".to_owned());
        assert!(
            accounts
                .authenticate("ada@example.com", wrong)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            accounts
                .authenticate("nobody@example.com", password.clone())
                .await
                .unwrap()
                .is_none()
        );

        let dup = accounts
            .create("ADA@example.com", Role::Member, None)
            .await
            .unwrap_err();
        assert_eq!(dup.code(), "email_taken");
        let weak = accounts
            .create(
                "bob@example.com",
                Role::Member,
                Some(SecretString::from("short".to_owned())),
            )
            .await
            .unwrap_err();
        assert_eq!(weak.code(), "weak_password");
        assert_eq!(
            store.count_users().await.unwrap(),
            1,
            "failed creations changed nothing"
        );

        let (_, new_password) = accounts
            .reset_password("ada@example.com", None)
            .await
            .unwrap();
        let new_password = new_password.unwrap();
        assert!(
            accounts
                .authenticate("ada@example.com", password)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            accounts
                .authenticate("ada@example.com", new_password)
                .await
                .unwrap()
                .is_some()
        );
    }
}
