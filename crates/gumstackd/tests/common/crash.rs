//! What the crash-safety tests (crash_refresh.rs, crash_connect.rs) share: platform users with
//! everything a test checks them through (a browser session, an MCP access token, an API
//! token), the connect flow in that browser, tool calls as plain JSON-RPC requests (they
//! survive a restart of the platform, unlike an MCP session), what the user is told about
//! their connection, kill -9 and restart on the same data, and a read-only look at the
//! database after a crash.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::Browser;
use super::oauth_demo::{World, banner, demo_with};

/// The server and provider every crash test connects to (the demo's Provider Account).
pub const SERVER: &str = "account";
pub const PROVIDER: &str = "oidc";

/// Longest a tool call may take: the platform answers within 18 s whatever it waits for, the
/// SDK gives up at 20 s; anything longer is a hang.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(25);

/// What the platform needs to reach a demo (cloneable into tasks).
#[derive(Debug, Clone)]
pub struct Site {
    pub base: String,
    pub mcp_url: String,
    pub admin_token: String,
    pub data_dir: PathBuf,
}

impl Site {
    pub fn of(w: &World) -> Self {
        Self {
            base: w.base.clone(),
            mcp_url: w.mcp_url.clone(),
            admin_token: w.admin_token.clone(),
            data_dir: w.data_dir.clone(),
        }
    }

    pub fn connect_page(&self) -> String {
        format!("{}/connections/{SERVER}", self.base)
    }
}

/// A platform user (a developer, so that it may hold an API token) whose provider account is
/// `{name}@provider.test`.
pub struct Member {
    pub name: String,
    pub email: String,
    pub browser: Browser,
    /// The platform's access token of an MCP client this user authorized.
    pub mcp_token: String,
    /// An API token of this user, for `GET /api/me/connections`.
    pub api_token: String,
}

/// The CLI's `token create` for `email`.
pub fn api_token_for(data_dir: &Path, email: &str) -> String {
    let out = std::process::Command::new(super::gumstackd())
        .args(["token", "create", "--name", "crash-test", "--email", email])
        .arg("--data-dir")
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

impl Member {
    /// Adds the user, logs its browser in and authorizes an MCP client; not connected yet.
    pub async fn create(site: &Site, name: &str) -> Self {
        let email = format!("{name}@example.com");
        let password = format!("{name}-password-0123456789");
        let response = reqwest::Client::new()
            .post(format!("{}/api/users", site.base))
            .bearer_auth(&site.admin_token)
            .json(&json!({ "email": email, "role": "developer", "password": password }))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "adding {email}: {response:?}"
        );
        let browser = Browser::new(&site.base);
        browser
            .log_in(&format!("{}/login", site.base), &email, &password)
            .await;
        let mcp_token = mcp_access_token(&browser, site, &email, &password).await;
        let api_token = {
            let (data_dir, email) = (site.data_dir.clone(), email.clone());
            tokio::task::spawn_blocking(move || api_token_for(&data_dir, &email))
                .await
                .unwrap()
        };
        Self {
            name: name.to_owned(),
            email,
            browser,
            mcp_token,
            api_token,
        }
    }

    /// The email of the account at the provider.
    pub fn provider_email(&self) -> String {
        format!("{}@provider.test", self.name)
    }

    /// Presses Connect; the provider's authorization URL (logging in this user's account).
    pub async fn press_connect(&self, site: &Site) -> String {
        let page = self.page(&site.connect_page()).await.1;
        let csrf = super::hidden_fields(&page)
            .into_iter()
            .find(|(name, _)| name == "csrf")
            .map(|(_, value)| value)
            .unwrap_or_else(|| panic!("no CSRF field on {page}"));
        let response = self
            .browser
            .http
            .post(format!(
                "{}/connections/{SERVER}/{PROVIDER}/connect",
                site.base
            ))
            .form(&[("csrf", csrf)])
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let page = response.text().await.unwrap();
        assert_eq!(status, 200, "{page}");
        let href = super::oauth_demo::continue_link(&page);
        format!("{href}&login_hint={}", self.name)
    }

    /// Follows the provider's redirects (it logs the account in and consents by itself) to the
    /// platform's callback; that callback URL.
    pub async fn through_provider(&self, site: &Site, authorize_url: &str) -> String {
        super::oauth_demo::through_provider(&self.browser.http, &site.base, authorize_url).await
    }

    /// The whole connect flow; fails unless the platform answers the callback with the
    /// connections page.
    pub async fn connect(&self, site: &Site) {
        let authorize = self.press_connect(site).await;
        let callback = self.through_provider(site, &authorize).await;
        let response = self.browser.http.get(&callback).send().await.unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        assert_eq!(status, 303, "{}", response.text().await.unwrap());
        assert_eq!(
            location.as_deref(),
            Some("/connections/account?connected=1")
        );
    }

    /// (status, body) of a page in this user's browser.
    pub async fn page(&self, url: &str) -> (u16, String) {
        let response = self.browser.http.get(url).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// This user's entry for the Provider Account in `GET /api/me/connections`.
    pub async fn api_connection(&self, site: &Site) -> Value {
        let response = reqwest::Client::new()
            .get(format!("{}/api/me/connections", site.base))
            .bearer_auth(&self.api_token)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        body["connections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["server"] == SERVER && c["provider"] == PROVIDER)
            .unwrap_or_else(|| panic!("no {SERVER}/{PROVIDER} entry: {body}"))
            .clone()
    }

    /// Calls `provider_profile` for this user.
    pub async fn call(&self, http: &reqwest::Client, site: &Site) -> Outcome {
        call_profile(http, &site.mcp_url, &self.mcp_token).await
    }
}

/// Authorizes an MCP client (the official Rust SDK's OAuth flow: discovery, registration,
/// PKCE) for the user logged in `browser`; the platform's access token.
async fn mcp_access_token(browser: &Browser, site: &Site, email: &str, password: &str) -> String {
    use rmcp::transport::auth::{AuthClient, AuthorizationRequest, OAuthState};

    let redirect = "http://127.0.0.1:9/callback";
    let mut state = OAuthState::new(&site.mcp_url, None)
        .await
        .expect("discovery");
    state
        .start_authorization(AuthorizationRequest::new(redirect).with_client_name("crash test"))
        .await
        .expect("registration and authorization URL");
    let auth_url = state.get_authorization_url().await.unwrap();
    let callback = browser
        .authorize(&auth_url, redirect, email, password)
        .await;
    state
        .handle_callback_url(&callback)
        .await
        .expect("code exchange");
    let manager = state.into_authorization_manager().expect("authorized");
    AuthClient::new(reqwest::Client::new(), manager)
        .get_access_token()
        .await
        .unwrap()
}

/// How a `provider_profile` call ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The tool got a token and the provider's userinfo accepted it: its profile.
    Profile(Value),
    /// A tool error (its text).
    ToolError(String),
    /// An HTTP answer that is not a tool result.
    Http(u16, String),
    /// No answer: connection refused or reset, or no answer within [`CALL_TIMEOUT`].
    NoAnswer(String),
}

impl Outcome {
    /// The email of a successful profile.
    pub fn email(&self) -> Option<&str> {
        match self {
            Self::Profile(profile) => profile["email"].as_str(),
            _ => None,
        }
    }

    /// Whether this is the tool error of a connection that must be connected again: the
    /// platform's message with the link to the connect page.
    pub fn needs_reauth(&self, site: &Site) -> bool {
        matches!(self, Self::ToolError(text)
            if text.contains("has expired or was revoked; connect it again")
                && text.contains(&site.connect_page()))
    }
}

/// `tools/call provider_profile` as one JSON-RPC POST with the platform's access token (the
/// SDK's servers are stateless: no session, so the same token works across a restart).
pub async fn call_profile(http: &reqwest::Client, mcp_url: &str, token: &str) -> Outcome {
    let body = json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": { "name": "provider_profile", "arguments": {} },
    });
    let sent = http
        .post(mcp_url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(&body)
        .timeout(CALL_TIMEOUT)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(error) => return Outcome::NoAnswer(error.to_string()),
    };
    let status = response.status().as_u16();
    let text = match response.text().await {
        Ok(text) => text,
        Err(error) => return Outcome::NoAnswer(error.to_string()),
    };
    if status != 200 {
        return Outcome::Http(status, text);
    }
    // JSON, or (should a server stream) the data line of one SSE event.
    let json = text
        .lines()
        .find_map(|line| line.strip_prefix("data:"))
        .unwrap_or(&text)
        .trim();
    let Ok(reply) = serde_json::from_str::<Value>(json) else {
        return Outcome::Http(status, text);
    };
    let result = &reply["result"];
    if result.is_null() {
        return Outcome::Http(status, text);
    }
    let text = super::text_of(result);
    if result["isError"] == true {
        return Outcome::ToolError(text);
    }
    let start = text.find('{').unwrap_or(0);
    match serde_json::from_str(&text[start..]) {
        Ok(profile) => Outcome::Profile(profile),
        Err(_) => Outcome::Http(status, text),
    }
}

