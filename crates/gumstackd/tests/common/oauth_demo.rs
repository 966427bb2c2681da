//! A demo platform whose `account` server (examples/oauth-server) is pointed at a running
//! `oidc-provider` ([`super::oidc`]): what the `oauth` end-to-end and browser tests start from.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::oidc::{OidcProvider, Stats};
use super::{Browser, Running, csrf_of, page};

/// A demo platform (refreshing on demand only, 1 s margin) with the example `account` server
/// pointed at a running provider.
pub struct World {
    pub _demo: Running,
    pub base: String,
    pub mcp_url: String,
    pub admin_email: String,
    pub admin_password: String,
    pub admin_token: String,
    pub provider: OidcProvider,
    pub data_dir: PathBuf,
    pub http: reqwest::Client,
    pub _dir: tempfile::TempDir,
}

pub const REFRESH_ARGS: [&str; 4] = ["--refresh-interval-secs", "0", "--refresh-margin-secs", "1"];

pub fn demo_on(data_dir: &Path) -> Running {
    demo_with(data_dir, "127.0.0.1:0", &REFRESH_ARGS)
}

/// `gumstackd demo` listening on `listen` with `refresh_args` (its refresh options).
pub fn demo_with(data_dir: &Path, listen: &str, refresh_args: &[&str]) -> Running {
    let mut args = vec![
        "demo",
        "--listen",
        listen,
        "--data-dir",
        data_dir.to_str().unwrap(),
    ];
    args.extend(refresh_args);
    Running::start(&args, &[])
}

/// Reads the demo's banner: (base URL, admin email, admin password, account server MCP URL).
pub fn banner(demo: &mut Running) -> (String, String, String, String) {
    let base = demo.read_until("dashboard: ");
    let login = demo.read_until("login: ");
    let (email, password) = login.split_once(" / ").unwrap();
    loop {
        let line = demo.read_until("server: ");
        if let Some(url) = line.strip_prefix("account (oauth) ") {
            return (base, email.to_owned(), password.to_owned(), url.to_owned());
        }
    }
}

