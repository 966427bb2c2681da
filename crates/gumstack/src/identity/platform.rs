//! [`PlatformIdentity`]: production verifies the `Gumstack-Identity` header the platform's
//! gateway adds to every call it forwards (docs/PROTOCOL.md §2).
//!
//! The header is a compact JWS whose header is `{"alg": "EdDSA", "typ": "gumstack-identity+jwt",
//! "kid": …}`, checked like every token the platform signs for this server ([`PlatformJws`]:
//! one header, `alg` and `typ`, signature with the platform's key `kid`, `aud`, `exp`/`iat`
//! with leeway). On top of that, every claim the caller is made of must be present and not
//! empty.
//!
//! The accepted header is kept, unchanged, next to the caller, with the call's id
//! (`Gumstack-Call`): the SDK forwards both to the platform to fetch the caller's credentials
//! (docs/PROTOCOL.md §3).
//!
//! The gateway forwards the same identity with many calls of one user (§2), so an identity
//! that verified is remembered, by its exact text, until it expires: the next call with it
//! costs a lookup, not a signature verification. Expiry is checked at every use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use http::HeaderMap;
use secrecy::SecretString;

use super::{
    CALL_HEADER, CallerIdentity, IDENTITY_HEADER, IDENTITY_TYPE, IdentityFuture, IdentityRejection,
    IdentitySource, Presented,
    jwks::KeySet,
    jws::{JwsFailure, LEEWAY, PlatformClaims, PlatformJws, token_of, unix_now},
};
use crate::caller::GumstackContext;

/// Identities remembered at most; emptied when full.
const REMEMBERED: usize = 4096;

/// The longest call id accepted (the platform's are UUIDs).
const MAX_CALL_ID: usize = 128;

/// Production: only calls the platform signed for this server get through.
pub(crate) struct PlatformIdentity {
    server_id: String,
    jws: PlatformJws,
    /// Identities that verified, by their text: the caller and the `exp` claim.
    verified: Mutex<HashMap<Box<str>, (GumstackContext, i64)>>,
}

/// The claims of a Gumstack identity; all required (`exp` is checked by `jsonwebtoken`).
use gumstack_protocol::claims::IdentityClaims;

impl PlatformClaims for IdentityClaims {
    fn audience(&self) -> &str {
        &self.aud
    }

    fn issued_at(&self) -> i64 {
        self.iat
    }
}

const MALFORMED_CLAIMS: IdentityRejection = IdentityRejection::new(
    "the identity's claims are incomplete or malformed (required: iss, aud, sub, email, org, \
     grp, cid, jti, iat, exp)",
);

/// Without the remembered identities: they are secrets (each one fetches its caller's
/// credentials during a call).
impl std::fmt::Debug for PlatformIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformIdentity")
            .field("server_id", &self.server_id)
            .field("jws", &self.jws)
            .field("remembered", &self.remembered().len())
            .finish()
    }
}

impl PlatformIdentity {
    /// Verifies identities minted for `server_id` with the platform's `keys`.
    pub(crate) fn new(server_id: &str, keys: Arc<KeySet>) -> Self {
        Self {
            server_id: server_id.to_owned(),
            jws: PlatformJws::new(keys, server_id),
            verified: Mutex::default(),
        }
    }

