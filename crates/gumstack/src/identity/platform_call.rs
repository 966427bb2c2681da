//! [`PlatformCallVerifier`]: production accepts a call to the OAuth provider routes only when the
//! platform signed it for this server, this route and this exact body (docs/PROTOCOL.md §4).
//!
//! The `Gumstack-Platform-Call` header is a compact JWS of type `gumstack-platform-call+jwt`,
//! checked in two steps so that nothing is read from an unauthenticated caller but the header:
//!
//! 1. [`authenticate`](PlatformCallVerifier::authenticate), before the body is read: the checks
//!    of every platform-signed token ([`PlatformJws`]: one header, `alg` and `typ`, signature,
//!    `aud`, `exp`/`iat` with leeway), every claim present, and a lifetime of at most
//!    [`MAX_LIFETIME`];
//! 2. [`bind`](PlatformCallVerifier::bind), with the body: `htm` and `htu` are the request's
//!    method and path, `bh` is the base64url SHA-256 of the body's bytes, and the `jti` was
//!    never accepted before. Only a call that passed every other check is remembered, so a
//!    forged body cannot burn the `jti` of a genuine call.
//!
//! The [`ReplayCache`] remembers each accepted `jti` until its call expires (plus the leeway),
//! up to [`REPLAY_CAPACITY`] calls; when that many unexpired calls were accepted, further calls
//! are refused rather than risk accepting one twice.
//!
//! Every refusal is a [`PlatformCallRejection`]: 401 `invalid_platform_call` with a fixed
//! message.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use http::{HeaderMap, Method};

use super::{
    jwks::KeySet,
    jws::{JwsFailure, LEEWAY, PlatformClaims, PlatformJws, token_of, unix_now},
};

/// The header the platform signs its calls in (`Gumstack-Platform-Call`).
pub(crate) use gumstack_protocol::headers::PLATFORM_CALL as PLATFORM_CALL_HEADER;
/// The JWS `typ` of a platform call.
pub(crate) use gumstack_protocol::headers::PLATFORM_CALL_TYP as PLATFORM_CALL_TYPE;
/// The longest validity accepted (`exp` - `iat`); the platform signs calls for 60 s. It bounds
/// how long a `jti` must be remembered.
pub(crate) const MAX_LIFETIME: Duration = Duration::from_secs(300);
/// How many accepted, unexpired calls are remembered at most.
pub(crate) const REPLAY_CAPACITY: usize = 10_000;

/// The claims of a platform call; all required.
pub(crate) use gumstack_protocol::claims::PlatformCallClaims;

impl PlatformClaims for PlatformCallClaims {
    fn audience(&self) -> &str {
        &self.aud
    }

    fn issued_at(&self) -> i64 {
        self.iat
    }
}

/// Why a call to a provider route was refused: answered with 401 and
/// `{"error": {"code": "invalid_platform_call", "message": …}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlatformCallRejection {
    message: &'static str,
}

impl PlatformCallRejection {
    const fn new(message: &'static str) -> Self {
        Self { message }
    }
}

impl IntoResponse for PlatformCallRejection {
    fn into_response(self) -> Response {
        tracing::warn!(reason = self.message, "refused a call to a provider route");
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({
                "error": { "code": "invalid_platform_call", "message": self.message },
            })),
        )
            .into_response()
    }
}

const MALFORMED_CLAIMS: PlatformCallRejection = PlatformCallRejection::new(
    "the platform call's claims are incomplete or malformed (required: iss, aud, htm, htu, bh, \
     jti, iat, exp)",
);

/// Production: only calls the platform signed for this server, route and body get through.
#[derive(Debug)]
pub(crate) struct PlatformCallVerifier {
    jws: PlatformJws,
    replay: ReplayCache,
}

impl PlatformCallVerifier {
    /// Verifies calls signed for `server_id` with the platform's `keys`.
    pub(crate) fn new(server_id: &str, keys: Arc<KeySet>) -> Self {
        Self {
            jws: PlatformJws::new(keys, server_id),
            replay: ReplayCache::new(REPLAY_CAPACITY),
        }
    }

    /// Step 1: the claims of the request's `Gumstack-Platform-Call` header, if the platform
    /// signed it for this server and it is valid now.
    pub(crate) async fn authenticate(
        &self,
        headers: &HeaderMap,
    ) -> Result<PlatformCallClaims, PlatformCallRejection> {
        let token = token_of(headers, PLATFORM_CALL_HEADER).map_err(rejection_for)?;
        let claims: PlatformCallClaims = self
            .jws
            .verify(token, PLATFORM_CALL_TYPE)
            .await
            .map_err(rejection_for)?;
        if claims
            .required_text()
            .iter()
            .any(|(_, claim)| claim.is_empty())
        {
            return Err(MALFORMED_CLAIMS);
        }
        let lifetime = claims.exp.saturating_sub(claims.iat);
        if u64::try_from(lifetime).is_ok_and(|lifetime| lifetime > MAX_LIFETIME.as_secs()) {
            return Err(PlatformCallRejection::new(
                "the platform call is valid for longer than this server accepts",
            ));
        }
        Ok(claims)
    }

