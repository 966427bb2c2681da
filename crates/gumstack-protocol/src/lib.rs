//! The contract between the Gumstack platform and the server processes it hosts
//! (docs/PROTOCOL.md, which stays the normative text), as types both sides use, and the
//! security rules both sides must apply the same way.
//!
//! The platform (`gumstack-platform`), its gateway (`gumstack-gateway`), the SDK (`gumstack`)
//! and the SDK's stand-in platform (`gumstack::testing`) all take these definitions from here,
//! so a change to the wire is made once. Golden JSON fixtures of every message live in this
//! crate's `tests/fixtures/` and are checked against these types, so a server written in
//! another language can be checked against the same bytes.
//!
//! The crate depends on neither axum nor sqlx: fuzz targets build it small.
//!
//! # Layout
//!
//! - [`headers`]: the `Gumstack-*` header names, the JWS `typ`s and the server audience.
//! - [`claims`]: the claims of an identity (§2) and of a platform call (§4).
//! - [`jws`]: signing those claims (compact EdDSA JWS) and the validation rules of verifying
//!   them, with the clock [`LEEWAY`](jws::LEEWAY).
//! - [`provider`]: the provider operations (§4), a typed request and reply for each, the token
//!   response and the failure body.
//! - [`credentials`]: the credentials routes (§3): paths, the reply, the error codes, the
//!   report of an invalid token.
//! - [`scopes`]: provider scope lists (what a tool needs, what a connection was granted).
//! - [`timeouts`]: the waits both sides rely on, and the relations between them.
//! - [`bearer`], [`loopback`], [`hash`]: one home each for a rule with security meaning (RFC
//!   6750 bearer parsing, "is this URL loopback?", token and body hashing).
//! - `secret` (private): serde helpers that write a secret on the wire, and only there.

pub mod bearer;
pub mod claims;
pub mod credentials;
pub mod hash;
pub mod headers;
pub mod jws;
pub mod loopback;
pub mod provider;
pub mod scopes;
mod secret;
pub mod timeouts;