/// Kill -9 of the demo (its server processes die with it), waiting until all are gone.
pub fn kill_9(w: &mut World) {
    let children = super::descendants(w._demo.pid());
    w._demo.signal("KILL");
    w._demo.child.wait().unwrap();
    super::assert_all_exit(&children);
}

/// Starts the demo again on the same data and address (the MCP clients' tokens name it), with
/// `refresh_args`.
pub fn restart(w: &mut World, refresh_args: &[&str]) {
    let listen = w.base.trim_start_matches("http://").to_owned();
    w._demo = demo_with(&w.data_dir, &listen, refresh_args);
    let (base, _, _, mcp_url) = banner(&mut w._demo);
    assert_eq!(base, w.base);
    assert_eq!(mcp_url, w.mcp_url);
}

/// A connection row as stored, read straight from the database.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredConnection {
    pub id: String,
    pub email: String,
    pub status: String,
    pub access_len: i64,
    pub refresh_len: Option<i64>,
    pub lease_holder: Option<String>,
    pub failure_message: Option<String>,
}

/// The connection rows of the data directory (read-only, e.g. while the platform is down).
pub async fn stored_connections(data_dir: &Path) -> Vec<StoredConnection> {
    let mut db = read_only(data_dir).await;
    let rows = sqlx::query_as(
        "SELECT c.id AS id, u.email AS email, c.status AS status,
                length(c.access_ciphertext) AS access_len,
                length(c.refresh_ciphertext) AS refresh_len,
                c.lease_holder AS lease_holder, c.failure_message AS failure_message
         FROM connections c JOIN users u ON u.id = c.user_id ORDER BY u.email",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    drop(db);
    rows
}

/// How many connect flows are waiting for their callback.
pub async fn pending_flows(data_dir: &Path) -> i64 {
    let mut db = read_only(data_dir).await;
    sqlx::query_scalar("SELECT COUNT(*) FROM oauth_flows")
        .fetch_one(&mut db)
        .await
        .unwrap()
}

async fn read_only(data_dir: &Path) -> sqlx::SqliteConnection {
    use sqlx::ConnectOptions as _;
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(data_dir.join("gumstack.db"))
        .read_only(true)
        .connect()
        .await
        .unwrap()
}