    /// Step 2: the authenticated call is for this request (`method`, `path` without the
    /// query, `body` as received) and was not accepted before; it is remembered from now on.
    pub(crate) fn bind(
        &self,
        claims: &PlatformCallClaims,
        method: &Method,
        path: &str,
        body: &[u8],
    ) -> Result<(), PlatformCallRejection> {
        if claims.htm != method.as_str() || claims.htu != path {
            return Err(PlatformCallRejection::new(
                "the platform call was signed for another method or route (htm, htu)",
            ));
        }
        if claims.bh != body_hash(body) {
            return Err(PlatformCallRejection::new(
                "the request body is not the one the platform signed (bh)",
            ));
        }
        // `exp` passed `jsonwebtoken`'s check, so it is not before now - leeway (≥ 0).
        let remember_until = u64::try_from(claims.exp)
            .unwrap_or_default()
            .saturating_add(LEEWAY.as_secs());
        match self
            .replay
            .remember(&claims.jti, remember_until, unix_now().as_secs())
        {
            Remembered::New => Ok(()),
            Remembered::Replayed => Err(PlatformCallRejection::new(
                "the platform call was already accepted once (jti replayed)",
            )),
            Remembered::Full => Err(PlatformCallRejection::new(
                "too many recent platform calls to remember; try again shortly",
            )),
        }
    }
}

/// `bh`: base64url (no padding) of the SHA-256 of `body`.
pub(crate) use gumstack_protocol::hash::body_hash;

/// What a failed check of the token means for the platform.
fn rejection_for(failure: JwsFailure) -> PlatformCallRejection {
    PlatformCallRejection::new(match failure {
        JwsFailure::Missing => {
            "no Gumstack-Platform-Call header: only the Gumstack platform may call the provider \
             routes"
        }
        JwsFailure::Duplicate => "more than one Gumstack-Platform-Call header",
        JwsFailure::TooLarge => "the Gumstack-Platform-Call header is too large",
        JwsFailure::Unreadable => {
            "the platform call is not a JWS with a readable header signed with EdDSA"
        }
        JwsFailure::Algorithm => "the platform call must be signed with EdDSA (Ed25519)",
        JwsFailure::Type => "the platform call's typ must be gumstack-platform-call+jwt",
        JwsFailure::Critical => {
            "the platform call has critical header parameters this server does not understand"
        }
        JwsFailure::NoKid => "the platform call names no signing key (kid)",
        JwsFailure::UnknownKey => {
            "the platform call is signed with a key the platform does not publish"
        }
        JwsFailure::KeysUnavailable => {
            "the platform's signing keys could not be fetched to verify the platform call"
        }
        JwsFailure::Signature => "the platform call's signature does not verify",
        JwsFailure::Expired => "the platform call has expired",
        JwsFailure::Audience => "the platform call was signed for another server",
        JwsFailure::FromTheFuture => {
            "the platform call was issued in the future (are the clocks of the platform and \
             this server in sync?)"
        }
        JwsFailure::Claims => return MALFORMED_CLAIMS,
        JwsFailure::Invalid => "the platform call is not a valid EdDSA-signed JWS",
    })
}

/// The `jti`s of accepted calls, each until its call expires.
#[derive(Debug)]
struct ReplayCache {
    capacity: usize,
    /// `jti` → Unix time (seconds) after which the call can no longer be accepted anyway.
    seen: Mutex<HashMap<String, u64>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Remembered {
    /// First time: accepted and remembered.
    New,
    /// Accepted before and not yet expired.
    Replayed,
    /// As many unexpired calls as the capacity are remembered; refused.
    Full,
}

impl ReplayCache {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            seen: Mutex::default(),
        }
    }

    /// Remembers `jti` until `until` (Unix seconds), unless it is remembered already; `now` is
    /// the current Unix time.
    fn remember(&self, jti: &str, until: u64, now: u64) -> Remembered {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if seen.get(jti).is_some_and(|&expiry| expiry >= now) {
            return Remembered::Replayed;
        }
        if seen.len() >= self.capacity {
            seen.retain(|_, expiry| *expiry >= now);
            if seen.len() >= self.capacity {
                return Remembered::Full;
            }
        }
        seen.insert(jti.to_owned(), until);
        Remembered::New
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_is_remembered_until_its_call_expires() {
        let cache = ReplayCache::new(10);
        assert_eq!(cache.remember("a", 1_120, 1_000), Remembered::New);
        assert_eq!(cache.remember("a", 1_120, 1_060), Remembered::Replayed);
        assert_eq!(cache.remember("a", 1_120, 1_120), Remembered::Replayed);
        // After its expiry the call itself is refused as expired; the cache may forget it.
        assert_eq!(cache.remember("a", 1_300, 1_121), Remembered::New);
    }

    #[test]
    fn a_full_cache_forgets_expired_calls_and_refuses_rather_than_evicts_live_ones() {
        let cache = ReplayCache::new(2);
        assert_eq!(cache.remember("a", 1_100, 1_000), Remembered::New);
        assert_eq!(cache.remember("b", 1_200, 1_000), Remembered::New);
        assert_eq!(cache.remember("c", 1_200, 1_000), Remembered::Full);
        // Once `a` expired there is room again, and `b` is still remembered.
        assert_eq!(cache.remember("c", 1_300, 1_150), Remembered::New);
        assert_eq!(cache.remember("b", 1_200, 1_150), Remembered::Replayed);
    }

    #[test]
    fn the_body_hash_is_base64url_sha256_without_padding() {
        // SHA-256("") = e3b0c442…b855.
        assert_eq!(
            body_hash(b""),
            "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        );
    }
}
