//! The load: `concurrency` workers, each with its own keep-alive HTTP/1.1 connection, POST the
//! same `tools/call` back to back; a warm-up first, then a fixed measuring window in which
//! every request's latency is recorded.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Barrier;

/// `greet {"name": "Ada"}` as raw JSON-RPC: the example server is stateless, so no
/// `initialize` is needed.
const CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greet","arguments":{"name":"Ada"}}}"#;
pub const EXPECTED: &str = "Hello, Ada!";

/// Which way the call goes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The server process's own `/mcp`, with a platform-signed `Gumstack-Identity`.
    Direct,
    /// `/mcp/greeter` on the platform, with `Authorization: Bearer <access token>`.
    Gateway,
    /// nginx relaying to the server process's `/mcp`, with the same `Gumstack-Identity` as a
    /// direct call (`--mode proxy-cost`).
    Nginx,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Gateway => "gateway",
            Self::Nginx => "nginx",
        }
    }
}

/// Where to send the call and the one credential header it needs.
#[derive(Debug, Clone)]
pub struct Endpoint {
    authority: String,
    path: String,
    credential: (HeaderName, HeaderValue),
}

impl Endpoint {
    pub fn new(target: Target, url: &str, credential: &str) -> anyhow::Result<Self> {
        let uri: Uri = url.parse().with_context(|| format!("URL {url}"))?;
        let name = match target {
            Target::Direct | Target::Nginx => HeaderName::from_static("gumstack-identity"),
            Target::Gateway => AUTHORIZATION,
        };
        Ok(Self {
            authority: uri.authority().context("URL without host")?.to_string(),
            path: uri.path().to_owned(),
            credential: (name, HeaderValue::from_str(credential)?),
        })
    }

    fn request(&self) -> anyhow::Result<Request<Full<Bytes>>> {
        Ok(Request::post(&self.path)
            .header(HOST, &self.authority)
            .header(ACCEPT, "application/json, text/event-stream")
            .header(CONTENT_TYPE, "application/json")
            .header("mcp-protocol-version", "2025-06-18")
            .header(&self.credential.0, &self.credential.1)
            .body(Full::new(Bytes::from_static(CALL.as_bytes())))?)
    }
}

/// One keep-alive connection.
struct Connection(http1::SendRequest<Full<Bytes>>);

impl Connection {
    async fn open(endpoint: &Endpoint) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(&endpoint.authority).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Self(sender))
    }

    /// One call: the status and the whole body.
    async fn call(&mut self, endpoint: &Endpoint) -> anyhow::Result<(u16, Bytes)> {
        self.0.ready().await?;
        let response = self.0.send_request(endpoint.request()?).await?;
        let status = response.status().as_u16();
        Ok((status, response.into_body().collect().await?.to_bytes()))
    }
}

/// One call on a fresh connection; it must be a 200 carrying the greeting.
pub async fn probe(endpoint: &Endpoint) -> anyhow::Result<()> {
    let (status, body) = Connection::open(endpoint).await?.call(endpoint).await?;
    let body = String::from_utf8_lossy(&body);
    ensure!(
        status == 200 && body.contains(EXPECTED),
        "{}: {status} {body}",
        endpoint.path
    );
    Ok(())
}

/// What one phase measured.
#[derive(Debug)]
pub struct Phase {
    pub target: Target,
    pub concurrency: usize,
    /// Requests completed in the window, errors included.
    pub requests: usize,
    /// Responses other than 200, and transport failures.
    pub errors: usize,
    /// From the start of the window until the last worker's last response.
    pub elapsed: Duration,
    /// Latency of every request in the window, in nanoseconds.
    pub latencies: Vec<u64>,
}

impl Phase {
    pub fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `concurrency` workers: each warms up with `warmup / concurrency` calls (at least 5),
/// then all measure together for `window`.
pub async fn run(
    target: Target,
    endpoint: &Endpoint,
    concurrency: usize,
    warmup: usize,
    window: Duration,
) -> anyhow::Result<Phase> {
    let barrier = Arc::new(Barrier::new(concurrency));
    let deadline = Arc::new(OnceLock::<Instant>::new());
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let endpoint = endpoint.clone();
        let (barrier, deadline) = (Arc::clone(&barrier), Arc::clone(&deadline));
        let warmup = (warmup / concurrency).max(5);
        workers.push(tokio::spawn(async move {
            let mut connection = Connection::open(&endpoint).await?;
            for _ in 0..warmup {
                connection.call(&endpoint).await?;
            }
            barrier.wait().await;
            let deadline = *deadline.get_or_init(|| Instant::now() + window);
            let (mut latencies, mut errors) = (Vec::with_capacity(1 << 14), 0);
            while Instant::now() < deadline {
                let start = Instant::now();
                let ok = matches!(connection.call(&endpoint).await, Ok((200, _)));
                latencies.push(start.elapsed().as_nanos() as u64);
                errors += usize::from(!ok);
            }
            anyhow::Ok((latencies, errors, Instant::now()))
        }));
    }
    let (mut latencies, mut errors, mut end) = (Vec::new(), 0, None::<Instant>);
    for worker in workers {
        let (mine, failed, finished) = worker.await??;
        latencies.extend(mine);
        errors += failed;
        end = end.max(Some(finished));
    }
    let start = *deadline.get().context("no worker measured")? - window;
    Ok(Phase {
        target,
        concurrency,
        requests: latencies.len(),
        errors,
        elapsed: end.context("no worker")? - start,
        latencies,
    })
}
