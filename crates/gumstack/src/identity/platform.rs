//! [`PlatformIdentity`]: production verifies the `Gumstack-Identity` header the platform's
//! gateway adds to every call it forwards (docs/PROTOCOL.md §2).
//!
//! The header is a compact JWS whose header is `{"alg": "EdDSA", "typ": "gumstack-identity+jwt",
//! "kid": …}`. It is accepted only when, in this order:
//!
//! 1. it is present once and parses, with `alg` `EdDSA` and that `typ` (anything else, `none`
//!    and HMAC included, is refused before a key is looked at; `jku`, `jwk` and `x5u` are never
//!    followed, and `crit` is refused);
//! 2. the signature verifies with the platform's key `kid` ([`KeySet`]);
//! 3. `aud` is exactly `gumstack:server:$GUMSTACK_SERVER_ID`;
//! 4. `exp` is not past and `iat` not in the future, with [`LEEWAY`] for clock skew;
//! 5. every claim the caller is made of is present and not empty.
//!
//! The accepted header is kept, unchanged, next to the caller: the SDK forwards it to the
//! platform to fetch the caller's credentials (docs/PROTOCOL.md §3).

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use http::HeaderMap;
use jsonwebtoken::{Algorithm, Validation, errors::ErrorKind};
use secrecy::SecretString;
use serde::Deserialize;

use super::{
    CallerIdentity, IDENTITY_HEADER, IDENTITY_TYPE, IdentityFuture, IdentityRejection,
    IdentitySource,
    jwks::{KeyError, KeySet},
};
use crate::context::GumstackContext;

/// Tolerated clock skew between the platform and this process.
const LEEWAY: Duration = Duration::from_secs(60);
/// An identity is a few hundred bytes; a larger header is not one.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Production: only calls the platform signed for this server get through.
#[derive(Debug)]
pub(crate) struct PlatformIdentity {
    server_id: String,
    keys: KeySet,
    validation: Validation,
}

/// The claims of a Gumstack identity; all required.
#[derive(Deserialize)]
struct IdentityClaims {
    iss: String,
    aud: String,
    sub: String,
    email: String,
    org: String,
    grp: String,
    cid: String,
    jti: String,
    iat: u64,
    // Checked by `jsonwebtoken::decode` (read here so a missing one fails to parse).
    #[allow(dead_code, reason = "validated by jsonwebtoken")]
    exp: u64,
}

const MALFORMED_CLAIMS: IdentityRejection = IdentityRejection::new(
    "the identity's claims are incomplete or malformed (required: iss, aud, sub, email, org, \
     grp, cid, jti, iat, exp)",
);

impl PlatformIdentity {
    /// Verifies identities minted for `server_id` with the keys of the platform at
    /// `backend_url`, fetched with `http`.
    pub(crate) fn new(server_id: &str, backend_url: &str, http: reqwest::Client) -> Self {
        let keys = KeySet::new(http, backend_url);
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY.as_secs();
        validation.set_audience(&[audience(server_id)]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        Self {
            server_id: server_id.to_owned(),
            keys,
            validation,
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
        let token = token_of(headers)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            IdentityRejection::new(
                "the identity is not a JWS with a readable header signed with EdDSA (alg `none` \
                 and other algorithms are refused)",
            )
        })?;
        if header.alg != Algorithm::EdDSA {
            return Err(IdentityRejection::new(
                "the identity must be signed with EdDSA (Ed25519)",
            ));
        }
        if header.typ.as_deref() != Some(IDENTITY_TYPE) {
            return Err(IdentityRejection::new(
                "the identity's typ must be gumstack-identity+jwt",
            ));
        }
        if header.crit.is_some() {
            return Err(IdentityRejection::new(
                "the identity has critical header parameters this server does not understand",
            ));
        }
        let kid = header.kid.ok_or(IdentityRejection::new(
            "the identity names no signing key (kid)",
        ))?;
        let key = self
            .keys
            .key(&kid, Instant::now())
            .await
            .map_err(|error| match error {
                KeyError::Unknown => IdentityRejection::new(
                    "the identity is signed with a key the platform does not publish",
                ),
                KeyError::Unavailable => IdentityRejection::new(
                    "the platform's signing keys could not be fetched to verify the identity",
                ),
            })?;
        let claims = jsonwebtoken::decode::<IdentityClaims>(token, &key, &self.validation)
            .map_err(|error| rejection_for(error.kind()))?
            .claims;
        self.caller(claims)
    }

    /// The caller named by verified claims, after the checks `jsonwebtoken` does not make.
    fn caller(&self, claims: IdentityClaims) -> Result<GumstackContext, IdentityRejection> {
        if claims.aud != audience(&self.server_id) {
            return Err(IdentityRejection::new(
                "the identity was signed for another server",
            ));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        if claims.iat > (now + LEEWAY).as_secs() {
            return Err(IdentityRejection::new(
                "the identity was issued in the future (are the clocks of the platform and this \
                 server in sync?)",
            ));
        }
        let required = [
            &claims.iss,
            &claims.sub,
            &claims.email,
            &claims.org,
            &claims.grp,
            &claims.cid,
            &claims.jti,
        ];
        if required.iter().any(|claim| claim.is_empty()) {
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

/// The only audience this server accepts.
fn audience(server_id: &str) -> String {
    format!("gumstack:server:{server_id}")
}

/// The identity token of a request: the one `Gumstack-Identity` header.
fn token_of(headers: &HeaderMap) -> Result<&str, IdentityRejection> {
    let mut values = headers.get_all(IDENTITY_HEADER).iter();
    let value = values.next().ok_or(IdentityRejection::new(
        "no Gumstack-Identity header: requests must come through the Gumstack gateway",
    ))?;
    if values.next().is_some() {
        return Err(IdentityRejection::new(
            "more than one Gumstack-Identity header",
        ));
    }
    if value.len() > MAX_TOKEN_BYTES {
        return Err(IdentityRejection::new(
            "the Gumstack-Identity header is too large",
        ));
    }
    value
        .to_str()
        .map(str::trim)
        .map_err(|_| IdentityRejection::new("the Gumstack-Identity header is not a compact JWS"))
}

/// What a `jsonwebtoken` failure means for the caller.
fn rejection_for(kind: &ErrorKind) -> IdentityRejection {
    IdentityRejection::new(match kind {
        ErrorKind::InvalidSignature => "the identity's signature does not verify",
        ErrorKind::ExpiredSignature => "the identity has expired",
        ErrorKind::InvalidAudience => "the identity was signed for another server",
        ErrorKind::MissingRequiredClaim(_)
        | ErrorKind::InvalidClaimFormat(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => return MALFORMED_CLAIMS,
        _ => "the identity is not a valid EdDSA-signed JWS",
    })
}