pub fn token_for(data_dir: &Path) -> String {
    let out = std::process::Command::new(super::gumstackd())
        .args(["token", "create", "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl World {
    pub async fn new(access_ttl: Duration) -> Self {
        Self::with_env(access_ttl, &[]).await
    }

    /// Like [`new`](Self::new), with more env vars for the `account` server (e.g. a short
    /// `OAUTH_TIMEOUT_SECS`).
    pub async fn with_env(access_ttl: Duration, extra_env: &[(&str, &str)]) -> Self {
        Self::start(access_ttl, extra_env, &REFRESH_ARGS).await
    }

    /// Like [`new`](Self::new), with the demo's refresh options `refresh_args` instead of
    /// [`REFRESH_ARGS`].
    pub async fn with_refresh_args(access_ttl: Duration, refresh_args: &[&str]) -> Self {
        Self::start(access_ttl, &[], refresh_args).await
    }

    async fn start(
        access_ttl: Duration,
        extra_env: &[(&str, &str)],
        refresh_args: &[&str],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let mut demo = demo_with(&data_dir, "127.0.0.1:0", refresh_args);
        let (base, admin_email, admin_password, mcp_url) = banner(&mut demo);
        assert_eq!(mcp_url, format!("{base}/mcp/account"));
        let admin_token = token_for(&data_dir);
        let provider = OidcProvider::start(&[&format!("{base}/auth/callback")], access_ttl).await;
        let world = Self {
            _demo: demo,
            base,
            mcp_url,
            admin_email,
            admin_password,
            admin_token,
            provider,
            data_dir,
            http: reqwest::Client::new(),
            _dir: dir,
        };
        world.configure_provider(extra_env).await;
        world
    }

    pub async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.admin_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// The developer's part: the provider's settings as env vars, then a redeploy.
    pub async fn configure_provider(&self, extra_env: &[(&str, &str)]) {
        let p = &self.provider;
        for (name, value) in [
            ("OAUTH_CLIENT_ID", p.client_id()),
            ("OAUTH_CLIENT_SECRET", p.client_secret()),
            ("OAUTH_AUTHORIZE_URL", p.authorize_url()),
            ("OAUTH_TOKEN_URL", p.token_url()),
            ("OAUTH_USERINFO_URL", p.userinfo_url()),
            ("OAUTH_REVOCATION_URL", p.revocation_url()),
        ]
        .into_iter()
        .chain(extra_env.iter().copied())
        {
            self.api(
                reqwest::Method::PUT,
                &format!("/api/servers/account/env/{name}"),
                Some(json!({ "value": value })),
            )
            .await;
        }
        let redeploy = self
            .api(reqwest::Method::POST, "/api/servers/account/redeploy", None)
            .await;
        let generation = redeploy["deploy_generation"].as_i64().unwrap();
        self.wait_live(generation).await;
    }

    pub async fn wait_live(&self, generation: i64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let list = self
                .api(
                    reqwest::Method::GET,
                    "/api/servers/account/deployments",
                    None,
                )
                .await;
            let live = list["deployments"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["generation"].as_i64() >= Some(generation) && d["status"] == "live");
            if live {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no live deployment: {list}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A new member with a password; (email, password).
    pub async fn user(&self, name: &str) -> (String, String) {
        let email = format!("{name}@example.com");
        let password = format!("{name}-password-0123456789");
        self.api(
            reqwest::Method::POST,
            "/api/users",
            Some(json!({ "email": email, "role": "member", "password": password })),
        )
        .await;
        (email, password)
    }

    pub async fn stats(&self) -> Stats {
        self.provider.stats().await
    }
}

/// Presses Connect on the account page; the provider's authorization URL.
pub async fn press_connect(browser: &Browser, base: &str) -> String {
    let (_, page) = page(browser, &format!("{base}/connections/account")).await;
    let response = browser
        .http
        .post(format!("{base}/connections/account/oidc/connect"))
        .form(&[("csrf", csrf_of(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    continue_link(&response.text().await.unwrap())
}

/// The provider's authorization URL on the page Connect answers: it sends the browser on with
/// a refresh and a link (a plain navigation).
pub fn continue_link(page: &str) -> String {
    page.split("<a id=\"continue\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no link to the provider: {page}"))
        .replace("&amp;", "&")
}

/// Follows the provider's redirects with `provider_client` (a browser's, or a fresh one to sign
/// in as another account: the provider logs in `login_hint`, else alice, and consents by
/// itself) until it sends the browser to the platform's callback; that callback URL.
pub async fn through_provider(
    provider_client: &reqwest::Client,
    base: &str,
    authorize_url: &str,
) -> String {
    let callback = format!("{base}/auth/callback");
    let mut url = reqwest::Url::parse(authorize_url).unwrap();
    for _ in 0..20 {
        let response = provider_client.get(url.as_str()).send().await.unwrap();
        let status = response.status();
        assert!(
            status.is_redirection(),
            "{url}: {status} {}",
            response.text().await.unwrap()
        );
        let location = response.headers()["location"].to_str().unwrap();
        let next = url.join(location).unwrap();
        if next.as_str().starts_with(&callback) {
            return next.to_string();
        }
        url = next;
    }
    panic!("the provider never redirected to the callback");
}

/// The whole connect flow in the browser; the page the platform shows after the callback.
pub async fn connect_account(browser: &Browser, base: &str) -> String {
    let authorize_url = press_connect(browser, base).await;
    let callback = through_provider(&browser.http, base, &authorize_url).await;
    let response = browser.http.get(&callback).send().await.unwrap();
    assert_eq!(
        response.status().as_u16(),
        303,
        "{}",
        response.text().await.unwrap()
    );
    let location = response.headers()["location"].to_str().unwrap();
    assert_eq!(location, "/connections/account?connected=1");
    page(browser, &format!("{base}{location}")).await.1
}
