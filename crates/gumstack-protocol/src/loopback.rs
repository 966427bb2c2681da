//! The one answer to "is this URL loopback?", which decides where plain `http` is allowed
//! (the platform's public URL, OAuth redirect URIs per RFC 8252 §7.3, provider endpoint URLs,
//! the authorization URL a server builds) and which redirect URIs may vary their port.
//!
//! A host is loopback when it is an IPv4 address in `127.0.0.0/8`, the IPv6 address `::1`,
//! or the name `localhost` in any case (DNS names are case-insensitive; the `url` crate
//! lowercases hosts of `http(s)` URLs but not of other schemes).
//!
//! Names *under* `localhost` (`app.localhost`) are **not** loopback here. RFC 6761 §6.3 lets
//! resolvers answer them with loopback addresses, but it does not make them: a resolver that
//! forwards them to DNS sends the traffic (and the tokens in it, over plain http) wherever the
//! network says. RFC 8252 §8.3 already discourages even `localhost` for that reason and
//! recommends the IP literals. The exact name `localhost` is kept because every platform
//! resolves it from its hosts file and developers use it.

use std::net::IpAddr;

use url::{Host, Url};

/// Whether `host` names this machine.
pub fn is_loopback_host<S: AsRef<str>>(host: &Host<S>) -> bool {
    match host {
        Host::Domain(name) => name.as_ref().eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

/// Whether `url` has a host and it is loopback.
pub fn is_loopback_url(url: &Url) -> bool {
    url.host().is_some_and(|host| is_loopback_host(&host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls() {
        let table = [
            ("http://127.0.0.1:8080/cb", true),
            ("http://127.1.2.3/", true),
            ("http://[::1]:9/", true),
            ("http://localhost/", true),
            ("http://LOCALHOST:5/", true),
            ("myapp://LocalHost/cb", true),
            ("http://app.localhost/", false),
            ("http://localhost.example.com/", false),
            ("http://128.0.0.1/", false),
            ("http://[::2]/", false),
            ("http://[::ffff:127.0.0.1]/", false),
            ("http://0.0.0.0/", false),
            ("http://example.com/", false),
            ("file:///etc/passwd", false),
            ("urn:x:y", false),
        ];
        for (url, expected) in table {
            let parsed = Url::parse(url).unwrap();
            assert_eq!(is_loopback_url(&parsed), expected, "{url}");
        }
    }
}
