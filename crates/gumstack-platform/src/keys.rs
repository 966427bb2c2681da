//! The platform's Ed25519 signing keys (SPEC §1, §7): they sign the access tokens MCP clients
//! hold and the identities the gateway forwards to server processes. Private keys are sealed in
//! the vault; public keys are published as a JWKS (RFC 7517 / RFC 8037).

use std::collections::HashMap;
use std::sync::Arc;

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

fn key_aad(kid: &str) -> Result<Aad, KeyError> {
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

/// The signing key set: one active key signs, every unretired key verifies.
pub struct SigningKeys {
    kid: String,
    /// Parsed once: signing happens on every gateway call (the identity it forwards).
    signing: SigningKey,
    decoding: HashMap<String, DecodingKey>,
    jwks: serde_json::Value,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("active_kid", &self.kid)
            .field("keys", &self.decoding.len())
            .finish()
    }
}

impl SigningKeys {
    /// Loads the keys from the store, generating and storing the first one if there is none.
    pub async fn load_or_create(store: &Arc<dyn Store>, vault: &Vault) -> Result<Self, KeyError> {
        let mut records = store.signing_keys().await?;
        if records.is_empty() {
            let kid = Uuid::new_v4().to_string();
            let seed = Zeroizing::new(random_bytes::<32>());
            let public = SigningKey::from_bytes(&seed).verifying_key();
            let record = SigningKeyRecord {
                private_ciphertext: vault.encrypt(seed.as_slice(), &key_aad(&kid)?),
                public_x: URL_SAFE_NO_PAD.encode(public.as_bytes()),
                kid,
                created_at: now(),
            };
            // Two instances starting at once may both create one; both are then valid keys.
            store.insert_signing_key(&record).await?;
            records = store.signing_keys().await?;
        }
        let mut decoding = HashMap::new();
        let mut jwks = Vec::new();
        for record in &records {
            let key = DecodingKey::from_ed_components(&record.public_x)
                .map_err(|e| KeyError::Corrupt(e.to_string()))?;
            decoding.insert(record.kid.clone(), key);
            jwks.push(serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "x": record.public_x,
                "kid": record.kid, "use": "sig", "alg": "EdDSA",
            }));
        }
        // The newest key signs.
        let active = records
            .iter()
            .max_by_key(|r| (r.created_at, r.kid.clone()))
            .ok_or_else(|| KeyError::Corrupt("no signing key".into()))?;
        let seed = vault.decrypt(&active.private_ciphertext, &key_aad(&active.kid)?)?;
        let seed: &[u8; 32] = seed
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::Corrupt("private key length".into()))?;
        Ok(Self {
            kid: active.kid.clone(),
            signing: SigningKey::from_bytes(seed),
            decoding,
            jwks: serde_json::json!({ "keys": jwks }),
        })
    }

    /// The public keys as a JWKS document.
    pub fn jwks(&self) -> &serde_json::Value {
        &self.jwks
    }

    /// Signs `claims` as a compact JWS (RFC 7515) with `alg` EdDSA, `typ` and our `kid`.
    ///
    /// Written out rather than through `jsonwebtoken::encode`, which parses the PKCS#8 key
    /// again for every signature: the gateway signs an identity per call (docs/BENCHMARKS.md).
    /// Verification, where the parsing rules matter, stays with `jsonwebtoken`.
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> String {
        gumstack_protocol::jws::sign(&self.signing, &self.kid, typ, claims)
    }

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
        let key = self.key_for(token, typ)?;
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
        if exp.saturating_add(60) < now {
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
        let key = self.key_for(token, typ)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<T>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|_| TokenError::BadSignature)
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
            kid: kid.to_owned(),
            signing,
            decoding: HashMap::from([(kid.to_owned(), decoding)]),
            jwks: serde_json::json!({ "keys": [{
                "kty": "OKP", "crv": "Ed25519", "x": public_x,
                "kid": kid, "use": "sig", "alg": "EdDSA",
            }] }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[derive(Debug, Serialize, serde::Deserialize, PartialEq)]
    struct Claims {
        iss: String,
        sub: String,
        aud: String,
        iat: i64,
        exp: i64,
    }

    fn claims(aud: &str, exp_in: i64) -> Claims {
        Claims {
            iss: "https://p".into(),
            sub: "u".into(),
            aud: aud.into(),
            iat: now(),
            exp: now() + exp_in,
        }
    }

    #[tokio::test]
    async fn keys_persist_sign_and_verify() {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
        let vault = Vault::generate();
        let keys = SigningKeys::load_or_create(&store, &vault).await.unwrap();
        let again = SigningKeys::load_or_create(&store, &vault).await.unwrap();
        assert_eq!(keys.kid, again.kid, "the stored key is reused");
        assert_eq!(keys.jwks()["keys"][0]["kty"], "OKP");

        let token = keys.sign("at+jwt", &claims("https://p/mcp/a", 60));
        let ok: Claims = again
            .verify(&token, "at+jwt", "https://p", "https://p/mcp/a", now())
            .unwrap();
        assert_eq!(ok.sub, "u");
        assert_eq!(
            keys.verify::<Claims>(&token, "at+jwt", "https://p", "https://p/mcp/b", now()),
            Err(TokenError::WrongAudience)
        );
        assert_eq!(
            keys.verify::<Claims>(&token, "other", "https://p", "https://p/mcp/a", now()),
            Err(TokenError::WrongType)
        );
        assert_eq!(
            keys.verify::<Claims>(&token, "at+jwt", "https://q", "https://p/mcp/a", now()),
            Err(TokenError::WrongIssuer)
        );
        let expired = keys.sign("at+jwt", &claims("https://p/mcp/a", -120));
        assert_eq!(
            keys.verify::<Claims>(&expired, "at+jwt", "https://p", "https://p/mcp/a", now()),
            Err(TokenError::Expired)
        );
        let mut tampered = token.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(
            keys.verify::<Claims>(&tampered, "at+jwt", "https://p", "https://p/mcp/a", now())
                .is_err()
        );

        // Another platform's keys do not verify ours.
        let other_store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
        let other = SigningKeys::load_or_create(&other_store, &vault)
            .await
            .unwrap();
        assert_eq!(
            other.verify::<Claims>(&token, "at+jwt", "https://p", "https://p/mcp/a", now()),
            Err(TokenError::UnknownKey)
        );
    }

    /// Found by the `jws_verify` fuzz target: an `exp` near `i64::MAX` overflowed the leeway
    /// addition (a panic with overflow checks, an "expired" verdict without).
    #[tokio::test]
    async fn an_expiry_at_the_end_of_time_does_not_overflow() {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().await.unwrap());
        let keys = SigningKeys::load_or_create(&store, &Vault::generate())
            .await
            .unwrap();
        let mut far = claims("https://p/mcp/a", 0);
        far.exp = i64::MAX;
        let token = keys.sign("at+jwt", &far);
        let verified: Claims = keys
            .verify(&token, "at+jwt", "https://p", "https://p/mcp/a", now())
            .unwrap();
        assert_eq!(verified.exp, i64::MAX);
    }
}
