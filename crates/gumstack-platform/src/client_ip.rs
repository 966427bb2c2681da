//! The address of the client behind a request, for per-address limits (login attempts, client
//! registrations): the peer's address, or — when the peer is a reverse proxy the operator
//! trusts (`gumstackd serve --trusted-proxy IP`) — the nearest address in `X-Forwarded-For`
//! that is not itself a trusted proxy. Without trusted proxies the header is ignored: anyone
//! can write it.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

/// The reverse proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<Vec<IpAddr>>);

impl TrustedProxies {
    pub fn new(addresses: Vec<IpAddr>) -> Self {
        Self(Arc::new(addresses))
    }

    /// The client of a request that came from `peer` with `headers`.
    pub fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.0.contains(&peer) {
            return peer;
        }
        // `client, proxy1, proxy2`: each proxy appends the address it received from. Walk from
        // the right past our own proxies; what the client wrote itself (further left) is never
        // reached unless every hop after it is trusted.
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) if self.0.contains(&ip) => client = ip,
                Ok(ip) => return ip,
                // A hop that is not an address: stop at the last proxy we trust.
                Err(_) => return client,
            }
        }
        client
    }
}

/// The client address of a request (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S> FromRequestParts<S> for ClientIp
where
    S: Send + Sync,
    TrustedProxies: FromRef<S>,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Without connection info (a router driven in-process) the client is unknown: all
        // such requests share one address.
        let peer = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(addr)| addr.ip());
        Ok(Self(
            TrustedProxies::from_ref(state).client_of(peer, &parts.headers),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append("x-forwarded-for", value.parse().unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy() {
        let none = TrustedProxies::default();
        let proxy = TrustedProxies::new(vec![ip("10.0.0.1"), ip("10.0.0.2")]);
        let forwarded = headers(&["198.51.100.7"]);
        assert_eq!(none.client_of(ip("10.0.0.1"), &forwarded), ip("10.0.0.1"));
        assert_eq!(
            proxy.client_of(ip("203.0.113.9"), &forwarded),
            ip("203.0.113.9")
        );
        assert_eq!(
            proxy.client_of(ip("10.0.0.1"), &forwarded),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn what_the_client_wrote_itself_is_not_believed() {
        let proxy = TrustedProxies::new(vec![ip("10.0.0.1"), ip("10.0.0.2")]);
        // The client sent `X-Forwarded-For: 1.1.1.1`; the proxies appended the real addresses.
        let chain = headers(&["1.1.1.1, 198.51.100.7, 10.0.0.2"]);
        assert_eq!(proxy.client_of(ip("10.0.0.1"), &chain), ip("198.51.100.7"));
        let split = headers(&["1.1.1.1", "198.51.100.7"]);
        assert_eq!(proxy.client_of(ip("10.0.0.1"), &split), ip("198.51.100.7"));
        let garbage = headers(&["1.1.1.1, not-an-address"]);
        assert_eq!(proxy.client_of(ip("10.0.0.1"), &garbage), ip("10.0.0.1"));
        assert_eq!(
            proxy.client_of(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
    }
}
