//! The names on the wire: the `Gumstack-*` headers, the JWS types, the server audience.
//!
//! Header names are case-insensitive; they are written here in lower case, as `http` stores
//! them.

use http::HeaderName;

/// The header carrying the identity of the call the gateway forwards to a server (§2), and
/// that the server forwards back, unchanged, to fetch the caller's credentials (§3).
pub const IDENTITY: &str = "gumstack-identity";
/// The header naming the one call the gateway forwards (§2): a fresh random id per call, which
/// the server forwards back with the identity to fetch the caller's credentials while that call
/// is in flight (§3).
pub const CALL: &str = "gumstack-call";
/// The header carrying the platform's signature of its call to a provider route (§4).
pub const PLATFORM_CALL: &str = "gumstack-platform-call";
/// Every header of the platform's namespace starts with this: the gateway drops all of them
/// from a client's request, so no client can pass for the platform.
pub const NAMESPACE_PREFIX: &str = "gumstack-";

/// [`IDENTITY`] as a [`HeaderName`].
pub static IDENTITY_NAME: HeaderName = HeaderName::from_static(IDENTITY);
/// [`CALL`] as a [`HeaderName`].
pub static CALL_NAME: HeaderName = HeaderName::from_static(CALL);
/// [`PLATFORM_CALL`] as a [`HeaderName`].
pub static PLATFORM_CALL_NAME: HeaderName = HeaderName::from_static(PLATFORM_CALL);

/// The JWS `typ` of an identity (§2).
pub const IDENTITY_TYP: &str = "gumstack-identity+jwt";
/// The JWS `typ` of a platform call (§4).
pub const PLATFORM_CALL_TYP: &str = "gumstack-platform-call+jwt";

/// The audience naming one server, `gumstack:server:<server id>`: the only server that may
/// accept an identity or a platform call minted with it.
pub fn server_audience(server_id: impl std::fmt::Display) -> String {
    format!("gumstack:server:{server_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_in_the_platform_namespace() {
        for name in [IDENTITY, CALL, PLATFORM_CALL] {
            assert!(name.starts_with(NAMESPACE_PREFIX), "{name}");
            assert_eq!(name, name.to_ascii_lowercase());
        }
        assert_eq!(IDENTITY_NAME.as_str(), IDENTITY);
        assert_eq!(CALL_NAME.as_str(), CALL);
        assert_eq!(PLATFORM_CALL_NAME.as_str(), PLATFORM_CALL);
    }

    #[test]
    fn the_audience_names_the_server() {
        assert_eq!(server_audience("abc"), "gumstack:server:abc");
    }
}
