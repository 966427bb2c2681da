//! The way to the server processes: one pooled HTTP/1.1 client (hyper-util's legacy
//! [`Client`]) shared by every request, bodies streamed both ways.

use std::{error::Error as StdError, fmt::Write as _, net::SocketAddr, time::Duration};

use axum::body::Body;
use http::{Request, Response, Uri};
use http_body_util::combinators::MapErr;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};

use crate::settings::GatewayLimits;

/// A request body on its way upstream: the client's body, its errors marked as the client's,
/// cut off at the size limit.
pub(crate) type UpstreamBody = Limited<MapErr<Body, fn(axum::Error) -> ClientBodyError>>;

/// The client's request body could not be read (a malformed chunk, a connection cut midway):
/// the request is at fault, not the server it was going to.
#[derive(Debug, thiserror::Error)]
#[error("the request body could not be read: {0}")]
pub(crate) struct ClientBodyError(axum::Error);

/// The client's body on its way upstream, cut off after `limit` bytes.
pub(crate) fn upstream_body(body: Body, limit: usize) -> UpstreamBody {
    Limited::new(body.map_err(ClientBodyError as fn(_) -> _), limit)
}

/// Why a forwarded request got no response.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// The client's body grew past the limit while it was being streamed.
    #[error("request body over the limit")]
    BodyTooLarge,
    /// The client's body broke off or was malformed while it was being streamed.
    #[error(transparent)]
    ClientBody(hyper_util::client::legacy::Error),
    /// No response headers within the header timeout.
    #[error("no response headers in time")]
    Timeout,
    /// The upstream address and the client's query do not make a URI.
    #[error("invalid upstream URI: {0}")]
    Uri(http::Error),
    /// Connection refused, reset, protocol error, …
    #[error(transparent)]
    Failed(hyper_util::client::legacy::Error),
}

#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    client: Client<HttpConnector, UpstreamBody>,
    header_timeout: Duration,
}

impl Upstream {
    pub(crate) fn new(limits: &GatewayLimits) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(limits.upstream_connect_timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(limits.pool_idle_timeout)
            .build(connector);
        Self {
            client,
            header_timeout: limits.upstream_header_timeout,
        }
    }

    /// Sends `request` and waits for the response headers; the body streams afterwards.
    pub(crate) async fn send(
        &self,
        request: Request<UpstreamBody>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        match tokio::time::timeout(self.header_timeout, self.client.request(request)).await {
            Err(_) => Err(UpstreamError::Timeout),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) if caused_by::<LengthLimitError>(&error) => {
                Err(UpstreamError::BodyTooLarge)
            }
            Ok(Err(error)) if caused_by::<ClientBodyError>(&error) => {
                Err(UpstreamError::ClientBody(error))
            }
            Ok(Err(error)) => Err(UpstreamError::Failed(error)),
        }
    }
}

/// `http://{upstream}/mcp` with the client's query, if any.
pub(crate) fn mcp_uri(upstream: SocketAddr, query: Option<&str>) -> Result<Uri, http::Error> {
    let mut uri = String::with_capacity(32 + query.map_or(0, str::len));
    // Writing to a String cannot fail.
    let _ = write!(uri, "http://{upstream}/mcp");
    if let Some(query) = query {
        uri.push('?');
        uri.push_str(query);
    }
    Ok(Uri::try_from(uri)?)
}

fn caused_by<E: StdError + 'static>(error: &(dyn StdError + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<E>() {
            return true;
        }
        cause = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_is_always_mcp_and_the_query_is_kept() {
        let addr: SocketAddr = "127.0.0.1:4100".parse().unwrap();
        assert_eq!(mcp_uri(addr, None).unwrap(), "http://127.0.0.1:4100/mcp");
        assert_eq!(
            mcp_uri(addr, Some("a=1&b")).unwrap(),
            "http://127.0.0.1:4100/mcp?a=1&b"
        );
        let addr: SocketAddr = "[::1]:4100".parse().unwrap();
        assert_eq!(mcp_uri(addr, None).unwrap(), "http://[::1]:4100/mcp");
    }
}
