//! Header hygiene: what crosses the gateway in each direction.
//!
//! Requests lose hop-by-hop headers, the client's credentials (`Authorization`, `Cookie`), its
//! claims about the path it came by (`Forwarded`, `X-Forwarded-*`) and anything in the
//! platform's `Gumstack-*` namespace (the gateway sets `Gumstack-Identity` and, on a `POST`,
//! `Gumstack-Call` itself). Responses
//! lose hop-by-hop headers and `Set-Cookie`. Everything else (`Content-Type`, `Accept`,
//! `Mcp-Session-Id`, `Mcp-Protocol-Version`, `Last-Event-ID`, `Mcp-Method`, …) passes.
//!
//! Names are removed in place; a list is collected only when a request actually carries a
//! header matched by prefix or named in `Connection`, so the common case allocates nothing.

use http::{HeaderMap, HeaderName, header};

/// The bearer token of `Authorization: Bearer …` (scheme case-insensitive), if any.
pub(crate) use gumstack_protocol::bearer::bearer_token;
/// The header carrying the id of a forwarded call to the server process.
pub(crate) use gumstack_protocol::headers::CALL_NAME as GUMSTACK_CALL;
/// The header carrying the platform-signed identity to the server process.
pub(crate) use gumstack_protocol::headers::IDENTITY_NAME as GUMSTACK_IDENTITY;
/// The MCP session header (Streamable HTTP).
pub(crate) static MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
/// The revision a request speaks (after `initialize`, or on every 2026-07-28 request).
pub(crate) static MCP_PROTOCOL_VERSION: HeaderName =
    HeaderName::from_static("mcp-protocol-version");

static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");

/// Hop-by-hop headers (RFC 9110 §7.6.1, plus the `Proxy-*` family by prefix).
fn hop_by_hop() -> [&'static HeaderName; 6] {
    [
        &header::CONNECTION,
        &KEEP_ALIVE,
        &header::TE,
        &header::TRAILER,
        &header::TRANSFER_ENCODING,
        &header::UPGRADE,
    ]
}

/// Prepares a client's headers for the upstream. `Host` is dropped: the client sets the
/// upstream authority from the URI. `Expect` is dropped: the gateway does not relay
/// `100 Continue`.
pub(crate) fn scrub_request(headers: &mut HeaderMap) {
    remove_connection_listed(headers);
    for name in hop_by_hop() {
        headers.remove(name);
    }
    for name in [
        &header::HOST,
        &header::AUTHORIZATION,
        &header::COOKIE,
        &header::FORWARDED,
        &header::EXPECT,
    ] {
        headers.remove(name);
    }
    remove_prefixed(
        headers,
        &[
            "proxy-",
            "x-forwarded-",
            gumstack_protocol::headers::NAMESPACE_PREFIX,
        ],
    );
}

/// Prepares an upstream's headers for the client.
pub(crate) fn scrub_response(headers: &mut HeaderMap) {
    remove_connection_listed(headers);
    for name in hop_by_hop() {
        headers.remove(name);
    }
    headers.remove(header::SET_COOKIE);
    remove_prefixed(headers, &["proxy-"]);
}

/// Removes the headers named in `Connection` (they are hop-by-hop by declaration).
fn remove_connection_listed(headers: &mut HeaderMap) {
    let mut listed = Vec::new();
    for value in headers.get_all(header::CONNECTION) {
        let Ok(value) = value.to_str() else { continue };
        for token in value.split(',').map(str::trim) {
            if token.is_empty()
                || token.eq_ignore_ascii_case("close")
                || token.eq_ignore_ascii_case("keep-alive")
            {
                continue;
            }
            if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
                listed.push(name);
            }
        }
    }
    for name in listed {
        headers.remove(name);
    }
}

fn remove_prefixed(headers: &mut HeaderMap, prefixes: &[&str]) {
    let matches = |name: &HeaderName| prefixes.iter().any(|p| name.as_str().starts_with(p));
    if !headers.keys().any(matches) {
        return;
    }
    let doomed: Vec<HeaderName> = headers.keys().filter(|n| matches(n)).cloned().collect();
    for name in doomed {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    fn names(headers: &HeaderMap) -> Vec<&str> {
        let mut names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn requests_keep_mcp_headers_and_lose_credentials_and_hop_by_hop() {
        let mut headers = map(&[
            ("host", "mcp.example.com"),
            ("authorization", "Bearer secret"),
            ("cookie", "a=b"),
            ("connection", "keep-alive, x-private"),
            ("x-private", "1"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic x"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("forwarded", "for=1.2.3.4"),
            ("x-forwarded-for", "1.2.3.4"),
            ("gumstack-identity", "forged"),
            ("expect", "100-continue"),
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-session-id", "s1"),
            ("mcp-protocol-version", "2025-11-25"),
            ("last-event-id", "7"),
            ("mcp-method", "tools/call"),
        ]);
        scrub_request(&mut headers);
        assert_eq!(
            names(&headers),
            [
                "accept",
                "content-type",
                "last-event-id",
                "mcp-method",
                "mcp-protocol-version",
                "mcp-session-id"
            ]
        );
    }

    #[test]
    fn responses_lose_set_cookie_and_hop_by_hop() {
        let mut headers = map(&[
            ("set-cookie", "a=b"),
            ("connection", "x-hop"),
            ("x-hop", "1"),
            ("transfer-encoding", "chunked"),
            ("content-type", "text/event-stream"),
            ("mcp-session-id", "s1"),
        ]);
        scrub_response(&mut headers);
        assert_eq!(names(&headers), ["content-type", "mcp-session-id"]);
    }
}
