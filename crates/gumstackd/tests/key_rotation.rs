//! Master-key rotation with the real binary: values sealed under the first key (env vars, a
//! user's `cred` values), `gumstackd key rotate` killed with SIGKILL half-way while tool calls
//! run, resumed, verified, the old key retired, the platform restarted — and every call
//! succeeded and everything still decrypts. A value damaged by hand is named by `key verify`.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::oauth_demo::{demo_with, token_for};
use common::{Browser, OAuthMcp, Running, gumstackd, hidden_fields, text_of};
use serde_json::json;
use sqlx::sqlite::SqlitePool;

/// Env vars added to the greeter, so a slow rotation has something to be killed in the middle of.
const BULK_ENV_VARS: usize = 240;
/// The env vars the demo sets itself: the greeter's `GREETING`, and the `account` example's
/// six `OAUTH_*` settings for the demo provider.
const DEMO_ENV_VARS: usize = 7;

/// Reads the demo's banner: (base URL, admin email, admin password).
fn banner(demo: &mut Running) -> (String, String, String) {
    let base = demo.read_until("dashboard: ");
    let login = demo.read_until("login: ");
    let (email, password) = login.split_once(" / ").unwrap();
    // Every example is hosted once the last `server:` line is out.
    for _ in 0..3 {
        demo.read_until("server: ");
    }
    (base, email.to_owned(), password.to_owned())
}

