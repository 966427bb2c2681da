//! JWT parsing and verification: the platform's `SigningKeys::verify` (access tokens as
//! `oauth::tokens::verify_access_token` checks them, identities as the credentials route checks
//! them, `verify_signature_only` as revocation does) and the protocol's shared `validation`
//! (what the SDK starts from), on tokens signed by `gumstack_protocol::jws::sign`.
//!
//! Input: a first byte choosing the mode, then either a token (`mode` even: anything a client
//! could send) or JSON claims the platform's key signs (`mode` odd: claims the platform would
//! never write, to reach every check after the signature), then a one-character edit.
//!
//! Properties: nothing panics; a token accepted by any verifier is exactly one the key signed
//! (the header `jws::sign` writes, canonical base64, and the key's own deterministic signature
//! of exactly those bytes: no malleability in the base64, the header or the signature); an
//! accepted token's `iss`, `aud`, `exp` and `typ` are what the verifier asked for; a
//! well-formed fresh token is accepted; an edited one is not.
#![no_main]

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey};
use gumstack_platform::fuzzing::SigningKeys;
use gumstack_platform::oauth::tokens::{
    ACCESS_TOKEN_TYP, AccessClaims, IDENTITY_TYP, IdentityClaims, verify_access_token,
};
use gumstack_protocol::{bearer, jws};
use jsonwebtoken::DecodingKey;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const KID: &str = "0b6f43d2-3d61-4c44-8f43-1b39f0c2a001";
const SEED: [u8; 32] = [7; 32];
const ISSUER: &str = "https://gumstack.example";
const RESOURCE: &str = "https://gumstack.example/mcp/tracker";
const SERVER_AUDIENCE: &str = "gumstack:server:7f3c1a52-2f1e-4f7c-9d55-0c8a4e2b6d10";
/// The verifiers' clock: 2027-01-15.
const NOW: i64 = 1_800_000_000;

static KEYS: LazyLock<SigningKeys> =
    LazyLock::new(|| SigningKeys::from_seed_for_fuzzing(KID, &SEED));
static SIGNING: LazyLock<SigningKey> = LazyLock::new(|| SigningKey::from_bytes(&SEED));
static DECODING: LazyLock<DecodingKey> = LazyLock::new(|| {
    DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(SIGNING.verifying_key().as_bytes()))
        .unwrap()
});

const TYPS: [&str; 4] = [ACCESS_TOKEN_TYP, IDENTITY_TYP, "JWT", ""];
const KIDS: [&str; 2] = [KID, "another-key"];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (token, fresh) = if mode & 1 == 0 {
        check_bearer(text);
        (text.to_owned(), None)
    } else {
        let claims: Value =
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()));
        let typ = TYPS[usize::from(mode >> 1) % TYPS.len()];
        let kid = KIDS[usize::from(mode >> 3) % KIDS.len()];
        let token = jws::sign(&SIGNING, kid, typ, &claims);
        let fresh = well_formed_access_token(&claims, typ, kid).then_some(());
        (token, fresh)
    };
    let accepted = verify_all(&token);
    if fresh.is_some() {
        assert!(
            accepted,
            "a well-formed fresh access token was refused: {token}"
        );
    }
    // One character of the token replaced: refused by every verifier (unless it is unchanged).
    let at = usize::from(mode >> 4) * 17 % token.len().max(1);
    if let Some(original) = token.chars().nth(at) {
        let replacement = if original == 'A' { 'B' } else { 'A' };
        let edited: String = token
            .chars()
            .enumerate()
            .map(|(i, c)| if i == at { replacement } else { c })
            .collect();
        if verify_all(&edited) {
            assert!(canonical(&edited), "an edited token was accepted: {edited}");
        }
    }
});

