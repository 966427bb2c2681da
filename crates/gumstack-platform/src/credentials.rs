//! Credentials of `cred` servers (SPEC §4): the values each user types into the form rendered
//! from config.yaml, validated, sealed per (user, server) and write-only for secrets.

use std::collections::BTreeMap;
use std::sync::Arc;

use gumstack_config::CredentialField;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::error::Internal;
use crate::store::{SealedCredentials, Server, Store, StoreError, now};
use crate::vault::{Aad, Vault};

/// Longest value a credential field accepts.
pub(crate) const MAX_VALUE_LEN: usize = 8 * 1024;

/// The vault binding of a user's credentials for a server.
pub(crate) fn credentials_aad(user_id: Uuid, server_id: Uuid, row_id: Uuid) -> Aad {
    Aad::new("credentials", "values", &[user_id, server_id, row_id])
}

/// A secret's hint: its last two characters, and only when it is long enough that two
/// characters give little away.
fn secret_hint(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() >= 8 {
        let tail: String = chars[chars.len() - 2..].iter().collect();
        format!("set · ends in ••{tail}")
    } else {
        "set".to_owned()
    }
}

/// What is kept in the clear about a saved field, so that its hint follows the server's
/// current config.yaml whatever it declared when the value was saved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct SavedHint {
    /// The hint of the value as a secret.
    secret: String,
    /// The value itself, only when the field was not secret when it was saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plain: Option<String>,
}

impl SavedHint {
    fn of(field: &CredentialField, value: &str) -> Self {
        Self {
            secret: secret_hint(value),
            plain: (!field.secret).then(|| value.to_owned()),
        }
    }

    /// The hint under the field's current declaration: a secret shows at most its last two
    /// characters; a plain field shows its value only if it was plain when saved (a value
    /// saved as a secret stays hidden until it is saved again).
    fn shown(&self, field: &CredentialField) -> String {
        match (&self.plain, field.secret) {
            (Some(value), false) => value.clone(),
            _ => self.secret.clone(),
        }
    }
}

/// A stored hint: today's shape, or the hint string rows saved before it (the hint as the
/// config of that time computed it: a secret's hint, or a plain value).
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum StoredHint {
    Saved(SavedHint),
    Legacy(String),
}

impl StoredHint {
    fn into_saved(self) -> SavedHint {
        match self {
            Self::Saved(saved) => saved,
            Self::Legacy(text) if text == "set" || text.starts_with("set · ends in ••") => {
                SavedHint {
                    secret: text,
                    plain: None,
                }
            }
            Self::Legacy(value) => SavedHint {
                secret: secret_hint(&value),
                plain: Some(value),
            },
        }
    }
}

/// Problems with submitted values, by field name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub BTreeMap<String, String>);

/// Why saving failed.
#[derive(Debug)]
pub enum SaveError {
    /// Values that are not acceptable, by field.
    Invalid(FieldErrors),
    /// The store or the vault failed.
    Internal(Internal),
}

impl<E: Into<Internal>> From<E> for SaveError {
    fn from(e: E) -> Self {
        Self::Internal(e.into())
    }
}

/// The fields of a server's form, from its config.yaml.
pub(crate) fn fields(server: &Server) -> Result<Vec<CredentialField>, Internal> {
    Ok(crate::servers::stored_config(server)?.auth.credentials)
}

/// Users' credentials, shared by the pages and the internal credential route.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    store: Arc<dyn Store>,
    vault: Arc<Vault>,
}

impl UserCredentials {
    pub fn new(store: Arc<dyn Store>, vault: Arc<Vault>) -> Self {
        Self { store, vault }
    }

