//! The platform's signing keys: [`KeySet`] fetches
//! `GET $GUMSTACK_BACKEND_URL/.well-known/jwks.json`, keeps its Ed25519 keys by `kid`, and
//! fetches it again when an identity names a key it does not know (the platform rotated its
//! key), at most once every [`REFETCH_INTERVAL`] so that forged `kid`s cannot make the server
//! hammer the platform. A fetch that fails keeps the keys already known.
//!
//! The fetch is a plain `http://` GET (`HostEnv` accepts no other scheme: the platform is on
//! loopback) with the host's client of the platform (`platform_api::http_client`: no redirect,
//! no proxy), bounded in time and size.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use tokio::sync::Mutex;

/// The shortest time between two fetches of the key set.
pub(crate) const REFETCH_INTERVAL: Duration = Duration::from_secs(5);
/// Bound on one fetch: the platform is on loopback, so anything slower is an outage.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A key set is a few hundred bytes; refuse anything absurd.
const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// Why no key could be found for a `kid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyError {
    /// The platform does not publish this key (as of the latest fetch).
    Unknown,
    /// The key set could not be fetched (the cause is in the log).
    Unavailable,
}

/// The platform's public keys, fetched on demand and cached.
pub(crate) struct KeySet {
    http: reqwest::Client,
    url: String,
    keys: RwLock<Arc<HashMap<String, DecodingKey>>>,
    /// The latest fetch; the lock also makes concurrent requests share one fetch.
    last_fetch: Mutex<Option<Fetch>>,
}

#[derive(Debug, Clone, Copy)]
struct Fetch {
    at: Instant,
    failed: bool,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("url", &self.url)
            .field("kids", &self.cached_kids())
            .finish_non_exhaustive()
    }
}

impl KeySet {
    /// The key set of the platform at `backend_url` (no trailing slash), fetched with `http`.
    /// Nothing is fetched until a key is needed.
    pub(crate) fn new(http: reqwest::Client, backend_url: &str) -> Self {
        Self {
            http,
            url: format!("{backend_url}/.well-known/jwks.json"),
            keys: RwLock::default(),
            last_fetch: Mutex::new(None),
        }
    }

    /// The key named `kid`. `now` is the current time (a parameter so tests can move it).
    pub(crate) async fn key(&self, kid: &str, now: Instant) -> Result<DecodingKey, KeyError> {
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        let mut last_fetch = self.last_fetch.lock().await;
        // Another request may have fetched the key set while this one waited for the lock.
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        if let Some(fetch) = *last_fetch
            && now.saturating_duration_since(fetch.at) < REFETCH_INTERVAL
        {
            return Err(if fetch.failed {
                KeyError::Unavailable
            } else {
                KeyError::Unknown
            });
        }
        let fetched = self.fetch().await;
        *last_fetch = Some(Fetch {
            at: now,
            failed: fetched.is_err(),
        });
        match fetched {
            Ok(keys) => {
                *self
                    .keys
                    .write()
                    .unwrap_or_else(|poison| poison.into_inner()) = Arc::new(keys);
                self.cached(kid).ok_or(KeyError::Unknown)
            }
            Err(cause) => {
                tracing::warn!(url = %self.url, %cause, "cannot fetch the platform's signing keys");
                Err(KeyError::Unavailable)
            }
        }
    }

    fn cached(&self, kid: &str) -> Option<DecodingKey> {
        let keys = self
            .keys
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        keys.get(kid).cloned()
    }

    fn cached_kids(&self) -> Vec<String> {
        let keys = self
            .keys
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        keys.keys().cloned().collect()
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let response = self
            .http
            .get(&self.url)
            .timeout(FETCH_TIMEOUT)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|error| error.to_string())?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        let too_large = || format!("the key set is larger than {MAX_DOCUMENT_BYTES} bytes");
        if response
            .content_length()
            .is_some_and(|length| length > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(too_large());
        }
        let body = response.bytes().await.map_err(|error| error.to_string())?;
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(too_large());
        }
        let document: Document =
            serde_json::from_slice(&body).map_err(|error| format!("not a JWKS: {error}"))?;
        let keys: HashMap<_, _> = document.keys.iter().filter_map(signing_key).collect();
        if keys.is_empty() {
            tracing::warn!(url = %self.url, "the platform's key set has no Ed25519 signing key");
        }
        Ok(keys)
    }
}

/// A JWKS document (RFC 7517). Keys are read one by one so a key of another kind does not
/// spoil the set.
#[derive(Deserialize)]
struct Document {
    keys: Vec<serde_json::Value>,
}

/// An OKP key (RFC 8037) as the platform publishes it.
#[derive(Deserialize)]
struct OkpKey {
    kty: String,
    crv: Option<String>,
    x: Option<String>,
    kid: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
}

