//! API tokens and offboarding end to end: the real `gumstackd demo`, headless Chromium, the
//! real CLI on the same data directory, and a real OAuth provider (`oidc-provider`).
//!
//! A member connects an account at the provider and authorizes an MCP client. In the browser an
//! admin makes an API token (shown once), sees it listed, revokes it. The operator disables the
//! member with the CLI: access ends at once, but the CLI runs no servers, so it reports the
//! connection as not revoked (exit 1, tokens kept). The admin retries from the Users page: the
//! report shows the connection revoked at the provider, which saw the revocation. The member's
//! API token and MCP client then fail, and their login is refused. Screenshots go to
//! `target/test-output/screenshots/`.

mod common;

use std::path::Path;
use std::time::Duration;

use common::chrome::Chrome;
use common::oauth_demo::World;
use common::{OAuthMcp, gumstackd, text_of};
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};

/// Runs `gumstackd <args> --data-dir <dir>`: (success, stdout, stderr).
fn cli(data_dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(gumstackd())
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The status of `GET /api/tokens` with `token`.
async fn api_status(w: &World, token: &str) -> u16 {
    w.http
        .get(format!("{}/api/tokens", w.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn tokens_seen_by(w: &World, token: &str) -> Vec<Value> {
    let reply: Value = w
        .http
        .get(format!("{}/api/tokens", w.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["tokens"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_and_offboarding_work_in_a_real_browser() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let w = World::new(Duration::from_secs(600)).await;
    let (bob_email, bob_password) = w.user("bob").await;
    let users = w.api(reqwest::Method::GET, "/api/users", None).await;
    let bob_id = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == bob_email.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The member connects an account at the provider, authorizes an MCP client, and has an
    // API token (the CLI makes it while the platform runs).
    chrome.log_in(&w.base, &bob_email, &bob_password).await;
    chrome
        .client
        .goto(&format!("{}/connections/account", w.base))
        .await
        .unwrap();
    chrome
        .click("form[action='/connections/account/oidc/connect'] button")
        .await;
    assert_eq!(chrome.text("strong.nickname").await, "alice@provider.test");
    let mcp = OAuthMcp::connect(&w.base, &w.mcp_url, &bob_email, &bob_password).await;
    let profile = mcp.call("provider_profile", json!({})).await;
    assert!(
        text_of(&profile).contains("alice@provider.test"),
        "{profile}"
    );
    let (ok, bob_token, err) = cli(
        &w.data_dir,
        &[
            "token",
            "create",
            "--email",
            &bob_email,
            "--name",
            "bob-script",
        ],
    );
    assert!(ok, "{err}");
    let bob_token = bob_token.trim().to_owned();
    assert!(err.contains("(member)"), "{err}");
    assert_eq!(api_status(&w, &bob_token).await, 200);
    chrome.click("form.logout button").await;

    // The admin makes a token in the browser: shown once, listed, revoked.
    chrome
        .log_in(&w.base, &w.admin_email, &w.admin_password)
        .await;
    chrome
        .client
        .goto(&format!("{}/tokens", w.base))
        .await
        .unwrap();
    chrome.fill("token-name", "ci-deploy").await;
    chrome.fill("token-days", "7").await;
    chrome
        .click("form[action='/tokens'] button[type=submit]")
        .await;
    let secret = chrome.text("#new-token-value").await;
    assert!(secret.starts_with("gsk_"), "{secret}");
    chrome.screenshot("15-api-token-created").await;
    assert_eq!(api_status(&w, &secret).await, 200);
    chrome
        .client
        .goto(&format!("{}/tokens", w.base))
        .await
        .unwrap();
    let listed = chrome.source().await;
    assert!(listed.contains("ci-deploy") && listed.contains("bob-script"));
    assert!(!listed.contains(&secret), "the token is shown only once");
    chrome.screenshot("16-api-tokens-listed").await;
    let id = tokens_seen_by(&w, &secret)
        .await
        .into_iter()
        .find(|t| t["name"] == "ci-deploy")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The CLI lists it too, never with the token.
    let (ok, list, err) = cli(&w.data_dir, &["token", "list"]);
    assert!(ok, "{err}");
    assert!(list.contains(&id) && list.contains("ci-deploy") && !list.contains(&secret));
    chrome
        .click(&format!("form[action='/tokens/{id}/revoke'] button"))
        .await;
    assert_eq!(chrome.path().await, "/tokens?done=revoked");
    assert_eq!(api_status(&w, &secret).await, 401);

    // The operator disables bob with the CLI: access ends at once; the provider connection
    // cannot be revoked from there (no servers run in the CLI), which the report says.
    let (ok, out, err) = cli(&w.data_dir, &["user", "disable", "--email", &bob_email]);
    assert!(!ok, "a connection was not revoked: exit 1\n{out}");
    assert!(
        out.contains(&format!("user: {bob_email} disabled")),
        "{out}"
    );
    assert!(out.contains("1 API tokens"), "{out}");
    assert!(out.contains("1 MCP client authorizations"), "{out}");
    assert!(
        out.contains("connection: account oidc (alice@provider.test): not revoked")
            && out.contains("(tokens kept)"),
        "{out}"
    );
    assert!(err.contains("disable the account again"), "{err}");
    assert_eq!(w.stats().await.revocations, 0);
    assert_eq!(
        api_status(&w, &bob_token).await,
        401,
        "the token ended at once"
    );
    let refused = mcp
        .service
        .call_tool(CallToolRequestParams::new("provider_profile".to_owned()))
        .await;
    assert!(
        refused.is_err(),
        "a disabled user's MCP client still works: {refused:?}"
    );

    // The admin retries from the Users page; the report shows the revocation.
    chrome
        .client
        .goto(&format!("{}/users", w.base))
        .await
        .unwrap();
    chrome.screenshot("17-users-disabled").await;
    chrome
        .click(&format!("form[action='/users/{bob_id}/disable'] button"))
        .await;
    assert!(chrome.source().await.contains("Account disabled"));
    let report = chrome.text("#revocations").await;
    assert!(
        report.contains("alice@provider.test")
            && report.contains("revoked")
            && !report.contains("failed"),
        "{report}"
    );
    chrome.screenshot("18-offboarding-report").await;
    // Both the refresh token (which ends the grant) and the access token, at the provider.
    assert_eq!(w.stats().await.revocations, 2);

    // Bob's login is refused with a clear message.
    chrome.click("form.logout button").await;
    chrome
        .client
        .goto(&format!("{}/login", w.base))
        .await
        .unwrap();
    chrome.fill("email", &bob_email).await;
    chrome.fill("password", &bob_password).await;
    chrome.click("form.card button[type=submit]").await;
    let page = chrome.source().await;
    assert!(page.contains("is disabled; ask an admin"), "{page}");
    chrome.screenshot("19-disabled-login").await;

    // Re-enabled (CLI): bob logs in again; the old token stays ended.
    let (ok, out, err) = cli(&w.data_dir, &["user", "enable", "--email", &bob_email]);
    assert!(ok && out.contains("enabled"), "{out}{err}");
    chrome.log_in(&w.base, &bob_email, &bob_password).await;
    assert_eq!(api_status(&w, &bob_token).await, 401);
    chrome.close().await;
}
