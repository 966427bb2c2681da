//! A real browser for the dashboard tests: Debian's `chromium`, headless, driven over
//! `chromedriver` (started on a free loopback port, in its own process group so Chromium goes
//! with it) with fantoccini. Missing packages skip the test on a developer's machine and fail
//! it under `CI=true`: `.ci/run` installs them.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use rustix::process::{Pid, Signal, kill_process_group};
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Width of the desktop screenshots; the height follows the page.
const WIDTH: u32 = 1280;

/// A headless Chromium session, closed and stopped when dropped.
pub struct Chrome {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    screenshots: PathBuf,
    width: u32,
}

fn program(env: &str, default: &str) -> PathBuf {
    std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Where screenshots go: `target/test-output/screenshots` next to the gumstackd binary.
pub fn screenshot_dir() -> PathBuf {
    let target = super::gumstackd()
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("gumstackd lives in target/<profile>/");
    target.join("test-output").join("screenshots")
}

impl Chrome {
    /// Starts chromedriver and a Chromium session, or `None` when they are not installed
    /// (after saying so); under `CI=true` a missing browser fails the test instead.
    pub async fn start() -> Option<Self> {
        let chromium = program("CHROMIUM", CHROMIUM);
        let chromedriver = program("CHROMEDRIVER", CHROMEDRIVER);
        let missing: Vec<String> = [&chromium, &chromedriver]
            .into_iter()
            .filter(|p| !p.is_file())
            .map(|p| p.display().to_string())
            .collect();
        if !missing.is_empty() {
            let message = format!(
                "{} not installed: apt-get install chromium chromium-driver (or set CHROMIUM \
                 and CHROMEDRIVER)",
                missing.join(" and ")
            );
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: {message}"
            );
            eprintln!("SKIPPED: {message}");
            return None;
        }
        let port = free_port();
        let mut driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Ok(Some(status)) = driver.try_wait() {
                panic!("chromedriver exited: {status}");
            }
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("a profile directory");
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--window-size={WIDTH},900"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = json!({
            "goog:chromeOptions": { "binary": chromium, "args": args }
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session over chromedriver");
        let screenshots = screenshot_dir();
        std::fs::create_dir_all(&screenshots).expect("the screenshot directory");
        Some(Self {
            client,
            driver,
            _profile: profile,
            screenshots,
            width: WIDTH,
        })
    }

    /// Narrows (or widens) the window for the next screenshots.
    pub fn set_width(&mut self, width: u32) {
        self.width = width;
    }

    /// Saves a PNG of the whole current page as `<name>.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        // Short first, so the page's height is its own and not the previous window's; from
        // the top, even when the page was opened at an anchor.
        let _ = self.client.execute("window.scrollTo(0, 0)", vec![]).await;
        self.client
            .set_window_size(self.width, 600)
            .await
            .expect("resize the window");
        // The content's height plus what the window itself takes (outer minus inner height).
        let height = self
            .client
            .execute(
                "return document.documentElement.scrollHeight + window.outerHeight - window.innerHeight",
                vec![],
            )
            .await
            .ok()
            .and_then(|h| h.as_f64())
            .unwrap_or(900.0);
        let height = height.clamp(600.0, 5000.0) as u32;
        self.client
            .set_window_size(self.width, height)
            .await
            .expect("resize the window");
        let png = self.client.screenshot().await.expect("a screenshot");
        let path = self.screenshots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }

    /// Logs in on the platform at `base` and checks the browser landed on the servers page.
    pub async fn log_in(&self, base: &str, email: &str, password: &str) {
        self.client.goto(&format!("{base}/login")).await.unwrap();
        self.fill("email", email).await;
        self.fill("password", password).await;
        self.click("form.card button[type=submit]").await;
        assert_eq!(self.path().await, "/", "logged in as {email}");
    }

    /// The page's HTML as the browser holds it.
    pub async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    /// Types into the input with `id` (after clearing it).
    pub async fn fill(&self, id: &str, text: &str) {
        let field = self
            .client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no #{id}: {e}"));
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Clicks the element matching `css` and waits until the next page has loaded (a marker
    /// set on the current document is gone and the new one is complete).
    pub async fn click(&self, css: &str) {
        self.client
            .execute("window.gumstackOldPage = true", vec![])
            .await
            .expect("mark the page");
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let loaded = self
                .client
                .execute(
                    "return !window.gumstackOldPage && document.readyState === 'complete'",
                    vec![],
                )
                .await
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            if loaded {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no new page after clicking {css}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .text()
            .await
            .expect("text")
    }

    /// The current path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current URL");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Ends the session (Chromium exits) and stops chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        // The whole process group: chromedriver and the Chromium it started. (A system call,
        // not the `kill` program: procps' `kill -TERM -<pgid>` reads only the first digit of
        // the group, and `-1` means every process.)
        let Some(group) = Pid::from_raw(self.driver.id().cast_signed()) else {
            return;
        };
        let _ = kill_process_group(group, Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.driver.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = kill_process_group(group, Signal::KILL);
        let _ = self.driver.wait();
    }
}
