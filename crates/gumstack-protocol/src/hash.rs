//! Hashes with security meaning, each written once.
//!
//! - [`token_hash`]: how a bearer secret (server token, API token, session, provider token…)
//!   is looked up without storing it: SHA-256 of its UTF-8 bytes. Tokens are random, so a
//!   plain hash is enough; it is compared by the store's index, never printed.
//! - [`body_hash`]: the `bh` claim of a platform call (§4), base64url (no padding) of the
//!   SHA-256 of the body's exact bytes. The PKCE S256 challenge (RFC 7636 §4.2) is the same
//!   function of the verifier's bytes ([`pkce_challenge`]).

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// SHA-256 of a token, as stored to find it again.
pub fn token_hash(token: &SecretString) -> Vec<u8> {
    sha256(token.expose_secret().as_bytes()).to_vec()
}

/// SHA-256 of `bytes` (a token's, for a cache key that must not hold the token).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// `bh`: base64url (no padding) of the SHA-256 of `body`.
pub fn body_hash(body: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(sha256(body))
}

/// `BASE64URL(SHA256(verifier))`, the PKCE `S256` code challenge.
pub fn pkce_challenge(verifier: &str) -> String {
    body_hash(verifier.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_their_definitions() {
        // SHA-256("") = e3b0c442…b855.
        assert_eq!(
            body_hash(b""),
            "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        );
        // RFC 7636 Appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let hash = token_hash(&SecretString::from("abc"));
        assert_eq!(hash.len(), 32);
        assert_eq!(hash[..4], [0xba, 0x78, 0x16, 0xbf]);
    }
}
