//! [`PlatformIdentity`]: production verifies the `Gumstack-Identity` header the platform's
//! gateway adds to every call it forwards (docs/PROTOCOL.md §2).
//!
//! The header is a compact JWS whose header is `{"alg": "EdDSA", "typ": "gumstack-identity+jwt",
//! "kid": …}`, checked like every token the platform signs for this server ([`PlatformJws`]:
//! one header, `alg` and `typ`, signature with the platform's key `kid`, `aud`, `exp`/`iat`
//! with leeway). On top of that, every claim the caller is made of must be present and not
//! empty.
//!
//! The accepted header is kept, unchanged, next to the caller: the SDK forwards it to the
//! platform to fetch the caller's credentials (docs/PROTOCOL.md §3).

use std::sync::Arc;

use http::HeaderMap;
use secrecy::SecretString;

use super::{
    CallerIdentity, IDENTITY_HEADER, IDENTITY_TYPE, IdentityFuture, IdentityRejection,
    IdentitySource,
    jwks::KeySet,
    jws::{JwsFailure, PlatformClaims, PlatformJws, token_of},
};
use crate::caller::GumstackContext;

/// Production: only calls the platform signed for this server get through.
#[derive(Debug)]
pub(crate) struct PlatformIdentity {
    server_id: String,
    jws: PlatformJws,
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

impl PlatformIdentity {
    /// Verifies identities minted for `server_id` with the platform's `keys`.
    pub(crate) fn new(server_id: &str, keys: Arc<KeySet>) -> Self {
        Self {
            server_id: server_id.to_owned(),
            jws: PlatformJws::new(keys, server_id),
        }
    }

    /// The caller, with the header as received.
    async fn identify_by(&self, headers: &HeaderMap) -> Result<CallerIdentity, IdentityRejection> {
        let caller = self.verify(headers).await?;
        // `verify` read exactly one header that is valid text.
        let presented = headers
            .get(IDENTITY_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(|value| Arc::new(SecretString::from(value)));
        Ok(CallerIdentity { caller, presented })
    }

    async fn verify(&self, headers: &HeaderMap) -> Result<GumstackContext, IdentityRejection> {
        let token = token_of(headers, IDENTITY_HEADER).map_err(rejection_for)?;
        let claims: IdentityClaims = self
            .jws
            .verify(token, IDENTITY_TYPE)
            .await
            .map_err(rejection_for)?;
        self.caller(claims)
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
