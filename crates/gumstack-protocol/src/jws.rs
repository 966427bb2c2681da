//! Signing the platform's tokens and the rules of verifying them.
//!
//! The platform signs compact JWS (RFC 7515) with Ed25519: header `{"alg": "EdDSA", "typ",
//! "kid"}`. [`sign`] writes one out directly (parsing a PKCS#8 key for every signature, as
//! `jsonwebtoken::encode` does, costs more than the signature on the gateway's hot path).
//! Verification, where the parsing rules matter, goes through `jsonwebtoken` with the
//! [`validation`] both sides start from: EdDSA only, the audience, `exp` with [`LEEWAY`].

use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer as _, SigningKey};
use jsonwebtoken::{Algorithm, Validation};
use serde::Serialize;

/// Tolerated clock skew between the platform and a server process (and between platform
/// instances), for `exp` and `iat`.
pub const LEEWAY: Duration = Duration::from_secs(60);

/// `claims` signed with `key` as a compact JWS of type `typ` naming the key `kid`.
pub fn sign<T: Serialize>(key: &SigningKey, kid: &str, typ: &str, claims: &T) -> String {
    let header = serde_json::json!({ "alg": "EdDSA", "typ": typ, "kid": kid });
    let claims = serde_json::to_vec(claims).expect("claims serialise to JSON");
    let mut jws = URL_SAFE_NO_PAD.encode(header.to_string());
    jws.push('.');
    jws.push_str(&URL_SAFE_NO_PAD.encode(claims));
    let signature = key.sign(jws.as_bytes());
    jws.push('.');
    jws.push_str(&URL_SAFE_NO_PAD.encode(signature.to_bytes()));
    jws
}

/// The validation of a token for `audience`: EdDSA only, `aud`, `exp` with [`LEEWAY`], and
/// `exp`, `iss` and `aud` required. Callers add what they check beyond (the issuer, more
/// required claims); `typ`, `kid` and `iat` are checked around it.
pub fn validation(audience: &str) -> Validation {
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.leeway = LEEWAY.as_secs();
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation
}

/// Whether `iat` is acceptable at `now` (Unix seconds): not negative, and not in the future
/// beyond [`LEEWAY`].
pub fn issued_in_time(iat: i64, now: i64) -> bool {
    iat >= 0 && u64::try_from(iat).is_ok_and(|iat| iat <= (now.max(0) as u64) + LEEWAY.as_secs())
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, decode, decode_header};

    use super::*;
    use crate::claims::PlatformCallClaims;
    use crate::headers::PLATFORM_CALL_TYP;

    #[test]
    fn a_signed_call_verifies_with_the_shared_validation() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let claims = PlatformCallClaims::post("https://p", "s1", "/x", b"{}", "j".into(), now());
        let token = sign(&key, "k1", PLATFORM_CALL_TYP, &claims);
        let header = decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some(PLATFORM_CALL_TYP));
        assert_eq!(header.kid.as_deref(), Some("k1"));
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
        let decoding = DecodingKey::from_ed_components(&x).unwrap();
        let back =
            decode::<PlatformCallClaims>(&token, &decoding, &validation("gumstack:server:s1"))
                .unwrap()
                .claims;
        assert_eq!(back, claims);
        assert!(
            decode::<PlatformCallClaims>(&token, &decoding, &validation("gumstack:server:s2"))
                .is_err()
        );
    }

    #[test]
    fn iat_may_be_ahead_by_the_leeway_only() {
        let now = 1_000_000;
        assert!(issued_in_time(now, now));
        assert!(issued_in_time(now + 60, now));
        assert!(!issued_in_time(now + 61, now));
        assert!(issued_in_time(0, now));
        assert!(!issued_in_time(-1, now));
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }
}
