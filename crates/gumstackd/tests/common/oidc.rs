//! A real third-party OAuth 2.0 / OpenID Connect provider for the tests of the `oauth` auth type:
//! `oidc-provider` run by tests/js/oidc-provider.mjs, with a test layer of ours in front of it
//! that counts what reaches its endpoints and can make the token endpoint fail on demand.
//!
//! Needs Node.js (>= 20) and `npm ci --prefix tests/js`; like the TypeScript client test, it
//! never installs anything and fails (never skips) when either is missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, ChildStdout, Command};

use super::repo_root;

/// How long the provider may take to print its endpoints (Node startup, RSA key generation).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

pub const CLIENT_ID: &str = "gumstack-test-client";
pub const CLIENT_SECRET: &str = "gumstack-test-secret";

/// The endpoints the script prints once it listens (taken from the provider's discovery).
#[derive(Debug, Clone, Deserialize)]
struct Endpoints {
    issuer: String,
    authorize_url: String,
    token_url: String,
    userinfo_url: String,
    revocation_url: String,
}

/// A running `oidc-provider` with one confidential client (`client_secret_basic`), killed when
/// dropped.
#[derive(Debug)]
pub struct OidcProvider {
    child: Child,
    // Kept open so that the script never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
    endpoints: Endpoints,
    http: reqwest::Client,
}

/// What the test layer saw, from `GET /__test/stats`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Stats {
    /// Token requests that reached the provider, by grant type (faulted ones are not here).
    pub token_requests: TokenRequests,
    /// [`token_hash`] of each refresh token sent to the provider, in order.
    pub refresh_tokens_used: Vec<String>,
    /// Refresh grants whose token had already been sent to the provider before.
    pub refresh_token_reuse: u64,
    /// Refresh grants the provider refused (any non-2xx answer).
    pub refresh_token_errors: u64,
    /// Refresh grants answered by the fault injection; they never reached the provider.
    pub faulted: u64,
    /// [`token_hash`] of the refresh token of each faulted grant, in order.
    pub faulted_refresh_tokens: Vec<String>,
    /// Requests to the revocation endpoint.
    pub revocations: u64,
    /// Requests to the userinfo endpoint, and how many of them the provider answered with 200.
    pub userinfo: u64,
    pub userinfo_ok: u64,
    /// The query parameters of each request to the authorization endpoint, in order.
    pub authorizations: Vec<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub struct TokenRequests {
    pub authorization_code: u64,
    pub refresh_token: u64,
    /// Any other grant type (the client is not allowed any: the provider refuses them).
    pub other: u64,
}

/// How the token endpoint answers refresh grants, instead of the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No fault: refresh grants reach the provider.
    None,
    /// 503 with a JSON body (`temporarily_unavailable`).
    Unavailable,
    /// 429 with `Retry-After: 1`.
    TooManyRequests,
    /// No answer for 30 s (then 504), or until the client gives up.
    Timeout,
    /// 401 `{"error":"invalid_client"}`.
    InvalidClient,
    /// 400 `{"error":"invalid_grant",...}`.
    InvalidGrant,
}

impl Fault {
    fn mode(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Unavailable => "503",
            Self::TooManyRequests => "429",
            Self::Timeout => "timeout",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
        }
    }
}

