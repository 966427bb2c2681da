//! [`PlatformJws`]: the checks every token the platform signs for this server goes through,
//! whatever it vouches for (a caller's identity, docs/PROTOCOL.md §2, or a call from the
//! platform itself, §4).
//!
//! A token is accepted only when, in this order:
//!
//! 1. it is in exactly one header of bounded size ([`token_of`]);
//! 2. its JWS header parses, with `alg` `EdDSA` and the expected `typ` (anything else, `none`
//!    and HMAC included, is refused before a key is looked at; `jku`, `jwk` and `x5u` are never
//!    followed, and `crit` is refused);
//! 3. the signature verifies with the platform's key `kid` ([`KeySet`]);
//! 4. `aud` is exactly `gumstack:server:$GUMSTACK_SERVER_ID`;
//! 5. `exp` is not past and `iat` not in the future, with [`LEEWAY`] for clock skew.
//!
//! Each failure is a [`JwsFailure`]; the caller turns it into its own fixed message, so no
//! text taken from the request is ever echoed.

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use gumstack_protocol::headers::server_audience;
use http::HeaderMap;
use jsonwebtoken::{Algorithm, Validation, errors::ErrorKind};
use serde::de::DeserializeOwned;

use super::jwks::{KeyError, KeySet};

/// Tolerated clock skew between the platform and this process.
pub(crate) use gumstack_protocol::jws::LEEWAY;
/// A platform token is a few hundred bytes; a larger header is not one.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why a platform-signed token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JwsFailure {
    /// No header carries a token.
    Missing,
    /// More than one header carries a token.
    Duplicate,
    /// The header is larger than any token the platform signs.
    TooLarge,
    /// The JWS header cannot be read (not a compact JWS, or not text).
    Unreadable,
    /// `alg` is not `EdDSA`.
    Algorithm,
    /// `typ` is not the expected one.
    Type,
    /// The header has `crit` parameters.
    Critical,
    /// The header names no key.
    NoKid,
    /// The platform does not publish the key `kid`.
    UnknownKey,
    /// The platform's keys could not be fetched.
    KeysUnavailable,
    Signature,
    Expired,
    /// `aud` is not this server.
    Audience,
    /// `iat` is in the future, beyond the leeway.
    FromTheFuture,
    /// A claim is missing or malformed.
    Claims,
    /// Anything else `jsonwebtoken` refuses.
    Invalid,
}

/// The claims the verifier checks itself, beyond `exp`.
pub(crate) trait PlatformClaims: DeserializeOwned {
    fn audience(&self) -> &str;
    fn issued_at(&self) -> i64;
}

/// Verifies tokens the platform signed for one server.
#[derive(Debug)]
pub(crate) struct PlatformJws {
    keys: Arc<KeySet>,
    audience: String,
    validation: Validation,
}

impl PlatformJws {
    /// Verifies tokens minted for `server_id` with the platform's `keys`.
    pub(crate) fn new(keys: Arc<KeySet>, server_id: &str) -> Self {
        let audience = server_audience(server_id);
        let validation = gumstack_protocol::jws::validation(&audience);
        Self {
            keys,
            audience,
            validation,
        }
    }

    /// The claims of `token`, a compact JWS of type `typ`, once every check holds.
    pub(crate) async fn verify<C: PlatformClaims>(
        &self,
        token: &str,
        typ: &str,
    ) -> Result<C, JwsFailure> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwsFailure::Unreadable)?;
        if header.alg != Algorithm::EdDSA {
            return Err(JwsFailure::Algorithm);
        }
        if header.typ.as_deref() != Some(typ) {
            return Err(JwsFailure::Type);
        }
        if header.crit.is_some() {
            return Err(JwsFailure::Critical);
        }
        let kid = header.kid.ok_or(JwsFailure::NoKid)?;
        let key = self
            .keys
            .key(&kid, Instant::now())
            .await
            .map_err(|error| match error {
                KeyError::Unknown => JwsFailure::UnknownKey,
                KeyError::Unavailable => JwsFailure::KeysUnavailable,
            })?;
        let claims = jsonwebtoken::decode::<C>(token, &key, &self.validation)
            .map_err(|error| failure_for(error.kind()))?
            .claims;
        if claims.audience() != self.audience {
            return Err(JwsFailure::Audience);
        }
        let now = i64::try_from(unix_now().as_secs()).unwrap_or(i64::MAX);
        if !gumstack_protocol::jws::issued_in_time(claims.issued_at(), now) {
            return Err(if claims.issued_at() < 0 {
                JwsFailure::Claims
            } else {
                JwsFailure::FromTheFuture
            });
        }
        Ok(claims)
    }
}

/// The token of a request: the one header `name`, trimmed.
pub(crate) fn token_of<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, JwsFailure> {
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or(JwsFailure::Missing)?;
    if values.next().is_some() {
        return Err(JwsFailure::Duplicate);
    }
    if value.len() > MAX_TOKEN_BYTES {
        return Err(JwsFailure::TooLarge);
    }
    value
        .to_str()
        .map(str::trim)
        .map_err(|_| JwsFailure::Unreadable)
}

/// The time since the Unix epoch (zero if the clock is before it).
pub(crate) fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// What a `jsonwebtoken` failure means.
fn failure_for(kind: &ErrorKind) -> JwsFailure {
    match kind {
        ErrorKind::InvalidSignature => JwsFailure::Signature,
        ErrorKind::ExpiredSignature => JwsFailure::Expired,
        ErrorKind::InvalidAudience => JwsFailure::Audience,
        ErrorKind::MissingRequiredClaim(_)
        | ErrorKind::InvalidClaimFormat(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => JwsFailure::Claims,
        _ => JwsFailure::Invalid,
    }
}
