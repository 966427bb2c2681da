//! What the platform's tokens contain: access tokens for MCP clients (RFC 9068 `at+jwt`, one
//! server as audience) and the identities the gateway forwards to server processes
//! (docs/PROTOCOL.md §2). Both are Ed25519-signed JWTs with their own `typ`, so one can never
//! pass for the other.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ACCESS_TOKEN_SECONDS;
use crate::keys::{SigningKeys, TokenError};
use crate::store::{Grant, Timestamp, User};

pub use gumstack_protocol::claims::{IDENTITY_SECONDS, IdentityClaims};
pub use gumstack_protocol::headers::{IDENTITY_TYP, server_audience};

pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The user.
    pub sub: String,
    /// The one server (its MCP URL) this token is for.
    pub aud: String,
    pub client_id: String,
    /// The grant it was issued under; revoking the grant ends the token.
    pub gid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// Issues an access token for a grant at `iat` (the platform clock's now).
pub fn issue_access_token(
    keys: &SigningKeys,
    issuer: &str,
    grant: &Grant,
    iat: Timestamp,
) -> String {
    keys.sign(
        ACCESS_TOKEN_TYP,
        &AccessClaims {
            iss: issuer.to_owned(),
            sub: grant.user_id.to_string(),
            aud: grant.resource.clone(),
            client_id: grant.client_id.clone(),
            gid: grant.id.to_string(),
            scope: grant.scope.clone(),
            iat,
            exp: iat + ACCESS_TOKEN_SECONDS,
            jti: Uuid::new_v4().to_string(),
        },
    )
}

/// Verifies an access token for the server at `resource`, unexpired at `now`.
pub fn verify_access_token(
    keys: &SigningKeys,
    issuer: &str,
    resource: &str,
    token: &str,
    now: Timestamp,
) -> Result<AccessClaims, TokenError> {
    keys.verify(token, ACCESS_TOKEN_TYP, issuer, resource, now)
}

/// Mints an identity of `user`, through `client_id`, for the server `server_id`, issued at
/// `iat` (the platform clock's now), with a fresh `jti`. The gateway forwards it with the calls
/// of the next few minutes (docs/PROTOCOL.md §2); each call is named by its `Gumstack-Call`.
pub fn mint_identity(
    keys: &SigningKeys,
    issuer: &str,
    server_id: Uuid,
    user: &User,
    client_id: &str,
    iat: Timestamp,
) -> String {
    keys.sign(
        IDENTITY_TYP,
        &IdentityClaims {
            iss: issuer.to_owned(),
            aud: server_audience(server_id),
            sub: user.id.to_string(),
            email: user.email.clone(),
            org: user.org_id.to_string(),
            grp: user.group_id.to_string(),
            cid: client_id.to_owned(),
            jti: Uuid::new_v4().to_string(),
            iat,
            exp: iat + IDENTITY_SECONDS,
        },
    )
}
