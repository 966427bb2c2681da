//! A stand-in Gumstack platform for tests (cargo feature `testing`).
//!
//! In production a server accepts only calls carrying an identity the platform signed
//! (docs/PROTOCOL.md §2). [`TestPlatform`] plays the platform's part: it serves a JWKS on a
//! loopback port, builds the production [`HostEnv`] that points at it, and signs identities with
//! its [`TestKey`]. Send them in the `Gumstack-Identity` header ([`IDENTITY_HEADER`]).
//!
//! ```no_run
//! # async fn example() {
//! use gumstack::testing::TestPlatform;
//!
//! let platform = TestPlatform::start().await;
//! let env = platform.env(&[("GREETING", "Hello")]);
//! let identity = platform.identity(); // the value of the Gumstack-Identity header
//! # }
//! ```

use std::{
    fmt,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{Json, Router, extract::State, routing::get};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer, SigningKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};

use crate::env::HostEnv;

/// The header that carries the signed identity (`Gumstack-Identity`; header names are
/// case-insensitive).
pub const IDENTITY_HEADER: &str = crate::identity::IDENTITY_HEADER;

/// The JWS `typ` of an identity.
pub const IDENTITY_TYPE: &str = crate::identity::IDENTITY_TYPE;

/// The PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows it.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// An Ed25519 signing key with its key id, as the platform holds one.
pub struct TestKey {
    kid: String,
    signing: SigningKey,
    encoding: EncodingKey,
}

impl fmt::Debug for TestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl TestKey {
    /// A fresh random key named `kid`.
    pub fn generate(kid: impl Into<String>) -> Self {
        let seed: [u8; 32] = random();
        let der = [ED25519_PKCS8_PREFIX.as_slice(), &seed].concat();
        Self {
            kid: kid.into(),
            signing: SigningKey::from_bytes(&seed),
            encoding: EncodingKey::from_ed_der(&der),
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The raw 32-byte public key (the JWK's `x`).
    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// The public key as a JWK (RFC 8037), as the platform's JWKS lists it.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(self.public_key()),
            "kid": self.kid,
            "use": "sig",
            "alg": "EdDSA",
        })
    }

    /// An identity: `claims` signed as the platform signs them (EdDSA, `typ`
    /// [`IDENTITY_TYPE`], this key's `kid`).
    pub fn sign(&self, claims: &Value) -> String {
        let header = Header {
            typ: Some(IDENTITY_TYPE.to_owned()),
            kid: Some(self.kid.clone()),
            ..Header::new(Algorithm::EdDSA)
        };
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("Ed25519 signing succeeds")
    }

    /// A compact JWS with any `header` (which need not be truthful), signed with this key:
    /// for testing what a server refuses.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.signing.sign(message.as_bytes());
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

/// The JWKS the stand-in platform serves, and how often it was asked for.
#[derive(Debug, Default)]
struct Jwks {
    keys: Mutex<Vec<Value>>,
    requests: AtomicUsize,
}

/// A stand-in platform: a JWKS server on `127.0.0.1` and a server id. Stops when dropped.
#[derive(Debug)]
pub struct TestPlatform {
    backend_url: String,
    server_id: String,
    key: TestKey,
    jwks: Arc<Jwks>,
    task: JoinHandle<()>,
}

impl TestPlatform {
    /// Starts serving `GET /.well-known/jwks.json` with one key, [`key`](Self::key), for a new
    /// random server id.
    pub async fn start() -> Self {
        let key = TestKey::generate("test-key-1");
        let jwks = Arc::new(Jwks::default());
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("a free loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let app = Router::new()
            .route("/.well-known/jwks.json", get(serve_jwks))
            .with_state(Arc::clone(&jwks));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let platform = Self {
            backend_url: format!("http://{addr}"),
            server_id: random_uuid(),
            key,
            jwks,
            task,
        };
        platform.publish(&[&platform.key]);
        platform
    }

    /// The `GUMSTACK_BACKEND_URL` of this platform.
    pub fn backend_url(&self) -> &str {
        &self.backend_url
    }

    /// The `GUMSTACK_SERVER_ID` the identities are minted for.
    pub fn server_id(&self) -> &str {
        &self.server_id
    }

    /// The key [`identity`](Self::identity) signs with, published from the start.
    pub fn key(&self) -> &TestKey {
        &self.key
    }

    /// Serves exactly `keys` from now on (key rotation).
    pub fn publish(&self, keys: &[&TestKey]) {
        let jwks = keys.iter().map(|key| key.jwk()).collect();
        *self
            .jwks
            .keys
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = jwks;
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_requests(&self) -> usize {
        self.jwks.requests.load(Ordering::SeqCst)
    }

    /// A production environment (`ENVIRONMENT=production`, `PORT=4100`, `GUMSTACK_SERVER_ID`,
    /// `GUMSTACK_BACKEND_URL`) plus `vars`, as the platform would start the server.
    pub fn env(&self, vars: &[(&str, &str)]) -> HostEnv {
        let mut all = vec![
            ("ENVIRONMENT", "production"),
            ("PORT", "4100"),
            ("GUMSTACK_SERVER_ID", self.server_id.as_str()),
            ("GUMSTACK_BACKEND_URL", self.backend_url.as_str()),
        ];
        all.extend_from_slice(vars);
        HostEnv::from_vars(all).expect("a valid production environment")
    }

    /// Valid claims of a call by a fixed test user to this server, issued now; change them and
    /// sign them with [`TestKey::sign`] to test other cases.
    pub fn claims(&self) -> Value {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_secs();
        json!({
            "iss": "http://gumstack.test",
            "aud": format!("gumstack:server:{}", self.server_id),
            "sub": "7d6f4a52-8f3e-4c1b-9e2a-5b8c0d1e2f3a",
            "email": "ada@example.com",
            "org": "2a4c6e80-1b3d-4f5a-8c7e-9d0f1a2b3c4d",
            "grp": "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
            "cid": "https://client.example/metadata.json",
            "jti": random_uuid(),
            "iat": now,
            "exp": now + 600,
        })
    }

    /// A valid identity: [`claims`](Self::claims) signed with [`key`](Self::key).
    pub fn identity(&self) -> String {
        self.key.sign(&self.claims())
    }
}

impl Drop for TestPlatform {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_jwks(State(jwks): State<Arc<Jwks>>) -> Json<Value> {
    jwks.requests.fetch_add(1, Ordering::SeqCst);
    let keys = jwks
        .keys
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .clone();
    Json(json!({ "keys": keys }))
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0; N];
    getrandom::fill(&mut bytes).expect("the OS has randomness");
    bytes
}

/// A random (version 4) UUID in its canonical form.
fn random_uuid() -> String {
    let mut bytes: [u8; 16] = random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
