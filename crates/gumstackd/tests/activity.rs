//! The activity log end to end with the real binaries: an MCP client logged in through OAuth
//! calls the example server's `greet` with its own access token (and its API token) as input,
//! and the tool's answer echoes the developer's env value. After a clean stop, the call is in
//! the database, and neither secret — raw, base64 or URL-encoded — is in any database file or
//! in `gumstackd`'s log.

mod common;

use std::io::BufReader;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use common::{Api, OAuthMcp, Running, repo_root, sibling_binary, text_of};
use serde_json::json;

/// `gumstackd serve` on a free port with its log (stderr) written to `log`.
fn serve_logged(data_dir: &Path, log: &Path) -> Running {
    let mut child = Command::new(common::gumstackd())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("GUMSTACK_LOG", "debug,sqlx=warn,hyper=info,h2=info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("gumstackd starts");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    Running {
        child,
        stdout,
        lines: Vec::new(),
    }
}

/// The forms of `secret` that must appear nowhere.
fn forms(secret: &str) -> Vec<String> {
    let mut forms = vec![
        secret.to_owned(),
        STANDARD.encode(secret),
        STANDARD_NO_PAD.encode(secret),
        URL_SAFE.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
    ];
    forms.dedup();
    forms
}

fn find(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callers_key_and_an_echoed_env_value_are_stored_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let log = dir.path().join("gumstackd.log");
    let mut platform = serve_logged(&data_dir, &log);
    let base = platform.read_until("dashboard: ");
    let login = platform.read_until("login: ");
    let (email, password) = login.split_once(" / ").unwrap();
    let key = common::api_token(&data_dir);
    let api = Api {
        base: base.clone(),
        token: key.clone(),
        http: reqwest::Client::new(),
    };

    let config_yaml =
        std::fs::read_to_string(repo_root().join("examples/none-server/config.yaml")).unwrap();
    let example = sibling_binary("example-none-server");
    let (status, server) = api
        .send(
            reqwest::Method::POST,
            "/api/servers",
            Some(json!({
                "config_yaml": config_yaml,
                "slug": "greeter",
                "runtime": { "command": example.to_str().unwrap() }
            })),
        )
        .await;
    assert_eq!(status, 201, "{server}");
    let mcp_url = server["mcp_url"].as_str().unwrap().to_owned();
    let greeting = format!("Salut-secret-{}", std::process::id());
    let (status, _) = api
        .send(
            reqwest::Method::PUT,
            "/api/servers/greeter/env/GREETING",
            Some(json!({ "value": greeting })),
        )
        .await;
    assert_eq!(status, 201);
    let (_, redeployed) = api
        .send(reqwest::Method::POST, "/api/servers/greeter/redeploy", None)
        .await;
    api.wait_live("greeter", redeployed["deploy_generation"].as_i64().unwrap())
        .await;

    let mcp = OAuthMcp::connect(&base, &mcp_url, email, password).await;
    let access = mcp.access_token().await;
    // The tool is handed the caller's own keys, and answers with the env value.
    let result = mcp.call("greet", json!({ "name": access })).await;
    assert_eq!(text_of(&result), format!("{greeting}, {access}!"));
    let encoded = format!(
        "{} {} {}",
        STANDARD.encode(&access),
        URL_SAFE_NO_PAD.encode(&key),
        STANDARD.encode(&greeting)
    );
    mcp.call("greet", json!({ "name": encoded })).await;
    mcp.call("greet", json!({ "name": key })).await;
    drop(mcp);

    // A clean stop writes what is queued.
    platform.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(30);
    while platform.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "gumstackd did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut database = Vec::new();
    for entry in std::fs::read_dir(&data_dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("gumstack.db")
        {
            database.extend(std::fs::read(&path).unwrap());
        }
    }
    let log_bytes = std::fs::read(&log).unwrap();
    assert!(!log_bytes.is_empty());
    for secret in [&access, &key, &greeting] {
        for form in forms(secret) {
            assert!(
                !find(&database, &form),
                "a secret ({} chars) is in the database",
                form.len()
            );
            assert!(
                !find(&log_bytes, &form),
                "a secret ({} chars) is in gumstackd's log",
                form.len()
            );
        }
    }

    // The calls are there, redacted.
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        data_dir.join("gumstack.db").display()
    ))
    .await
    .unwrap();
    let rows: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT tool, status, input, output FROM activity WHERE tool = 'greet' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (tool, status, input, output) in &rows {
        assert_eq!((tool.as_str(), status.as_str()), ("greet", "success"));
        assert!(
            input
                .as_deref()
                .unwrap()
                .contains("****SECRET_REDACTED****"),
            "{input:?}"
        );
        assert!(
            output
                .as_deref()
                .unwrap()
                .contains("****SECRET_REDACTED****"),
            "{output:?}"
        );
    }
}
