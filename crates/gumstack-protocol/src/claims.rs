//! The claims the platform signs: the identity of a call (§2) and a platform call (§4).
//!
//! Times are Unix seconds as `i64` (JWT NumericDate, RFC 7519 §2), as the platform's clock
//! gives them. A verifier refuses a negative `iat`, which no platform issues.

use serde::{Deserialize, Serialize};

use crate::hash::body_hash;
use crate::headers::server_audience;

/// How long an identity is valid. The gateway signs one per user × MCP client × server ×
/// deployment and reuses it for [`IDENTITY_REUSE_SECONDS`], so every call is forwarded with an
/// identity that stays valid for at least `IDENTITY_SECONDS - IDENTITY_REUSE_SECONDS` (600 s):
/// it outlives the longest call the gateway forwards.
pub const IDENTITY_SECONDS: i64 = 900;
/// How long after signing an identity the gateway goes on forwarding it with new calls.
pub const IDENTITY_REUSE_SECONDS: i64 = 300;
/// How long a platform call is valid.
pub const PLATFORM_CALL_SECONDS: i64 = 60;
/// How long the platform's own identity (tool discovery, §2.1) is valid.
pub const PLATFORM_IDENTITY_SECONDS: i64 = 60;

/// The `sub`, `grp` and `cid` of the platform's own identity (§2.1): no user has it (users
/// are UUIDs), so a server can tell a call the platform makes for itself from a user's call.
pub const PLATFORM_SUBJECT: &str = "gumstack:platform";
/// The `email` of the platform's own identity: under `.invalid` (RFC 2606), never a mailbox.
pub const PLATFORM_EMAIL: &str = "platform@gumstack.invalid";

/// The identity of one call of a user to one server (`Gumstack-Identity`, §2). All claims
/// are required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityClaims {
    /// The platform's public base URL.
    pub iss: String,
    /// `gumstack:server:<server id>` ([`server_audience`]).
    pub aud: String,
    /// The user's id.
    pub sub: String,
    pub email: String,
    /// The user's organisation id.
    pub org: String,
    /// The user's permission group id.
    pub grp: String,
    /// The MCP client's `client_id`.
    pub cid: String,
    /// Names this identity (one identity serves many calls; the call is named by the
    /// `Gumstack-Call` header).
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

impl IdentityClaims {
    /// The identity of a call the platform makes for itself, with no user (§2.1): `sub`, `grp`
    /// and `cid` are [`PLATFORM_SUBJECT`], `email` is [`PLATFORM_EMAIL`], valid for
    /// [`PLATFORM_IDENTITY_SECONDS`]. Every claim is present, so any server verifies it as it
    /// verifies a user's; a server must not hand out user credentials for it, and the
    /// platform refuses to.
    pub fn platform(
        issuer: &str,
        server_id: impl std::fmt::Display,
        org: &str,
        jti: String,
        now: i64,
    ) -> Self {
        Self {
            iss: issuer.to_owned(),
            aud: server_audience(server_id),
            sub: PLATFORM_SUBJECT.to_owned(),
            email: PLATFORM_EMAIL.to_owned(),
            org: org.to_owned(),
            grp: PLATFORM_SUBJECT.to_owned(),
            cid: PLATFORM_SUBJECT.to_owned(),
            jti,
            iat: now,
            exp: now + PLATFORM_IDENTITY_SECONDS,
        }
    }

    /// Whether this is the platform's own identity (no user behind the call).
    pub fn is_platform(&self) -> bool {
        self.sub == PLATFORM_SUBJECT
    }

    /// The claims that are text and must not be empty, with their names.
    pub fn required_text(&self) -> [(&'static str, &str); 7] {
        [
            ("iss", &self.iss),
            ("sub", &self.sub),
            ("email", &self.email),
            ("org", &self.org),
            ("grp", &self.grp),
            ("cid", &self.cid),
            ("jti", &self.jti),
        ]
    }
}

/// A call of the platform to a server's provider route (`Gumstack-Platform-Call`, §4), bound
/// to that server, route and body. All claims are required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformCallClaims {
    /// The platform's public base URL.
    pub iss: String,
    /// `gumstack:server:<server id>`.
    pub aud: String,
    /// The method, `POST`.
    pub htm: String,
    /// The request path, without query.
    pub htu: String,
    /// [`body_hash`] of the body's exact bytes.
    pub bh: String,
    /// Names this call; a server accepts it once.
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

impl PlatformCallClaims {
    /// The claims of a `POST` to `path` of server `server_id` with `body`, issued at `now` by
    /// `issuer`, valid for [`PLATFORM_CALL_SECONDS`].
    pub fn post(
        issuer: &str,
        server_id: impl std::fmt::Display,
        path: &str,
        body: &[u8],
        jti: String,
        now: i64,
    ) -> Self {
        Self {
            iss: issuer.to_owned(),
            aud: server_audience(server_id),
            htm: "POST".to_owned(),
            htu: path.to_owned(),
            bh: body_hash(body),
            jti,
            iat: now,
            exp: now + PLATFORM_CALL_SECONDS,
        }
    }

    /// The claims that are text and must not be empty, with their names.
    pub fn required_text(&self) -> [(&'static str, &str); 5] {
        [
            ("iss", &self.iss),
            ("htm", &self.htm),
            ("htu", &self.htu),
            ("bh", &self.bh),
            ("jti", &self.jti),
        ]
    }
}
