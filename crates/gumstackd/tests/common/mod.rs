//! Runs the real `gumstackd` binary and the example servers, as a user would.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod chrome;
pub mod crash;
pub mod node;
pub mod oauth_demo;
pub mod oidc;
pub mod python;
pub mod slow_proxy;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::Value;

pub fn gumstackd() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gumstackd"))
}

/// A binary of another workspace package, built next to gumstackd by `cargo build --workspace`
/// (and by `cargo nextest run --workspace`).
pub fn sibling_binary(name: &str) -> PathBuf {
    let path = gumstackd().with_file_name(name);
    assert!(
        path.is_file(),
        "{} is missing: build the whole workspace (cargo build --workspace) before these tests",
        path.display()
    );
    path
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A running `gumstackd`, killed when dropped.
pub struct Running {
    pub child: Child,
    pub stdout: BufReader<ChildStdout>,
    pub lines: Vec<String>,
}

impl Running {
    pub fn start(args: &[&str], extra_env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(gumstackd());
        command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in extra_env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("gumstackd starts");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self {
            child,
            stdout,
            lines: Vec::new(),
        }
    }

    /// `gumstackd demo` on a free port, keeping its data in `data_dir`.
    pub fn demo(data_dir: &Path) -> Self {
        let data_dir = data_dir.to_str().expect("a UTF-8 temp path");
        Self::start(
            &["demo", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
            &[],
        )
    }

    /// Reads stdout until a line starting with `prefix` (60 s at most); returns the rest of it.
    pub fn read_until(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(
                Instant::now() < deadline,
                "no `{prefix}` line; got {:?}",
                self.lines
            );
            let mut line = String::new();
            let n = self.stdout.read_line(&mut line).unwrap();
            assert!(
                n > 0,
                "gumstackd closed stdout; lines so far: {:?}",
                self.lines
            );
            let line = line.trim_end().to_owned();
            self.lines.push(line.clone());
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.to_owned();
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{signal}");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every descendant process of `pid` (children of all its threads, recursively).
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                out.push(child);
                queue.push(child);
            }
        }
    }
    out
}

/// Whether a process still exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        })
        .unwrap_or(false)
}

