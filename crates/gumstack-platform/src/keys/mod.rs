//! The platform's Ed25519 signing keys (SPEC §1, §7): they sign the access tokens MCP clients
//! hold and the identities the gateway forwards to server processes. Private keys are sealed in
//! the vault; public keys are published as a JWKS (RFC 7517 / RFC 8037).
//!
//! Rotation ([`SigningKeys::add_key`], `gumstackd key rotate-signing`): a new key is stored with
//! the time it starts signing; it is published at once, so every instance and every cached
//! JWKS knows it before a token signed by it arrives. The key it replaces keeps verifying for
//! [`OVERLAP_SECONDS`] (every token it signed has expired by then), then it is removed
//! (`schedule`). Running instances pick the changes up with [`SigningKeys::reload`], which
//! swaps the whole key set atomically; signing and verifying read it with one atomic load.

mod schedule;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::crypto::random_bytes;
use crate::store::{SigningKeyRecord, Store, StoreError, Timestamp, now};
use crate::vault::{Aad, Vault};

pub use schedule::{ACCESS_TOKEN_SECONDS, OVERLAP_SECONDS};

/// The vault binding of a signing key's private half: its key id.
pub(crate) fn key_aad(kid: &str) -> Result<Aad, KeyError> {
    let id = Uuid::parse_str(kid).map_err(|_| KeyError::Corrupt(format!("key id {kid}")))?;
    Ok(Aad::new("signing_keys", "private_key", &[id]))
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("vault: {0}")]
    Vault(#[from] crate::vault::VaultError),
    #[error("signing key is corrupt: {0}")]
    Corrupt(String),
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token is not of the expected type")]
    WrongType,
    #[error("the token was signed by an unknown key")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is for another audience")]
    WrongAudience,
    #[error("the token was issued by someone else")]
    WrongIssuer,
}

/// One loaded key set: one key signs, every published key verifies.
struct KeySet {
    kid: String,
    /// Parsed once: signing happens on every gateway call (the identity it forwards).
    signing: SigningKey,
    decoding: HashMap<String, DecodingKey>,
    jwks: Arc<serde_json::Value>,
}

/// The signing key set, swapped whole when a reload finds another schedule.
pub struct SigningKeys {
    current: ArcSwap<KeySet>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = self.current.load();
        f.debug_struct("SigningKeys")
            .field("active_kid", &set.kid)
            .field("keys", &set.decoding.len())
            .finish()
    }
}

/// A new signing key, its private half sealed.
fn new_record(
    vault: &Vault,
    created_at: Timestamp,
    activates_at: Option<Timestamp>,
) -> Result<SigningKeyRecord, KeyError> {
    let kid = Uuid::new_v4().to_string();
    let seed = Zeroizing::new(random_bytes::<32>());
    let public = SigningKey::from_bytes(&seed).verifying_key();
    Ok(SigningKeyRecord {
        private_ciphertext: vault.encrypt(seed.as_slice(), &key_aad(&kid)?),
        public_x: URL_SAFE_NO_PAD.encode(public.as_bytes()),
        kid,
        created_at,
        activates_at,
    })
}

impl SigningKeys {
    /// Loads the keys from the store, generating and storing the first one if there is none.
    pub async fn load_or_create(store: &Arc<dyn Store>, vault: &Vault) -> Result<Self, KeyError> {
        Self::load_or_create_at(store, vault, now()).await
    }

    /// [`load_or_create`](Self::load_or_create) at `now` (the platform's clock).
    pub async fn load_or_create_at(
        store: &Arc<dyn Store>,
        vault: &Vault,
        now: Timestamp,
    ) -> Result<Self, KeyError> {
        let mut records = store.signing_keys().await?;
        if records.is_empty() {
            // Two instances starting at once may both create one; both are then valid keys.
            store
                .insert_signing_key(&new_record(vault, now, None)?)
                .await?;
            records = store.signing_keys().await?;
        }
        let set = build(&records, vault, now)?;
        Ok(Self {
            current: ArcSwap::from_pointee(set),
        })
    }

    /// Stores a new key that signs from `activates_at` (published at once). Its id.
    pub async fn add_key(
        store: &Arc<dyn Store>,
        vault: &Vault,
        now: Timestamp,
        activates_at: Timestamp,
    ) -> Result<String, KeyError> {
        let record = new_record(vault, now, Some(activates_at.max(now)))?;
        store.insert_signing_key(&record).await?;
        Ok(record.kid)
    }

    /// Reads the keys again and swaps in the set that applies at `now`: a newer key that has
    /// activated signs, keys whose overlap is over are removed from the store and no longer
    /// verify. True when something changed. On an error the keys stay as they were.
    pub async fn reload(
        &self,
        store: &Arc<dyn Store>,
        vault: &Vault,
        now: Timestamp,
    ) -> Result<bool, KeyError> {
        let records = store.signing_keys().await?;
        let Some(plan) = schedule::at(&records, now) else {
            return Ok(false);
        };
        for &done in &plan.done {
            store.delete_signing_key(&records[done].kid).await?;
            tracing::info!(kid = %records[done].kid, "signing key removed: every token it signed has expired");
        }
        let current = self.current.load();
        let published: Vec<&str> = plan
            .published
            .iter()
            .map(|&i| records[i].kid.as_str())
            .collect();
        let unchanged = records[plan.signer].kid == current.kid
            && published.len() == current.decoding.len()
            && published
                .iter()
                .all(|kid| current.decoding.contains_key(*kid));
        if unchanged {
            return Ok(false);
        }
        let set = build(&records, vault, now)?;
        if set.kid != current.kid {
            tracing::info!(kid = %set.kid, "signing with a new key");
        }
        self.current.store(Arc::new(set));
        Ok(true)
    }