/// Runs every verifier over `token`; whether any accepted it, after checking what they accept.
fn verify_all(token: &str) -> bool {
    let mut accepted = false;
    if let Ok(claims) = verify_access_token(&KEYS, ISSUER, RESOURCE, token, NOW) {
        assert_eq!(claims.iss, ISSUER);
        assert_eq!(claims.aud, RESOURCE);
        assert!(claims.exp.saturating_add(60) >= NOW, "expired: {token}");
        assert_eq!(header(token)["typ"], ACCESS_TOKEN_TYP);
        accepted = true;
    }
    if let Ok(claims) =
        KEYS.verify::<IdentityClaims>(token, IDENTITY_TYP, ISSUER, SERVER_AUDIENCE, NOW)
    {
        assert_eq!(claims.iss, ISSUER);
        assert_eq!(claims.aud, SERVER_AUDIENCE);
        assert!(claims.exp.saturating_add(60) >= NOW, "expired: {token}");
        assert_eq!(header(token)["typ"], IDENTITY_TYP);
        let _ = jws::issued_in_time(claims.iat, NOW);
        accepted = true;
    }
    if KEYS
        .verify_signature_only::<Value>(token, ACCESS_TOKEN_TYP)
        .is_ok()
    {
        assert_eq!(header(token)["typ"], ACCESS_TOKEN_TYP);
        accepted = true;
    }
    // The protocol's validation, as the SDK applies it (with the system clock for `exp`).
    if let Ok(data) =
        jsonwebtoken::decode::<Value>(token, &DECODING, &jws::validation(SERVER_AUDIENCE))
    {
        assert!(data.claims["aud"] == SERVER_AUDIENCE || data.claims["aud"].is_array());
        accepted = true;
    }
    if accepted {
        assert!(
            canonical(token),
            "accepted a token the key never signed as such: {token}"
        );
    }
    accepted
}

/// The JWS header of a token that a verifier accepted.
fn header(token: &str) -> Value {
    let encoded = token.split('.').next().unwrap_or_default();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).unwrap()).unwrap()
}

/// Whether `token` is byte for byte what `jws::sign` makes: the header it writes, canonical
/// base64 for the claims, and the key's (deterministic) signature of exactly those bytes.
fn canonical(token: &str) -> bool {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Some(decoded) = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
    else {
        return false;
    };
    let (Some(kid), Some(typ)) = (decoded["kid"].as_str(), decoded["typ"].as_str()) else {
        return false;
    };
    let written = json!({ "alg": "EdDSA", "typ": typ, "kid": kid }).to_string();
    let claims_bytes = URL_SAFE_NO_PAD.decode(claims).unwrap_or_default();
    let signed = SIGNING.sign(format!("{header}.{claims}").as_bytes());
    header == URL_SAFE_NO_PAD.encode(written)
        && claims == URL_SAFE_NO_PAD.encode(&claims_bytes)
        && signature == URL_SAFE_NO_PAD.encode(signed.to_bytes())
}

/// Claims the platform itself would write in an access token, fresh at `NOW`.
fn well_formed_access_token(claims: &Value, typ: &str, kid: &str) -> bool {
    let Ok(access) = serde_json::from_value::<AccessClaims>(claims.clone()) else {
        return false;
    };
    typ == ACCESS_TOKEN_TYP
        && kid == KID
        && access.iss == ISSUER
        && access.aud == RESOURCE
        && access.exp >= NOW
        && access.exp < NOW + 365 * 24 * 3600
        && (0..=NOW).contains(&access.iat)
        && claims.get("iat").is_some_and(Value::is_i64)
        && claims.get("exp").is_some_and(Value::is_i64)
}

/// RFC 6750 bearer parsing: a token found is non-empty, trimmed and follows the scheme.
fn check_bearer(value: &str) {
    if let Some(token) = bearer::bearer_of(value) {
        assert!(!token.is_empty() && token == token.trim());
        assert!(
            value
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("bearer "))
        );
        assert!(value.ends_with(token) || value.trim_end().ends_with(token));
    }
}
