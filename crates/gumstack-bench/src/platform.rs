//! The platform under test: a real `gumstackd serve` child hosting the example `none` server,
//! and the credentials for both ways in — an access token for the gateway, a signed identity
//! for the server process itself — made with the platform library, without a browser.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use gumstack_platform::clock::{Clock as _, SystemClock};
use gumstack_platform::keys::SigningKeys;
use gumstack_platform::oauth::tokens::{issue_access_token, mint_identity};
use gumstack_platform::store::sqlite::SqliteStore;
use gumstack_platform::store::{Grant, Server, Store, User, Uuid, now};
use gumstack_platform::vault::Vault;
use rustix::process::{Pid, Signal};
use serde_json::{Value, json};

pub const SLUG: &str = "greeter";
const ADMIN_EMAIL: &str = "admin@gumstack.local";

/// A binary of another workspace package, built next to this one (`target/release`).
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name(name);
    ensure!(
        path.is_file(),
        "{} is missing: cargo build --release -p gumstackd -p gumstack-example-none",
        path.display()
    );
    Ok(path)
}

/// A running `gumstackd serve` on a fresh data directory; stopped with SIGTERM by [`stop`].
///
/// [`stop`]: Platform::stop
#[derive(Debug)]
pub struct Platform {
    child: Child,
    /// Kept open: `gumstackd` may still write to stdout.
    _stdout: BufReader<ChildStdout>,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    /// The dashboard URL, which is also the token issuer (`http://127.0.0.1:PORT`).
    pub base: String,
}

impl Platform {
    pub fn start(gumstackd: &Path, work: &Path) -> anyhow::Result<Self> {
        Self::start_with(gumstackd, work, &[])
    }

    /// [`Platform::start`] with more `serve` options (e.g. `--activity off`).
    pub fn start_with(gumstackd: &Path, work: &Path, options: &[&str]) -> anyhow::Result<Self> {
        std::fs::create_dir_all(work)?;
        let data_dir = work.join("data");
        let log = work.join("gumstackd.log");
        let mut child = Command::new(gumstackd)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .args(options)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting gumstackd")?;
        let mut stdout = BufReader::new(child.stdout.take().context("gumstackd stdout")?);
        let mut line = String::new();
        let base = loop {
            line.clear();
            if stdout.read_line(&mut line)? == 0 {
                bail!(
                    "gumstackd exited before printing its dashboard URL; see {}",
                    log.display()
                );
            }
            if let Some(url) = line.trim_end().strip_prefix("dashboard: ") {
                break url.to_owned();
            }
        };
        Ok(Self {
            child,
            _stdout: stdout,
            data_dir,
            log,
            base,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `gumstackd token create`: an admin API token for the JSON API.
    pub fn api_token(&self, gumstackd: &Path) -> anyhow::Result<String> {
        let out = Command::new(gumstackd)
            .args(["token", "create", "--data-dir"])
            .arg(&self.data_dir)
            .output()?;
        ensure!(
            out.status.success(),
            "token create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    }

    /// SIGTERM (gumstackd then stops the server process itself), and wait for it.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let pid = Pid::from_raw(self.child.id().try_into()?).context("gumstackd pid")?;
        rustix::process::kill_process(pid, Signal::TERM)?;
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                self.child.kill()?;
                bail!("gumstackd did not stop within 15 s of SIGTERM; killed");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Drop for Platform {
    /// Only on an early exit: [`Platform::stop`] has already reaped the child otherwise.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The greeter as the API describes it once its deployment is live.
#[derive(Debug)]
pub struct Hosted {
    /// `{base}/mcp/greeter`, served by the gateway.
    pub mcp_url: String,
    /// The server process's own `/mcp`.
    pub direct_url: String,
}

/// Registers the example server through the JSON API, sets `GREETING`, redeploys and waits
/// until that deployment is live.
pub async fn host_greeter(base: &str, api_token: &str, example: &Path) -> anyhow::Result<Hosted> {
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(api_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            anyhow::Ok((status, body))
        }
    };
    let config_yaml = include_str!("../../../examples/none-server/config.yaml");
    let body = json!({
        "config_yaml": config_yaml,
        "slug": SLUG,
        "runtime": { "command": example.to_str().context("example path is not UTF-8")? },
    });
    let (status, server) = call(reqwest::Method::POST, "/api/servers", Some(body)).await?;
    ensure!(status == 201, "POST /api/servers: {status} {server}");
    let mcp_url = server["mcp_url"].as_str().context("mcp_url")?.to_owned();
    let path = format!("/api/servers/{SLUG}/env/GREETING");
    let (status, body) = call(reqwest::Method::PUT, &path, Some(json!({"value": "Hello"}))).await?;
    ensure!(status == 201, "PUT {path}: {status} {body}");
    let path = format!("/api/servers/{SLUG}/redeploy");
    let (status, body) = call(reqwest::Method::POST, &path, None).await?;
    ensure!(status == 202, "POST {path}: {status} {body}");
    let generation = body["deploy_generation"]
        .as_i64()
        .context("deploy_generation")?;

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, server) = call(reqwest::Method::GET, &format!("/api/servers/{SLUG}"), None).await?;
        if server["live"]["generation"].as_i64() == Some(generation) {
            let direct_url = server["live"]["direct_url"]
                .as_str()
                .context("direct_url")?;
            return Ok(Hosted {
                mcp_url,
                direct_url: direct_url.to_owned(),
            });
        }
        ensure!(
            Instant::now() < deadline,
            "generation {generation} never went live: {server}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The platform's store and keys, opened from its data directory: what the OAuth flow would
/// have produced, made directly.
#[derive(Debug)]
pub struct Credentials {
    pub store: Arc<dyn Store>,
    pub keys: SigningKeys,
    pub base: String,
    pub server: Server,
    pub user: User,
    pub grant: Grant,
}

impl Credentials {
    /// Inserts a grant for the admin on the greeter, as consent in the browser would.
    pub async fn create(data_dir: &Path, base: &str, mcp_url: &str) -> anyhow::Result<Self> {
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&data_dir.join("gumstack.db")).await?);
        let vault = Vault::open(&data_dir.join("master.key"))?;
        let keys = SigningKeys::load_or_create(&store, &vault).await?;
        let server = store.server_by_slug(SLUG).await?;
        let user = store.user_by_email(ADMIN_EMAIL).await?;
        let grant = Grant {
            id: Uuid::new_v4(),
            user_id: user.id,
            client_id: "gumstack-bench".into(),
            server_id: server.id,
            resource: mcp_url.to_owned(),
            scope: None,
            created_at: now(),
            revoked_at: None,
        };
        store.insert_grant(&grant).await?;
        Ok(Self {
            store,
            keys,
            base: base.to_owned(),
            server,
            user,
            grant,
        })
    }

    /// `Authorization` for the gateway.
    pub fn bearer(&self) -> String {
        format!(
            "Bearer {}",
            issue_access_token(&self.keys, &self.base, &self.grant, SystemClock.now())
        )
    }

    /// `Gumstack-Identity` for the server process (valid 10 minutes: mint one per phase).
    pub fn identity(&self) -> String {
        mint_identity(
            &self.keys,
            &self.base,
            self.server.id,
            &self.user,
            "bench",
            SystemClock.now(),
        )
    }
}
