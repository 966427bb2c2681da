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
pub const MAX_VALUE_LEN: usize = 8 * 1024;

/// The vault binding of a user's credentials for a server.
pub fn credentials_aad(user_id: Uuid, server_id: Uuid, row_id: Uuid) -> Aad {
    Aad::new("credentials", "values", &[user_id, server_id, row_id])
}

/// What a form may show for a saved field: a secret's last two characters at most.
pub fn hint(field: &CredentialField, value: &str) -> String {
    if !field.secret {
        return value.to_owned();
    }
    let chars: Vec<char> = value.chars().collect();
    if chars.len() >= 8 {
        let tail: String = chars[chars.len() - 2..].iter().collect();
        format!("set · ends in ••{tail}")
    } else {
        "set".to_owned()
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
pub fn fields(server: &Server) -> Result<Vec<CredentialField>, Internal> {
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

    /// What the form may show for each saved field.
    pub async fn hints(
        &self,
        user_id: Uuid,
        server_id: Uuid,
    ) -> Result<BTreeMap<String, String>, Internal> {
        match self.store.credentials(user_id, server_id).await {
            Ok(sealed) => serde_json::from_str(&sealed.hints_json)
                .map_err(|e| Internal::other(format!("credential hints: {e}"))),
            Err(StoreError::NotFound) => Ok(BTreeMap::new()),
            Err(other) => Err(other.into()),
        }
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
        let hints: BTreeMap<&str, String> = fields
            .iter()
            .filter_map(|f| values.get(&f.name).map(|v| (f.name.as_str(), hint(f, v))))
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
        assert_eq!(hint(&field(true), "sk-abcdef1234"), "set · ends in ••34");
        assert_eq!(hint(&field(true), "short"), "set");
        assert_eq!(hint(&field(false), "eu-west"), "eu-west");
    }
}