/// Waits until every pid is gone (15 s at most).
pub fn assert_all_exit(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while pids.iter().any(|p| alive(*p)) {
        assert!(
            Instant::now() < deadline,
            "still running: {:?}",
            pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Calls one tool over MCP (Streamable HTTP) with the official Rust SDK client; returns the
/// result as JSON.
pub async fn call_tool(url: &str, tool: &str, arguments: Value) -> Value {
    let client = ()
        .serve(StreamableHttpClientTransport::from_uri(url.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("MCP client connects to {url}: {e}"));
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let Value::Object(map) = arguments {
        params = params.with_arguments(map);
    }
    let result = client.call_tool(params).await.expect("tools/call answers");
    let _ = client.cancel().await;
    serde_json::to_value(result).unwrap()
}

/// The text content of a tool result.
pub fn text_of(result: &Value) -> String {
    result["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A scripted browser: keeps cookies, follows nothing by itself, fills the login form and
/// approves the consent page.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    fn absolute(&self, location: &str) -> String {
        if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location.to_owned()
        }
    }

    /// Follows an authorization URL through login and consent until the platform redirects to
    /// `redirect_prefix`; returns that callback URL.
    pub async fn authorize(
        &self,
        auth_url: &str,
        redirect_prefix: &str,
        email: &str,
        password: &str,
    ) -> String {
        let mut url = auth_url.to_owned();
        for _ in 0..10 {
            let resp = self.http.get(&url).send().await.unwrap();
            let status = resp.status().as_u16();
            if status == 303 || status == 302 {
                let location = resp.headers()["location"].to_str().unwrap().to_owned();
                if location.starts_with(redirect_prefix) {
                    return location;
                }
                if location.starts_with("/login") {
                    url = self
                        .log_in(&self.absolute(&location), email, password)
                        .await;
                } else {
                    url = self.absolute(&location);
                }
                continue;
            }
            let page = resp.text().await.unwrap();
            assert_eq!(status, 200, "unexpected page at {url}: {page}");
            let location = self.approve(&page).await;
            assert!(
                location.starts_with(redirect_prefix),
                "consent led to {location}"
            );
            return location;
        }
        panic!("too many redirects from {auth_url}");
    }

    /// Submits the login form at `login_url`; returns where the platform sends the browser.
    pub async fn log_in(&self, login_url: &str, email: &str, password: &str) -> String {
        let page = self
            .http
            .get(login_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let mut form = hidden_fields(&page);
        form.push(("email".into(), email.into()));
        form.push(("password".into(), password.into()));
        let resp = self
            .http
            .post(format!("{}/login", self.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            303,
            "login failed: {}",
            resp.text().await.unwrap()
        );
        self.absolute(resp.headers()["location"].to_str().unwrap())
    }

    async fn approve(&self, consent_page: &str) -> String {
        let consent_form = consent_page
            .split("action=\"/oauth/authorize\"")
            .nth(1)
            .expect("a consent form");
        let mut form = hidden_fields(consent_form);
        form.push(("decision".into(), "approve".into()));
        let resp = self
            .http
            .post(format!("{}/oauth/authorize", self.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            303,
            "consent failed: {}",
            resp.text().await.unwrap()
        );
        resp.headers()["location"].to_str().unwrap().to_owned()
    }
}

/// A browser of the platform signed in as `email`.
pub async fn signed_in(base: &str, email: &str, password: &str) -> Browser {
    let browser = Browser::new(base);
    browser
        .log_in(&format!("{base}/login"), email, password)
        .await;
    browser
}

/// (status, body) of a page in `browser`.
pub async fn page(browser: &Browser, url: &str) -> (u16, String) {
    let response = browser.http.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// The CSRF field of a page's form.
pub fn csrf_of(page: &str) -> String {
    hidden_fields(page)
        .into_iter()
        .find(|(name, _)| name == "csrf")
        .map(|(_, value)| value)
        .expect("a CSRF field")
}

/// The JSON a successful `provider_profile` call (examples/oauth-server) returned.
pub fn profile(result: &Value) -> Value {
    assert_ne!(result["isError"], true, "{result}");
    let text = text_of(result);
    let start = text
        .find('{')
        .unwrap_or_else(|| panic!("no JSON in {text}"));
    serde_json::from_str(&text[start..]).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The hidden inputs of an HTML page (name, unescaped value).
pub fn hidden_fields(page: &str) -> Vec<(String, String)> {
    page.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|field| {
            let name = field.split('"').next().unwrap().to_owned();
            let value = field
                .split("value=\"")
                .nth(1)
                .and_then(|v| v.split('"').next())
                .unwrap_or("");
            let value = value
                .replace("&quot;", "\"")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&#39;", "'")
                .replace("&amp;", "&");
            (name, value)
        })
        .collect()
}

/// An MCP client that logged in through the platform's OAuth flow with the official Rust SDK
/// (`OAuthState`: discovery from the 401, registration, PKCE, token), ready to call tools.
pub struct OAuthMcp {
    pub service: rmcp::service::RunningService<rmcp::RoleClient, ()>,
    pub auth: rmcp::transport::auth::AuthClient<reqwest::Client>,
}

impl OAuthMcp {
    pub async fn connect(base: &str, mcp_url: &str, email: &str, password: &str) -> Self {
        use rmcp::transport::auth::{AuthClient, AuthorizationRequest, OAuthState};
        use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

        let redirect = "http://127.0.0.1:9/callback";
        let mut state = OAuthState::new(mcp_url, None).await.expect("discovery");
        state
            .start_authorization(
                AuthorizationRequest::new(redirect).with_client_name("rmcp e2e test"),
            )
            .await
            .expect("registration and authorization URL");
        let auth_url = state.get_authorization_url().await.unwrap();
        let callback = Browser::new(base)
            .authorize(&auth_url, redirect, email, password)
            .await;
        state
            .handle_callback_url(&callback)
            .await
            .expect("code exchange");
        let manager = state.into_authorization_manager().expect("authorized");
        let auth = AuthClient::new(reqwest::Client::new(), manager);
        let transport = StreamableHttpClientTransport::with_client(
            auth.clone(),
            StreamableHttpClientTransportConfig::with_uri(mcp_url.to_owned()),
        );
        let service = ().serve(transport).await.expect("MCP initialize through the gateway");
        Self { service, auth }
    }

    pub async fn call(&self, tool: &str, arguments: Value) -> Value {
        let mut params = CallToolRequestParams::new(tool.to_owned());
        if let Value::Object(map) = arguments {
            params = params.with_arguments(map);
        }
        let result = self
            .service
            .call_tool(params)
            .await
            .expect("tools/call answers");
        serde_json::to_value(result).unwrap()
    }

    /// Refreshes the access token with the refresh token (rotated by the platform).
    pub async fn refresh(&self) {
        self.auth
            .auth_manager
            .lock()
            .await
            .refresh_token()
            .await
            .expect("refresh");
    }

    pub async fn access_token(&self) -> String {
        self.auth.get_access_token().await.unwrap()
    }
}

/// The platform's JSON API with an admin token: (status, JSON body or null).
pub struct Api {
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
}

/// A new admin API token for the data directory, from `gumstackd token create`.
pub fn api_token(data_dir: &Path) -> String {
    let out = Command::new(gumstackd())
        .args(["token", "create", "--data-dir"])
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("gsk_"), "{token}");
    token
}

impl Api {
    /// The server `slug` once its deployment `generation` is live (at most a minute).
    pub async fn wait_live(&self, slug: &str, generation: i64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, server) = self
                .send(reqwest::Method::GET, &format!("/api/servers/{slug}"), None)
                .await;
            if server["live"]["generation"].as_i64() == Some(generation) {
                return server;
            }
            if Instant::now() > deadline {
                let (_, deployments) = self
                    .send(
                        reqwest::Method::GET,
                        &format!("/api/servers/{slug}/deployments"),
                        None,
                    )
                    .await;
                panic!("generation {generation} never went live: {server}\n{deployments}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates the server `slug` run by the system's python with `script` (a path in the
    /// repository); the server as created.
    pub async fn create_python_server(&self, slug: &str, config_yaml: &str, script: &str) -> Value {
        let script = repo_root().join(script);
        let (status, server) = self
            .send(
                reqwest::Method::POST,
                "/api/servers",
                Some(serde_json::json!({
                    "config_yaml": config_yaml,
                    "slug": slug,
                    "runtime": { "command": "/usr/bin/python3", "args": [script.to_str().unwrap()] }
                })),
            )
            .await;
        assert_eq!(status, 201, "{server}");
        server
    }

    /// A new group "Interns" whose access to the demo's `greeter` denies `greet`, and a new
    /// member of it (`email`, `password`); the route of that access, to change it.
    pub async fn intern_denied_greet(&self, email: &str, password: &str) -> String {
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                "/api/groups",
                Some(serde_json::json!({ "name": "Interns" })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let group = body["group"]["id"].as_str().unwrap().to_owned();
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                "/api/users",
                Some(serde_json::json!({ "email": email, "role": "member", "password": password })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let user = body["user"]["id"].as_str().unwrap().to_owned();
        let (status, _) = self
            .send(
                reqwest::Method::PUT,
                &format!("/api/groups/{group}/members/{user}"),
                None,
            )
            .await;
        assert_eq!(status, 204);
        let access = format!("/api/groups/{group}/servers/greeter");
        let (status, body) = self
            .send(
                reqwest::Method::PUT,
                &access,
                Some(serde_json::json!({ "enabled": true, "default": "allow", "tools": { "greet": "deny" } })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        access
    }

    pub fn new(base: &str, token: String) -> Self {
        Self {
            base: base.to_owned(),
            token,
            http: reqwest::Client::new(),
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}