    /// The caller, with the identity header as received and the call's id.
    async fn identify_by(&self, headers: &HeaderMap) -> Result<CallerIdentity, IdentityRejection> {
        let token = token_of(headers, IDENTITY_HEADER).map_err(rejection_for)?;
        let call = call_of(headers)?;
        let caller = self.verify(token).await?;
        // `token_of` read exactly one header that is valid text.
        let identity = headers
            .get(IDENTITY_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(SecretString::from)
            .ok_or(rejection_for(JwsFailure::Unreadable))?;
        Ok(CallerIdentity {
            caller,
            presented: Some(Arc::new(Presented { identity, call })),
        })
    }

    /// The caller `token` names: remembered, or verified and remembered.
    async fn verify(&self, token: &str) -> Result<GumstackContext, IdentityRejection> {
        let now = i64::try_from(unix_now().as_secs()).unwrap_or(i64::MAX);
        let leeway = i64::try_from(LEEWAY.as_secs()).unwrap_or(0);
        if let Some((caller, exp)) = self.remembered().get(token)
            && now <= exp + leeway
        {
            return Ok(caller.clone());
        }
        let claims: IdentityClaims = self
            .jws
            .verify(token, IDENTITY_TYPE)
            .await
            .map_err(rejection_for)?;
        let exp = claims.exp;
        let caller = self.caller(claims)?;
        let mut remembered = self.remembered();
        if remembered.len() >= REMEMBERED {
            remembered.retain(|_, (_, exp)| now <= *exp + leeway);
            if remembered.len() >= REMEMBERED {
                remembered.clear();
            }
        }
        remembered.insert(token.into(), (caller.clone(), exp));
        Ok(caller)
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, (GumstackContext, i64)>> {
        self.verified.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The caller named by verified claims.
    fn caller(&self, claims: IdentityClaims) -> Result<GumstackContext, IdentityRejection> {
        if claims
            .required_text()
            .iter()
            .any(|(_, claim)| claim.is_empty())
        {
            return Err(MALFORMED_CLAIMS);
        }
        Ok(GumstackContext {
            user_id: claims.sub,
            email: claims.email,
            org_id: claims.org,
            group_id: claims.grp,
            server_id: self.server_id.clone(),
            client_id: claims.cid,
        })
    }
}

impl IdentitySource for PlatformIdentity {
    fn identify<'a>(&'a self, parts: &'a http::request::Parts) -> IdentityFuture<'a> {
        Box::pin(self.identify_by(&parts.headers))
    }
}

/// The request's `Gumstack-Call`, if any: one header of visible ASCII, at most
/// [`MAX_CALL_ID`] bytes.
fn call_of(headers: &HeaderMap) -> Result<Option<SecretString>, IdentityRejection> {
    const MALFORMED: IdentityRejection =
        IdentityRejection::new("the Gumstack-Call header must be one short value of visible ASCII");
    let mut values = headers.get_all(CALL_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() || value.len() > MAX_CALL_ID || value.is_empty() {
        return Err(MALFORMED);
    }
    let text = value.to_str().map_err(|_| MALFORMED)?;
    Ok(Some(SecretString::from(text)))
}

/// What a failed check means for the caller of `/mcp`.
fn rejection_for(failure: JwsFailure) -> IdentityRejection {
    IdentityRejection::new(match failure {
        JwsFailure::Missing => {
            "no Gumstack-Identity header: requests must come through the Gumstack gateway"
        }
        JwsFailure::Duplicate => "more than one Gumstack-Identity header",
        JwsFailure::TooLarge => "the Gumstack-Identity header is too large",
        JwsFailure::Unreadable => {
            "the identity is not a JWS with a readable header signed with EdDSA (alg `none` and \
             other algorithms are refused)"
        }
        JwsFailure::Algorithm => "the identity must be signed with EdDSA (Ed25519)",
        JwsFailure::Type => "the identity's typ must be gumstack-identity+jwt",
        JwsFailure::Critical => {
            "the identity has critical header parameters this server does not understand"
        }
        JwsFailure::NoKid => "the identity names no signing key (kid)",
        JwsFailure::UnknownKey => "the identity is signed with a key the platform does not publish",
        JwsFailure::KeysUnavailable => {
            "the platform's signing keys could not be fetched to verify the identity"
        }
        JwsFailure::Signature => "the identity's signature does not verify",
        JwsFailure::Expired => "the identity has expired",
        JwsFailure::Audience => "the identity was signed for another server",
        JwsFailure::FromTheFuture => {
            "the identity was issued in the future (are the clocks of the platform and this \
             server in sync?)"
        }
        JwsFailure::Claims => return MALFORMED_CLAIMS,
        JwsFailure::Invalid => "the identity is not a valid EdDSA-signed JWS",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_remembered_identity() {
        let keys = Arc::new(KeySet::new(
            crate::platform_api::http_client().unwrap(),
            "http://127.0.0.1:9",
        ));
        let identity = PlatformIdentity::new("server-1", keys);
        let caller = GumstackContext::local(Some("server-1"));
        identity
            .remembered()
            .insert("header.claims.signature".into(), (caller, i64::MAX));
        let shown = format!("{identity:?}");
        assert!(!shown.contains("header.claims.signature"), "{shown}");
        assert!(shown.contains("remembered: 1"), "{shown}");
    }
}