/// Runs `gumstackd key <args> --data-dir <data_dir>`; (success, stdout, stderr).
fn key(data_dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(gumstackd())
        .arg("key")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The key ids of the master key file, in order.
fn key_ids(data_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(data_dir.join("master.key"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect()
}

async fn db(data_dir: &Path) -> SqlitePool {
    let url = format!("sqlite://{}", data_dir.join("gumstack.db").display());
    SqlitePool::connect(&url).await.unwrap()
}

/// How many env var values each key id seals (the id is in the ciphertext's header).
async fn env_vars_by_key(pool: &SqlitePool) -> std::collections::BTreeMap<String, usize> {
    let rows: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT value_ciphertext FROM env_vars")
        .fetch_all(pool)
        .await
        .unwrap();
    let mut counts = std::collections::BTreeMap::new();
    for (ct,) in rows {
        let len = usize::from(ct[1]);
        let kid = String::from_utf8(ct[2..2 + len].to_vec()).unwrap();
        *counts.entry(kid).or_insert(0) += 1;
    }
    counts
}

/// The user fills in the Key Echo form in a browser.
async fn save_api_key(base: &str, email: &str, password: &str, api_key: &str) {
    let browser = Browser::new(base);
    browser
        .log_in(&format!("{base}/login"), email, password)
        .await;
    let form_url = format!("{base}/connections/keys");
    let page = browser
        .http
        .get(&form_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form: Vec<(String, String)> = hidden_fields(&page)
        .into_iter()
        .filter(|(name, _)| name == "csrf")
        .take(1)
        .collect();
    form.push(("api_key".into(), api_key.into()));
    form.push(("region".into(), "eu-north".into()));
    let saved = browser
        .http
        .post(&form_url)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status().as_u16(), 303);
}

async fn add_env_vars(base: &str, token: &str) {
    let http = reqwest::Client::new();
    for i in 0..BULK_ENV_VARS {
        let response = http
            .put(format!("{base}/api/servers/greeter/env/BULK_{i:04}"))
            .bearer_auth(token)
            .json(&json!({ "value": format!("bulk-secret-{i}") }))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_killed_midway_resumes_and_the_old_key_is_retired_while_tools_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut demo = demo_with(&data_dir, "127.0.0.1:0", &[]);
    let (base, email, password) = banner(&mut demo);
    let token = token_for(&data_dir);
    let first_key = key_ids(&data_dir);
    assert_eq!(first_key.len(), 1);
    let first_key = first_key[0].clone();

    // Values sealed under the first key.
    save_api_key(&base, &email, &password, "sk-rotation-4242").await;
    add_env_vars(&base, &token).await;
    let pool = db(&data_dir).await;
    assert_eq!(
        env_vars_by_key(&pool).await.get(&first_key),
        Some(&(BULK_ENV_VARS + DEMO_ENV_VARS))
    );

    // A steady load of tool calls that decrypt the user's values on every call.
    let mcp =
        Arc::new(OAuthMcp::connect(&base, &format!("{base}/mcp/keys"), &email, &password).await);
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let load = {
        let (mcp, stop, calls) = (Arc::clone(&mcp), Arc::clone(&stop), Arc::clone(&calls));
        tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let result = mcp.call("key_suffix", json!({})).await;
                let text = text_of(&result);
                if result["isError"] == true || !text.contains("4242") {
                    failures.push(result.to_string());
                }
                calls.fetch_add(1, Ordering::SeqCst);
            }
            failures
        })
    };

    // A new key; the running platform picks it up from the file by itself.
    let (ok, out, err) = key(&data_dir, &["add"]);
    assert!(ok, "{out}{err}");
    let keys = key_ids(&data_dir);
    let second_key = keys[1].clone();
    assert!(out.contains(&second_key), "{out}");

    // The rotation, slowed down, killed once it is half-way through the env vars.
    let mut rotation = Running::start(
        &[
            "key",
            "rotate",
            "--batch-size",
            "5",
            "--pause-ms",
            "60",
            "--data-dir",
            data_dir.to_str().unwrap(),
        ],
        &[("RUST_BACKTRACE", "0")],
    );
    loop {
        let line = rotation.read_until("progress: env_vars.value_ciphertext ");
        let resealed: usize = line.split_whitespace().next().unwrap().parse().unwrap();
        if resealed >= BULK_ENV_VARS / 3 {
            break;
        }
    }
    rotation.signal("KILL");
    rotation.child.wait().unwrap();
    let midway = env_vars_by_key(&pool).await;
    assert!(
        midway.get(&first_key).copied().unwrap_or(0) > 0
            && midway.get(&second_key).copied().unwrap_or(0) > 0,
        "killed half-way: {midway:?}"
    );
    // The old key cannot go yet: values still use it. Nothing is changed.
    let (ok, _, err) = key(&data_dir, &["retire", &first_key]);
    assert!(
        !ok && err.contains("still use key") && err.contains("key rotate"),
        "{err}"
    );
    assert_eq!(
        key_ids(&data_dir),
        vec![first_key.clone(), second_key.clone()]
    );

    // Run again: it finishes what is left.
    let (ok, out, err) = key(&data_dir, &["rotate", "--batch-size", "50"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!(
            "rotated: every sealed value uses key {second_key}"
        )),
        "{out}"
    );
    assert_eq!(
        env_vars_by_key(&pool).await,
        [(second_key.clone(), BULK_ENV_VARS + DEMO_ENV_VARS)].into()
    );
    let (ok, out, err) = key(&data_dir, &["verify"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("verified: "), "{out}");

    stop.store(true, Ordering::SeqCst);
    let failures = load.await.unwrap();
    assert!(
        failures.is_empty(),
        "calls failed during the rotation: {failures:?}"
    );
    assert!(
        calls.load(Ordering::SeqCst) >= 10,
        "too few calls to mean anything"
    );

    // Retire the first key: removed from the file.
    let (ok, out, err) = key(&data_dir, &["retire", &first_key]);
    assert!(ok, "{out}{err}");
    assert_eq!(key_ids(&data_dir), vec![second_key.clone()]);
    let (ok, _, err) = key(&data_dir, &["retire", "k-unknown"]);
    assert!(!ok && err.contains("unknown key id `k-unknown`"), "{err}");

    // Restarted with only the new key: the env vars reach the server, the values the tool.
    let listen = base.trim_start_matches("http://").to_owned();
    drop(mcp);
    drop(demo);
    let mut demo = demo_with(&data_dir, &listen, &[]);
    let (base_again, email, password) = banner(&mut demo);
    assert_eq!(base_again, base);
    let keys_mcp = OAuthMcp::connect(&base, &format!("{base}/mcp/keys"), &email, &password).await;
    let after = keys_mcp.call("key_suffix", json!({})).await;
    assert!(text_of(&after).contains("4242"), "{after}");
    let greeter = OAuthMcp::connect(&base, &format!("{base}/mcp/greeter"), &email, &password).await;
    let greeting = greeter.call("greet", json!({ "name": "Ada" })).await;
    assert_eq!(text_of(&greeting), "Hello, Ada!", "{greeting}");

    // A value damaged by hand is named by `key verify`, which fails.
    let (row_id,): (String,) = sqlx::query_as("SELECT id FROM credentials")
        .fetch_one(&pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE credentials SET values_ciphertext =
             substr(values_ciphertext, 1, length(values_ciphertext) - 1)
             || CASE WHEN substr(values_ciphertext, -1) = x'00' THEN x'01' ELSE x'00' END",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (ok, out, _) = key(&data_dir, &["verify"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "does not decrypt: credentials.values_ciphertext row {row_id}: "
        )),
        "{out}"
    );
    assert!(!out.contains("sk-rotation"), "never a plaintext: {out}");
}

fn instances(data_dir: &Path) -> usize {
    let (ok, out, err) = key(data_dir, &["status"]);
    assert!(ok, "{err}");
    out.lines().filter(|l| l.starts_with("instance: ")).count()
}

/// `key rotate` and `key retire` wait for every live instance: an admin command that only
/// opens the data directory is none, and a platform stopped cleanly is one no longer.
#[tokio::test(flavor = "multi_thread")]
async fn admin_commands_and_a_stopped_platform_leave_no_live_instance() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data = data_dir.to_str().unwrap();
    let mut platform = Running::start(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", data],
        &[],
    );
    platform.read_until("dashboard: ");
    assert_eq!(instances(&data_dir), 1, "the running platform");

    let out = Command::new(gumstackd())
        .args(["token", "create", "--data-dir", data])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        instances(&data_dir),
        1,
        "the admin command left no instance behind"
    );

    platform.signal("TERM");
    let status = platform.child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(instances(&data_dir), 0, "a clean stop removes the instance");
}