/// The hash under which [`Stats`] lists a refresh token (SHA-256, lowercase hex), so that tests
/// can tell which token was used without the layer keeping tokens in the clear.
pub fn token_hash(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

impl OidcProvider {
    /// Starts the provider on a free loopback port, allowing `redirect_uris` for its client and
    /// issuing access tokens that live `access_ttl` (whole seconds, at least 1).
    pub async fn start(redirect_uris: &[&str], access_ttl: Duration) -> Self {
        let js_dir = repo_root().join("tests/js");
        check_node(&js_dir);
        let ttl = access_ttl.as_secs().max(1).to_string();
        let mut command = Command::new("node");
        command
            .arg(js_dir.join("oidc-provider.mjs"))
            .args(["--port", "0", "--access-ttl", &ttl])
            .args(["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET]);
        for uri in redirect_uris {
            command.args(["--redirect-uri", uri]);
        }
        let mut child = command
            .current_dir(&js_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // Its log (each interaction, each refused grant) shows up with a failing test.
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let read = tokio::time::timeout(STARTUP_TIMEOUT, stdout.read_line(&mut line))
            .await
            .unwrap_or_else(|_| {
                panic!("oidc-provider.mjs printed no endpoints within {STARTUP_TIMEOUT:?}")
            })
            .expect("reading oidc-provider.mjs's stdout");
        assert!(
            read > 0,
            "oidc-provider.mjs exited before listening ({:?}); its stderr is above",
            child.try_wait()
        );
        let endpoints: Endpoints = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("oidc-provider.mjs printed {line:?}: {e}"));
        Self {
            child,
            _stdout: stdout,
            endpoints,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        }
    }

    /// `http://127.0.0.1:PORT`, exactly as in the provider's discovery document.
    pub fn issuer(&self) -> &str {
        &self.endpoints.issuer
    }

    pub fn authorize_url(&self) -> &str {
        &self.endpoints.authorize_url
    }

    pub fn token_url(&self) -> &str {
        &self.endpoints.token_url
    }

    pub fn userinfo_url(&self) -> &str {
        &self.endpoints.userinfo_url
    }

    pub fn revocation_url(&self) -> &str {
        &self.endpoints.revocation_url
    }

    pub fn client_id(&self) -> &str {
        CLIENT_ID
    }

    pub fn client_secret(&self) -> &str {
        CLIENT_SECRET
    }

    pub async fn stats(&self) -> Stats {
        self.control(reqwest::Method::GET, "stats", None).await
    }

    /// Makes the next `count` refresh grants (every one until the next call when `None`)
    /// answer with `fault` instead of reaching the provider.
    pub async fn set_fault(&self, fault: Fault, count: Option<u32>) {
        let body = serde_json::json!({ "mode": fault.mode(), "count": count });
        let _: Value = self
            .control(reqwest::Method::POST, "fault", Some(body))
            .await;
    }

    /// Revokes every grant the provider issued, so that the next refresh gets a real
    /// `invalid_grant` from the provider; returns how many grants there were.
    pub async fn revoke_all(&self) -> u64 {
        let answer: Value = self
            .control(reqwest::Method::POST, "revoke-all", None)
            .await;
        answer["revoked"]
            .as_u64()
            .expect("a count of revoked grants")
    }

    async fn control<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        endpoint: &str,
        body: Option<Value>,
    ) -> T {
        let url = format!("{}/__test/{endpoint}", self.endpoints.issuer);
        let mut request = self.http.request(method, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{url} answered {status}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url} answered {text:?}: {e}"))
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        // `kill_on_drop` alone leaves the reaping to the runtime, which may already be gone:
        // wait (briefly) for the killed process here so that no zombie outlives the test.
        let _ = self.child.start_kill();
        for _ in 0..100 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

fn missing(what: &str) -> ! {
    let ci = if in_ci() {
        " (CI must do this before the tests)"
    } else {
        ""
    };
    panic!(
        "the oidc-provider tests need Node.js (>= 20) and tests/js installed, but {what}: \
         install Node.js with npm, then run `npm ci --prefix tests/js`{ci}"
    )
}

/// Fails unless `node` >= 20 runs and tests/js/node_modules holds the `oidc-provider` version
/// that tests/js/package.json pins.
fn check_node(js_dir: &Path) {
    match std::process::Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {
            let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            let major = version
                .trim_start_matches('v')
                .split('.')
                .next()
                .and_then(|m| m.parse::<u32>().ok());
            if major.is_none_or(|m| m < 20) {
                missing(&format!("`node --version` is {version}"));
            }
        }
        Ok(out) => missing(&format!(
            "`node --version` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing("node is not on PATH"),
        Err(e) => missing(&format!("node could not be run ({e})")),
    }
    let read_json = |path: PathBuf| -> Option<Value> {
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    };
    let manifest = read_json(js_dir.join("package.json")).expect("tests/js/package.json parses");
    let pinned = manifest["dependencies"]["oidc-provider"]
        .as_str()
        .expect("tests/js/package.json pins oidc-provider");
    let installed = read_json(js_dir.join("node_modules/oidc-provider/package.json"));
    match installed.as_ref().and_then(|p| p["version"].as_str()) {
        Some(version) if version == pinned => {}
        Some(version) => missing(&format!(
            "tests/js/node_modules holds oidc-provider {version}, not {pinned}"
        )),
        None => missing("tests/js/node_modules has no oidc-provider"),
    }
}