    /// The id of the key that signs.
    pub fn active_kid(&self) -> String {
        self.current.load().kid.clone()
    }

    /// The public keys as a JWKS document.
    pub fn jwks(&self) -> Arc<serde_json::Value> {
        Arc::clone(&self.current.load().jwks)
    }

    /// Signs `claims` as a compact JWS (RFC 7515) with `alg` EdDSA, `typ` and our `kid`.
    ///
    /// Written out rather than through `jsonwebtoken::encode`, which parses the PKCS#8 key
    /// again for every signature: the gateway signs an identity per call (docs/BENCHMARKS.md).
    /// Verification, where the parsing rules matter, stays with `jsonwebtoken`.
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> String {
        let set = self.current.load();
        gumstack_protocol::jws::sign(&set.signing, &set.kid, typ, claims)
    }

    /// Verifies a token of type `typ` for `audience` from `issuer`: signature, expiry at `now`
    /// (60 s leeway), issuer and audience, refused in that order.
    ///
    /// `jsonwebtoken` checks the signature and that the claims are there; the expiry is checked
    /// here against the platform's clock (`jsonwebtoken` would read the system's), so issuer
    /// and audience are too, after it.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
        issuer: &str,
        audience: &str,
        now: Timestamp,
    ) -> Result<T, TokenError> {
        let set = self.current.load();
        let key = set.key_for(token, typ)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
                _ => TokenError::Malformed,
            })?;
        let exp = claims["exp"].as_i64().ok_or(TokenError::Malformed)?;
        let leeway = i64::try_from(gumstack_protocol::jws::LEEWAY.as_secs()).unwrap_or(i64::MAX);
        if exp.saturating_add(leeway) < now {
            return Err(TokenError::Expired);
        }
        if claims["iss"].as_str() != Some(issuer) {
            return Err(TokenError::WrongIssuer);
        }
        let audience_ok = match &claims["aud"] {
            serde_json::Value::String(aud) => aud == audience,
            serde_json::Value::Array(auds) => auds.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        if !audience_ok {
            return Err(TokenError::WrongAudience);
        }
        serde_json::from_value(claims).map_err(|_| TokenError::Malformed)
    }

    /// Decodes a token signed by these keys without checking audience or expiry (revocation of
    /// tokens that may already have expired).
    pub fn verify_signature_only<T: DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
    ) -> Result<T, TokenError> {
        let set = self.current.load();
        let key = set.key_for(token, typ)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<T>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|_| TokenError::BadSignature)
    }
}

impl KeySet {
    /// The key a token of type `typ` names, refusing any other algorithm or type.
    fn key_for(&self, token: &str, typ: &str) -> Result<&DecodingKey, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA || header.typ.as_deref() != Some(typ) {
            return Err(TokenError::WrongType);
        }
        header
            .kid
            .as_deref()
            .and_then(|kid| self.decoding.get(kid))
            .ok_or(TokenError::UnknownKey)
    }
}

#[cfg(feature = "fuzzing")]
impl SigningKeys {
    /// One key `kid` made from `seed`, without a store or vault: the fuzz targets verify with
    /// the same [`SigningKeys::verify`] as the platform.
    #[doc(hidden)]
    pub fn from_seed_for_fuzzing(kid: &str, seed: &[u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(seed);
        let public_x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
        let decoding = DecodingKey::from_ed_components(&public_x).expect("a fresh public key");
        Self {
            current: ArcSwap::from_pointee(KeySet {
                kid: kid.to_owned(),
                signing,
                decoding: HashMap::from([(kid.to_owned(), decoding)]),
                jwks: Arc::new(serde_json::json!({ "keys": [{
                    "kty": "OKP", "crv": "Ed25519", "x": public_x,
                    "kid": kid, "use": "sig", "alg": "EdDSA",
                }] })),
            }),
        }
    }
}

/// The key set that applies at `now`: the signer's private half unsealed, the published keys.
fn build(records: &[SigningKeyRecord], vault: &Vault, now: Timestamp) -> Result<KeySet, KeyError> {
    let plan =
        schedule::at(records, now).ok_or_else(|| KeyError::Corrupt("no signing key".into()))?;
    let mut decoding = HashMap::new();
    let mut jwks = Vec::new();
    for &i in &plan.published {
        let record = &records[i];
        let key = DecodingKey::from_ed_components(&record.public_x)
            .map_err(|e| KeyError::Corrupt(e.to_string()))?;
        decoding.insert(record.kid.clone(), key);
        jwks.push(serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "x": record.public_x,
            "kid": record.kid, "use": "sig", "alg": "EdDSA",
        }));
    }
    let active = &records[plan.signer];
    let seed = vault.decrypt(&active.private_ciphertext, &key_aad(&active.kid)?)?;
    let seed: &[u8; 32] = seed
        .as_slice()
        .try_into()
        .map_err(|_| KeyError::Corrupt("private key length".into()))?;
    Ok(KeySet {
        kid: active.kid.clone(),
        signing: SigningKey::from_bytes(seed),
        decoding,
        jwks: Arc::new(serde_json::json!({ "keys": jwks })),
    })
}

#[cfg(test)]
mod tests;
