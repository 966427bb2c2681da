//! A slow proxy in front of the provider (for the crash tests): the server's provider code is
//! pointed at it instead of the provider's token endpoint, and it holds each request for a
//! while before passing it on, after the provider answered, or both — so that a test can kill
//! the platform while a code exchange or a refresh is in flight, on either side of the moment
//! the provider consumed the code or rotated the refresh token.
//!
//! Once a request has been passed on, the provider's side completes whatever happens to the
//! platform (the forwarding runs in its own task), as over a real network.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// What a request to the token endpoint asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `grant_type=authorization_code`: the connect flow's code exchange.
    Code,
    /// `grant_type=refresh_token`.
    Refresh,
    /// Anything else (userinfo, revocation, other grants).
    Other,
}

impl Kind {
    const ALL: [Self; 3] = [Self::Code, Self::Refresh, Self::Other];

    fn index(self) -> usize {
        self as usize
    }
}

/// How long requests of one [`Kind`] are held: a random time in `[lo, hi)` milliseconds before
/// they are passed on, and another after the provider answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delay {
    pub before_ms: (u64, u64),
    pub after_ms: (u64, u64),
}

impl Delay {
    /// Holds every request `ms` milliseconds before it reaches the provider.
    pub fn before(ms: u64) -> Self {
        Self {
            before_ms: (ms, ms + 1),
            after_ms: (0, 1),
        }
    }

    /// Holds every answer `ms` milliseconds after the provider gave it.
    pub fn after(ms: u64) -> Self {
        Self {
            before_ms: (0, 1),
            after_ms: (ms, ms + 1),
        }
    }
}

/// How many requests of one kind reached each step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests that reached the proxy.
    pub arrived: u64,
    /// Requests the provider answered (it consumed the code or rotated the token), or that
    /// failed to reach it.
    pub answered: u64,
    /// Answers whose hold ended: handed back to the platform, if it was still there.
    pub delivered: u64,
}

#[derive(Default)]
struct Counters {
    arrived: AtomicU64,
    answered: AtomicU64,
    delivered: AtomicU64,
}

struct Shared {
    /// The provider's issuer, set once it runs.
    upstream: Mutex<String>,
    http: reqwest::Client,
    delays: Mutex<[Delay; 3]>,
    counters: [Counters; 3],
}

/// The proxy, serving until dropped.
pub struct SlowProxy {
    base: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

/// A random number in `[lo, hi)` (`lo` when the range is empty).
pub fn random_in(lo: u64, hi: u64) -> u64 {
    if hi <= lo {
        return lo;
    }
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    lo + u64::from_le_bytes(bytes) % (hi - lo)
}

fn kind_of(uri: &Uri, body: &Bytes) -> Kind {
    if uri.path() != "/token" {
        return Kind::Other;
    }
    let form = reqwest::Url::parse(&format!("http://form/?{}", String::from_utf8_lossy(body))).ok();
    let grant = form.and_then(|url| {
        url.query_pairs()
            .find(|(name, _)| name == "grant_type")
            .map(|(_, value)| value.into_owned())
    });
    match grant.as_deref() {
        Some("authorization_code") => Kind::Code,
        Some("refresh_token") => Kind::Refresh,
        _ => Kind::Other,
    }
}

async fn forward(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let kind = kind_of(&uri, &body);
    shared.counters[kind.index()]
        .arrived
        .fetch_add(1, Ordering::SeqCst);
    let delay = shared.delays.lock().unwrap()[kind.index()];
    let before = Duration::from_millis(random_in(delay.before_ms.0, delay.before_ms.1));
    let after = Duration::from_millis(random_in(delay.after_ms.0, delay.after_ms.1));
    let task_shared = Arc::clone(&shared);
    // Its own task: once passed on, the exchange with the provider completes even if the
    // platform hangs up (it was killed).
    let task = tokio::spawn(async move {
        let shared = task_shared;
        tokio::time::sleep(before).await;
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let upstream = shared.upstream.lock().unwrap().clone();
        let mut request = shared.http.request(method, format!("{upstream}{path}"));
        for name in [header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT] {
            if let Some(value) = headers.get(&name) {
                request = request.header(name, value);
            }
        }
        let answer = request.body(body).send().await;
        let counters = &shared.counters[kind.index()];
        let response = match answer {
            Ok(answer) => {
                let status = answer.status();
                let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
                let bytes = answer.bytes().await.unwrap_or_default();
                counters.answered.fetch_add(1, Ordering::SeqCst);
                let mut response = (status, bytes).into_response();
                if let Some(content_type) = content_type {
                    response
                        .headers_mut()
                        .insert(header::CONTENT_TYPE, content_type);
                }
                response
            }
            Err(error) => {
                counters.answered.fetch_add(1, Ordering::SeqCst);
                (StatusCode::BAD_GATEWAY, format!("slow proxy: {error}")).into_response()
            }
        };
        tokio::time::sleep(after).await;
        counters.delivered.fetch_add(1, Ordering::SeqCst);
        response
    });
    task.await.unwrap_or_else(|error| {
        (StatusCode::BAD_GATEWAY, format!("slow proxy: {error}")).into_response()
    })
}

impl SlowProxy {
    /// Listens, holding nothing until told to; it proxies to the provider given to
    /// [`forward_to`](Self::forward_to). (The provider's redirect URIs name the platform's
    /// address, the platform's settings name the proxy's: the proxy is started first.)
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            upstream: Mutex::new(String::new()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            delays: Mutex::new([Delay::default(); 3]),
            counters: Default::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = axum::Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { base, shared, task }
    }

    /// Proxies to `upstream` (the provider's issuer, `http://127.0.0.1:PORT`) from now on.
    pub fn forward_to(&self, upstream: &str) {
        *self.shared.upstream.lock().unwrap() = upstream.trim_end_matches('/').to_owned();
    }

    /// The proxy's URL for the provider's `path` (`/token`, `/me`: tests/js/oidc-provider.mjs
    /// serves its endpoints on fixed paths).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn set_delay(&self, kind: Kind, delay: Delay) {
        self.shared.delays.lock().unwrap()[kind.index()] = delay;
    }

    /// Holds nothing any more (requests held already keep their delay).
    pub fn clear_delays(&self) {
        for kind in Kind::ALL {
            self.set_delay(kind, Delay::default());
        }
    }

    pub fn counts(&self, kind: Kind) -> Counts {
        let c = &self.shared.counters[kind.index()];
        // Later steps first, so that a snapshot never shows more answered than arrived.
        let delivered = c.delivered.load(Ordering::SeqCst);
        let answered = c.answered.load(Ordering::SeqCst);
        Counts {
            arrived: c.arrived.load(Ordering::SeqCst),
            answered,
            delivered,
        }
    }

    /// Waits (polling every 2 ms, `timeout` at most) until the counts of `kind` satisfy `done`.
    pub async fn wait_for(&self, kind: Kind, timeout: Duration, done: impl Fn(Counts) -> bool) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let counts = self.counts(kind);
            if done(counts) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the proxy's {kind:?} requests never got there: {counts:?}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