/// `(kid, key)` for an Ed25519 signature key; `None` for anything else.
fn signing_key(value: &serde_json::Value) -> Option<(String, DecodingKey)> {
    let jwk = OkpKey::deserialize(value).ok()?;
    let usable = jwk.kty == "OKP"
        && jwk.crv.as_deref() == Some("Ed25519")
        && jwk.usage.as_deref().is_none_or(|usage| usage == "sig")
        && jwk.alg.as_deref().is_none_or(|alg| alg == "EdDSA");
    let kid = jwk.kid.filter(|kid| !kid.is_empty())?;
    let key = DecodingKey::from_ed_components(jwk.x.as_deref()?).ok()?;
    let is_ed25519_point = key.try_get_as_bytes().is_ok_and(|bytes| bytes.len() == 32);
    if usable && is_ed25519_point {
        Some((kid, key))
    } else {
        tracing::debug!(%kid, "skipping a platform key that is not an Ed25519 signature key");
        None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{
        platform_api::http_client,
        testing::{TestKey, TestPlatform},
    };

    fn key_set(backend_url: &str) -> KeySet {
        KeySet::new(http_client().unwrap(), backend_url)
    }

    #[test]
    fn only_ed25519_signature_keys_are_used() {
        let x = TestKey::generate("k").jwk()["x"].clone();
        let okp = |extra: serde_json::Value| {
            let mut key = json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": "k" });
            key.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            key
        };
        assert!(signing_key(&okp(json!({}))).is_some());
        assert!(signing_key(&okp(json!({ "use": "sig", "alg": "EdDSA" }))).is_some());
        for unusable in [
            okp(json!({ "use": "enc" })),
            okp(json!({ "alg": "ES256" })),
            okp(json!({ "crv": "X25519" })),
            okp(json!({ "kid": "" })),
            okp(json!({ "x": "AAAA" })),
            okp(json!({ "kty": "oct", "k": "c2VjcmV0" })),
            json!({ "kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "k" }),
        ] {
            assert!(signing_key(&unusable).is_none(), "{unusable}");
        }
    }

    #[tokio::test]
    async fn a_rotated_key_is_fetched_at_most_once_per_interval() {
        let platform = TestPlatform::start().await;
        let keys = key_set(platform.backend_url());
        let start = Instant::now();
        let old = platform.key().kid().to_owned();

        // The first use fetches the key set; later uses are served from the cache.
        assert!(keys.key(&old, start).await.is_ok());
        assert!(keys.key(&old, start).await.is_ok());
        assert_eq!(platform.jwks_requests(), 1);

        // The platform rotates to a new key. Within the interval the new kid is unknown and the
        // key set is not fetched again, however many requests name it.
        let new = TestKey::generate("rotated");
        platform.publish(&[&new]);
        let soon = start + REFETCH_INTERVAL / 2;
        for _ in 0..5 {
            assert_eq!(
                keys.key(new.kid(), soon).await.unwrap_err(),
                KeyError::Unknown
            );
        }
        assert_eq!(platform.jwks_requests(), 1);

        // After the interval the unknown kid triggers one fetch, which finds the new key.
        let later = start + REFETCH_INTERVAL;
        assert!(keys.key(new.kid(), later).await.is_ok());
        assert_eq!(platform.jwks_requests(), 2);
        // The retired key is gone with the old set.
        let after = later + REFETCH_INTERVAL;
        assert_eq!(keys.key(&old, after).await.unwrap_err(), KeyError::Unknown);
        assert_eq!(platform.jwks_requests(), 3);
    }

    #[tokio::test]
    async fn an_unreachable_key_set_is_unavailable_and_not_retried_at_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let keys = key_set(&url);
        let now = Instant::now();
        assert_eq!(keys.key("k", now).await.unwrap_err(), KeyError::Unavailable);
        // Within the interval the failure is remembered rather than retried.
        assert_eq!(keys.key("k", now).await.unwrap_err(), KeyError::Unavailable);
    }

    /// A platform that accepts the connection but never answers: the fetch gives up after
    /// [`FETCH_TIMEOUT`] (the paused clock jumps there as soon as nothing else can run).
    #[tokio::test(start_paused = true)]
    async fn a_silent_key_set_times_out() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let keys = key_set(&format!("http://{}", silent.local_addr().unwrap()));
        let started = tokio::time::Instant::now();
        assert_eq!(
            keys.key("k", Instant::now()).await.unwrap_err(),
            KeyError::Unavailable
        );
        assert!(
            started.elapsed() <= FETCH_TIMEOUT,
            "{:?}",
            started.elapsed()
        );
    }
}