    /// The saved values, decrypted; `None` when the user saved none.
    pub async fn values(
        &self,
        user_id: Uuid,
        server: &Server,
    ) -> Result<Option<BTreeMap<String, SecretString>>, Internal> {
        let sealed = match self.store.credentials(user_id, server.id).await {
            Ok(sealed) => sealed,
            Err(StoreError::NotFound) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        let plain = self.vault.decrypt(
            &sealed.ciphertext,
            &credentials_aad(user_id, server.id, sealed.id),
        )?;
        let map: BTreeMap<String, String> = serde_json::from_slice(&plain)
            .map_err(|e| Internal::other(format!("sealed credentials are not JSON: {e}")))?;
        Ok(Some(
            map.into_iter()
                .map(|(k, v)| (k, SecretString::from(v)))
                .collect(),
        ))
    }

    /// What the form may show for each saved field that the server's config.yaml declares
    /// now, computed under its current declaration (see [`SavedHint::shown`]).
    pub async fn hints(
        &self,
        user_id: Uuid,
        server: &Server,
    ) -> Result<BTreeMap<String, String>, Internal> {
        let stored: BTreeMap<String, StoredHint> =
            match self.store.credentials(user_id, server.id).await {
                Ok(sealed) => serde_json::from_str(&sealed.hints_json)
                    .map_err(|e| Internal::other(format!("credential hints: {e}")))?,
                Err(StoreError::NotFound) => return Ok(BTreeMap::new()),
                Err(other) => return Err(other.into()),
            };
        let mut stored = stored;
        Ok(fields(server)?
            .iter()
            .filter_map(|field| {
                let saved = stored.remove(&field.name)?.into_saved();
                Some((field.name.clone(), saved.shown(field)))
            })
            .collect())
    }

    /// The required fields without a value.
    pub fn missing_required(
        fields: &[CredentialField],
        values: &BTreeMap<String, SecretString>,
    ) -> Vec<String> {
        fields
            .iter()
            .filter(|f| {
                f.required
                    && values
                        .get(&f.name)
                        .is_none_or(|v| v.expose_secret().is_empty())
            })
            .map(|f| f.label.clone())
            .collect()
    }

    /// Saves a form submission. A secret field left empty keeps its saved value; any other
    /// empty field is cleared. Nothing is written when a value is invalid.
    pub async fn save(
        &self,
        user_id: Uuid,
        server: &Server,
        submitted: &BTreeMap<String, String>,
    ) -> Result<(), SaveError> {
        let fields = fields(server)?;
        let existing = self.values(user_id, server).await?.unwrap_or_default();
        let mut errors = FieldErrors::default();
        let mut values: BTreeMap<String, String> = BTreeMap::new();
        for field in &fields {
            let typed = submitted.get(&field.name).map(|v| v.trim()).unwrap_or("");
            let value = if typed.is_empty() && field.secret {
                existing
                    .get(&field.name)
                    .map(|v| v.expose_secret().to_owned())
                    .unwrap_or_default()
            } else {
                typed.to_owned()
            };
            if value.len() > MAX_VALUE_LEN {
                errors.0.insert(
                    field.name.clone(),
                    format!(
                        "{} is too long (at most {MAX_VALUE_LEN} bytes)",
                        field.label
                    ),
                );
            } else if value.chars().any(char::is_control) {
                errors.0.insert(
                    field.name.clone(),
                    format!("{} must be a single line of text", field.label),
                );
            } else if value.is_empty() && field.required {
                errors
                    .0
                    .insert(field.name.clone(), format!("{} is required", field.label));
            }
            if !value.is_empty() {
                values.insert(field.name.clone(), value);
            }
        }
        if !errors.0.is_empty() {
            return Err(SaveError::Invalid(errors));
        }
        let hints: BTreeMap<&str, SavedHint> = fields
            .iter()
            .filter_map(|f| {
                values
                    .get(&f.name)
                    .map(|v| (f.name.as_str(), SavedHint::of(f, v)))
            })
            .collect();
        let id = Uuid::new_v4();
        let plain =
            zeroize::Zeroizing::new(serde_json::to_vec(&values).expect("strings serialise"));
        let t = now();
        self.store
            .upsert_credentials(&SealedCredentials {
                id,
                user_id,
                server_id: server.id,
                ciphertext: self
                    .vault
                    .encrypt(&plain, &credentials_aad(user_id, server.id, id)),
                hints_json: serde_json::to_string(&hints).expect("strings serialise"),
                created_at: t,
                updated_at: t,
            })
            .await?;
        Ok(())
    }

    pub async fn delete(&self, user_id: Uuid, server_id: Uuid) -> Result<bool, Internal> {
        match self.store.delete_credentials(user_id, server_id).await {
            Ok(()) => Ok(true),
            Err(StoreError::NotFound) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(secret: bool) -> CredentialField {
        CredentialField {
            name: "k".into(),
            label: "K".into(),
            description: None,
            placeholder: None,
            secret,
            required: true,
        }
    }

    #[test]
    fn hints_show_at_most_two_characters_of_secrets() {
        let shown = |secret_at_save: bool, secret_now: bool, value: &str| {
            SavedHint::of(&field(secret_at_save), value).shown(&field(secret_now))
        };
        assert_eq!(shown(true, true, "sk-abcdef1234"), "set · ends in ••34");
        assert_eq!(shown(true, true, "short"), "set");
        assert_eq!(shown(false, false, "eu-west"), "eu-west");
        assert_eq!(shown(false, true, "eu-west-central"), "set · ends in ••al");
        assert_eq!(shown(true, false, "sk-abcdef1234"), "set · ends in ••34");
    }
}
