//! DNS-rebinding protection: the `Host` must be one of ours, and a browser's `Origin`, when
//! present, must be the public origin.
//!
//! Every accepted spelling is expanded once at start (default ports added or dropped), so a
//! request is checked with case-insensitive string comparisons and no allocation.

use http::{HeaderMap, Uri, header};

/// Why a request was refused before authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    Host,
    Origin,
}

#[derive(Debug, Clone)]
pub(crate) struct RebindingGuard {
    hosts: Box<[String]>,
    origins: Box<[String]>,
}

impl RebindingGuard {
    pub(crate) fn new(allowed_hosts: &[String], allowed_origins: &[String]) -> Self {
        let mut hosts = Vec::new();
        for entry in allowed_hosts {
            push_spellings(&mut hosts, "", entry.trim().trim_end_matches('/'));
        }
        let mut origins = Vec::new();
        for entry in allowed_origins {
            let entry = entry.trim().trim_end_matches('/');
            match entry.split_once("://") {
                Some((scheme, authority)) => {
                    push_spellings(&mut origins, &format!("{scheme}://"), authority);
                }
                // `null` (or anything without a scheme) matches only itself.
                None => origins.push(entry.to_ascii_lowercase()),
            }
        }
        Self {
            hosts: hosts.into(),
            origins: origins.into(),
        }
    }

    /// Checks `Host` (or, over HTTP/2, the request's authority) and `Origin` if present.
    pub(crate) fn check(&self, headers: &HeaderMap, uri: &Uri) -> Result<(), Rejection> {
        let host = match headers.get(header::HOST) {
            Some(value) => value.to_str().ok(),
            None => uri.authority().map(|authority| authority.as_str()),
        };
        if !host.is_some_and(|host| contains(&self.hosts, host)) {
            return Err(Rejection::Host);
        }
        for origin in headers.get_all(header::ORIGIN) {
            let accepted = origin
                .to_str()
                .is_ok_and(|origin| contains(&self.origins, origin));
            if !accepted {
                return Err(Rejection::Origin);
            }
        }
        Ok(())
    }
}

fn contains(accepted: &[String], value: &str) -> bool {
    accepted
        .iter()
        .any(|candidate| candidate.eq_ignore_ascii_case(value))
}

/// Pushes `{prefix}{authority}` lowercased, plus the spellings with and without a default port.
fn push_spellings(out: &mut Vec<String>, prefix: &str, authority: &str) {
    if authority.is_empty() {
        return;
    }
    let authority = authority.to_ascii_lowercase();
    let (host, port) = split_port(&authority);
    out.push(format!("{prefix}{authority}"));
    match port {
        Some("80" | "443") => out.push(format!("{prefix}{host}")),
        Some(_) => {}
        None => {
            out.push(format!("{prefix}{host}:80"));
            out.push(format!("{prefix}{host}:443"));
        }
    }
}

/// `host:port` → (`host`, Some(`port`)); an IPv6 literal keeps its brackets.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    let port_start = match authority.rfind(']') {
        Some(bracket) => authority[bracket..].find(':').map(|at| bracket + at),
        None => authority.rfind(':'),
    };
    match port_start {
        Some(colon) => (&authority[..colon], Some(&authority[colon + 1..])),
        None => (authority, None),
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn guard() -> RebindingGuard {
        RebindingGuard::new(
            &[
                "MCP.example.com:443".to_owned(),
                "127.0.0.1:8080".to_owned(),
                "[::1]:8080".to_owned(),
                "plain.example".to_owned(),
            ],
            &["https://mcp.example.com".to_owned()],
        )
    }

    fn check(host: Option<&'static str>, origin: Option<&'static str>) -> Result<(), Rejection> {
        let mut headers = HeaderMap::new();
        if let Some(host) = host {
            headers.insert(header::HOST, HeaderValue::from_static(host));
        }
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
        }
        guard().check(&headers, &Uri::from_static("/mcp/x"))
    }

    #[test]
    fn hosts_match_case_insensitively_with_default_ports() {
        for host in [
            "mcp.example.com",
            "MCP.EXAMPLE.COM:443",
            "127.0.0.1:8080",
            "[::1]:8080",
            "plain.example",
            "plain.example:443",
        ] {
            assert_eq!(check(Some(host), None), Ok(()), "{host}");
        }
        for host in [
            "mcp.example.com:8443",
            "127.0.0.1",
            "127.0.0.1:8081",
            "[::1]",
            "plain.example:8080",
            "evil.example",
        ] {
            assert_eq!(check(Some(host), None), Err(Rejection::Host), "{host}");
        }
        assert_eq!(check(None, None), Err(Rejection::Host));
    }

    #[test]
    fn origin_is_checked_only_when_present() {
        let host = Some("mcp.example.com");
        assert_eq!(check(host, Some("https://mcp.example.com")), Ok(()));
        assert_eq!(check(host, Some("https://MCP.example.com:443")), Ok(()));
        for origin in [
            "https://evil.example",
            "http://mcp.example.com",
            "https://mcp.example.com:8443",
            "null",
        ] {
            assert_eq!(
                check(host, Some(origin)),
                Err(Rejection::Origin),
                "{origin}"
            );
        }
    }

    #[test]
    fn http2_authority_stands_in_for_a_missing_host() {
        let uri = Uri::from_static("https://mcp.example.com/mcp/x");
        assert_eq!(guard().check(&HeaderMap::new(), &uri), Ok(()));
        let uri = Uri::from_static("https://evil.example/mcp/x");
        assert_eq!(guard().check(&HeaderMap::new(), &uri), Err(Rejection::Host));
    }
}
