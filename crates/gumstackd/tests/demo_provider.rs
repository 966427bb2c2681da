//! `gumstackd demo` with nothing set up: its `account` example (auth type `oauth`) works end
//! to end against the demo provider it starts, in a real browser (Chromium) — connect an
//! account, see its nickname, call `provider_profile`, watch the token refresh, connect a
//! second account and call the tool with it by name, disconnect both —
//! with screenshots of each step.

mod common;

use std::time::{Duration, Instant};

use common::chrome::Chrome;
use common::{OAuthMcp, Running, profile, text_of};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn the_demos_oauth_example_connects_refreshes_and_disconnects_with_no_set_up() {
    let Some(mut chrome) = Chrome::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("demo");
    let mut demo = Running::start(
        &[
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--demo-token-secs",
            "4",
        ],
        &[],
    );
    let base = demo.read_until("dashboard: ");
    let login = demo.read_until("login: ");
    let (email, password) = login.split_once(" / ").unwrap();
    let line = demo.read_until("demo provider: ");
    let provider = line.split_whitespace().next().unwrap().to_owned();
    assert!(provider.starts_with("http://127.0.0.1:"), "{line}");
    assert!(line.contains("not a real provider"), "{line}");

    chrome.set_width(1100);
    chrome.log_in(&base, email, password).await;
    chrome
        .client
        .goto(&format!("{base}/connections/account"))
        .await
        .unwrap();
    assert!(chrome.source().await.contains("Not connected"));
    chrome.screenshot("demo-1-account-not-connected").await;

    // Connect: on to the demo provider's page, which says what it is.
    to_provider(&chrome, &provider).await;
    assert!(chrome.text("p.banner").await.contains("Demo provider."));
    chrome.screenshot("demo-2-provider-sign-in").await;
    chrome.click("#as-demo-ada").await;
    assert_eq!(chrome.path().await, "/connections/account?connected=1");
    assert_eq!(
        chrome.text("strong.nickname").await,
        "ada@demo-provider.test"
    );
    chrome.screenshot("demo-3-account-connected").await;

    // The tool gets the account's token; once it has nearly expired, a refreshed one.
    let mcp = OAuthMcp::connect(&base, &format!("{base}/mcp/account"), email, password).await;
    let first = profile(&mcp.call("provider_profile", json!({})).await);
    assert_eq!(first["email"], "ada@demo-provider.test", "{first}");
    let fingerprint = first["token_fingerprint"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = profile(&mcp.call("provider_profile", json!({})).await);
        assert_eq!(now["email"], "ada@demo-provider.test", "{now}");
        if now["token_fingerprint"] != fingerprint.as_str() {
            break;
        }
        assert!(Instant::now() < deadline, "the token was never refreshed");
    }

    // A second account (the demo provider asks which one every time): both are listed, Ada's
    // stays the default, and the tool uses Grace's when asked by name.
    chrome
        .client
        .goto(&format!("{base}/connections/account"))
        .await
        .unwrap();
    to_provider(&chrome, &provider).await;
    chrome.click("#as-demo-grace").await;
    assert_eq!(chrome.path().await, "/connections/account?connected=1");
    let page = chrome.source().await;
    assert_eq!(page.matches("<li class=\"account\"").count(), 2, "{page}");
    assert_eq!(
        page.matches("<span class=\"badge\">default</span>").count(),
        1
    );
    chrome.screenshot("demo-4-two-accounts").await;
    let grace = profile(
        &mcp.call(
            "provider_profile",
            json!({ "account": "grace@demo-provider.test" }),
        )
        .await,
    );
    assert_eq!(grace["email"], "grace@demo-provider.test", "{grace}");
    let ada = profile(&mcp.call("provider_profile", json!({})).await);
    assert_eq!(ada["email"], "ada@demo-provider.test", "{ada}");

    // Disconnect both (the default first: Grace's takes over): gone from the page, and the
    // tool links to the page again.
    for left in [1, 0] {
        chrome
            .click("form[action='/connections/account/oidc/disconnect'] button")
            .await;
        let page = chrome.source().await;
        assert_eq!(
            page.matches("<li class=\"account\"").count(),
            left,
            "{page}"
        );
    }
    assert!(chrome.source().await.contains("Not connected"));
    chrome.screenshot("demo-5-account-disconnected").await;
    let after = mcp.call("provider_profile", json!({})).await;
    assert_eq!(after["isError"], true, "{after}");
    assert!(text_of(&after).contains("/connections/account"), "{after}");
    chrome.close().await;
    drop(demo);
}

/// Presses Connect (the first connect form) and waits for the demo provider's account picker.
async fn to_provider(chrome: &Chrome, provider: &str) {
    chrome
        .click("form[action='/connections/account/oidc/connect'] button")
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !chrome
        .client
        .current_url()
        .await
        .unwrap()
        .as_str()
        .starts_with(provider)
        || !chrome.source().await.contains("as-demo-ada")
    {
        assert!(Instant::now() < deadline, "never reached the demo provider");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
