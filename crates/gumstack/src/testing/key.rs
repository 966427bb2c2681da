//! [`TestKey`]: an Ed25519 signing key as the platform holds one, signing identities and
//! platform calls for the stand-in platform and for tests that forge their own.

use std::fmt;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer, SigningKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::{IDENTITY_TYPE, PLATFORM_CALL_TYPE, random};

/// The PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows it.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// An Ed25519 signing key with its key id, as the platform holds one.
pub struct TestKey {
    kid: String,
    signing: SigningKey,
    encoding: EncodingKey,
}

impl fmt::Debug for TestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl TestKey {
    /// A fresh random key named `kid`.
    pub fn generate(kid: impl Into<String>) -> Self {
        let seed: [u8; 32] = random();
        let der = [ED25519_PKCS8_PREFIX.as_slice(), &seed].concat();
        Self {
            kid: kid.into(),
            signing: SigningKey::from_bytes(&seed),
            encoding: EncodingKey::from_ed_der(&der),
        }
    }

    /// The key id (`kid`) its tokens name and its JWK carries.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The raw 32-byte public key (the JWK's `x`).
    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// The public key as a JWK (RFC 8037), as the platform's JWKS lists it.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(self.public_key()),
            "kid": self.kid,
            "use": "sig",
            "alg": "EdDSA",
        })
    }

    /// An identity: `claims` signed as the platform signs them (EdDSA, `typ`
    /// [`IDENTITY_TYPE`], this key's `kid`).
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_typed(IDENTITY_TYPE, claims)
    }

    /// A platform call: `claims` signed as the platform signs them (EdDSA, `typ`
    /// [`PLATFORM_CALL_TYPE`], this key's `kid`).
    pub fn sign_platform_call(&self, claims: &Value) -> String {
        self.sign_typed(PLATFORM_CALL_TYPE, claims)
    }

    fn sign_typed(&self, typ: &str, claims: &Value) -> String {
        let header = Header {
            typ: Some(typ.to_owned()),
            kid: Some(self.kid.clone()),
            ..Header::new(Algorithm::EdDSA)
        };
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("Ed25519 signing succeeds")
    }

    /// A compact JWS with any `header` (which need not be truthful), signed with this key:
    /// for testing what a server refuses.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.signing.sign(message.as_bytes());
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}
