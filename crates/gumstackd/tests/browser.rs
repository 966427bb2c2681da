//! The dashboard in a real browser (headless Chromium over chromedriver) against the real
//! `gumstackd demo`: an admin logs in, creates a `cred` server from a pasted config.yaml (after
//! a config error), sets and replaces an env var (whose values never reach a page), redeploys,
//! adds a member; the member gets 403 on admin pages, enters credentials in the form, an MCP
//! client gets them in a tool call, and revoking the client on the MCP clients page stops it.
//! Markup in the server name and a credential label is shown as text. A user connects an
//! account at a real OAuth provider (`oidc-provider`) and disconnects it. A server's Tools tab
//! shows the tools × groups matrix, where the admin denies a tool with one click, and its
//! Deployments tab the history without env values. Every page is saved
//! as a PNG under `target/test-output/screenshots/`.

mod common;

use std::time::{Duration, Instant};

use common::chrome::Chrome;
use common::oauth_demo::World;
use common::{Browser, OAuthMcp, Running, sibling_binary, text_of};
use rmcp::model::CallToolRequestParams;
use serde_json::json;

const ENV_FIRST: &str = "first-env-value-1111";
const ENV_SECOND: &str = "second-env-value-2222";
const MEMBER_EMAIL: &str = "member@example.com";
const MEMBER_PASSWORD: &str = "member-password-1234";
const MEMBER_KEY: &str = "sk-browser-member-5678";

/// The Key Echo example's config.yaml with markup in the name and in a credential label.
fn hostile_config() -> String {
    let original = include_str!("../../../examples/cred-server/config.yaml");
    let config = original
        .replace(
            "name: \"Key Echo\"",
            "name: \"Echo <script>alert('name')</script>\"",
        )
        .replace(
            "label: \"API key\"",
            "label: \"API key <script>alert('label')</script>\"",
        );
    assert_ne!(config, original, "the example config changed shape");
    config
}

/// Reloads the overview until the server's status is `live`.
async fn wait_live(chrome: &Chrome, base: &str, slug: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        chrome
            .client
            .goto(&format!("{base}/servers/{slug}"))
            .await
            .unwrap();
        let source = chrome.source().await;
        if source.contains("<dt>Status</dt><dd>live</dd>") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{slug} never went live: {source}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The rows of the calls table at `path`, reloaded until it has at least `count` (the log is
/// written off the request path, a moment after the call ends).
async fn activity_rows(chrome: &Chrome, base: &str, path: &str, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        chrome.client.goto(&format!("{base}{path}")).await.unwrap();
        let rows = chrome
            .client
            .find_all(fantoccini::Locator::Css("table tbody tr"))
            .await
            .unwrap();
        let mut texts = Vec::with_capacity(rows.len());
        for row in rows {
            texts.push(row.text().await.unwrap());
        }
        if texts.len() >= count {
            return texts;
        }
        assert!(
            Instant::now() < deadline,
            "{path} shows {} calls, not {count}: {texts:?}",
            texts.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn assert_no_env_value(source: &str, page: &str) {
    for value in [ENV_FIRST, ENV_SECOND] {
        assert!(!source.contains(value), "{page} shows an env var value");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_works_in_a_real_browser() {
    let Some(mut chrome) = Chrome::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut demo = Running::demo(&dir.path().join("demo"));
    let base = demo.read_until("dashboard: ");
    let login = demo.read_until("login: ");
    let (email, password) = login.split_once(" / ").unwrap();

    // The admin logs in and sees the servers.
    chrome.client.goto(&format!("{base}/login")).await.unwrap();
    chrome.screenshot("01-login").await;
    chrome.log_in(&base, email, password).await;
    assert!(
        chrome.source().await.contains("Key Echo"),
        "the demo's servers"
    );
    chrome.screenshot("02-servers").await;

    // Creating a server: a config error first, shown with its position, input kept.
    chrome.click("a[href='/new']").await;
    assert_eq!(chrome.path().await, "/new");
    let config = hostile_config();
    let command = sibling_binary("example-cred-server");
    chrome
        .fill("config_yaml", &format!("{config}colour: blue\n"))
        .await;
    chrome.fill("command", &command.display().to_string()).await;
    chrome.fill("slug", "echo").await;
    chrome.click("form.card button[type=submit]").await;
    let error = chrome.text("div.error").await;
    assert!(
        error.contains("colour") && error.contains("line") && error.contains("column"),
        "{error}"
    );
    let kept = chrome
        .client
        .find(fantoccini::Locator::Id("config_yaml"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(kept.contains("colour: blue") && kept.contains("<script>alert('name')"));
    chrome.screenshot("03-create-error").await;
    chrome.fill("config_yaml", &config).await;
    chrome.click("form.card button[type=submit]").await;
    assert_eq!(chrome.path().await, "/servers/echo?done=created");
    // The name is text, not markup: no script ran, no dialog opened.
    assert_eq!(
        chrome.text("h1").await,
        "Echo <script>alert('name')</script>"
    );
    assert!(chrome.client.get_alert_text().await.is_err(), "no alert");
    assert!(!chrome.source().await.contains("<script>alert("));
    let mcp_url = chrome
        .client
        .find(fantoccini::Locator::Id("mcp-url"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mcp_url, format!("{base}/mcp/echo"));
    chrome.screenshot("04-overview").await;

    // Settings: an env var set, then replaced; its values never come back.
    chrome
        .click("nav.tabs a[href='/servers/echo/settings']")
        .await;
    chrome.fill("env-name", "ECHO_NOTE").await;
    chrome.fill("env-value", ENV_FIRST).await;
    chrome.click("#env-value + button").await;
    assert_eq!(chrome.path().await, "/servers/echo/settings?done=env");
    let source = chrome.source().await;
    assert!(source.contains("ECHO_NOTE") && source.contains("next deployment"));
    assert_no_env_value(&source, "settings after saving");
    chrome.fill("replace-ECHO_NOTE", ENV_SECOND).await;
    chrome.click("#replace-ECHO_NOTE + button").await;
    let source = chrome.source().await;
    assert_no_env_value(&source, "settings after replacing");
    assert!(source.contains("Redeploy now"), "the redeploy prompt");
    chrome.screenshot("05-settings").await;
    chrome.click(".prompt button[type=submit]").await;
    assert_eq!(chrome.path().await, "/servers/echo/settings?done=redeploy");
    wait_live(&chrome, &base, "echo").await;
    assert_no_env_value(&chrome.source().await, "the overview");
    chrome.client.goto(&format!("{base}/")).await.unwrap();
    assert_no_env_value(&chrome.source().await, "the servers list");

    // The same pages on a narrow screen.
    chrome.set_width(390);
    chrome.screenshot("06-servers-narrow").await;
    chrome
        .client
        .goto(&format!("{base}/servers/echo/settings"))
        .await
        .unwrap();
    chrome.screenshot("07-settings-narrow").await;
    chrome.set_width(1280);

    // The admin adds a member with a password of their choosing.
    chrome.client.goto(&format!("{base}/users")).await.unwrap();
    chrome.fill("email", MEMBER_EMAIL).await;
    chrome.fill("password", MEMBER_PASSWORD).await;
    chrome.click("section form.card button[type=submit]").await;
    let notice = chrome.text(".notice").await;
    assert!(notice.contains(MEMBER_EMAIL), "{notice}");
    assert!(!chrome.source().await.contains(MEMBER_PASSWORD));
    chrome.screenshot("08-users").await;

    // A permission group that keeps the new member off one tool of echo.
    chrome.client.goto(&format!("{base}/groups")).await.unwrap();
    chrome.fill("name", "Interns").await;
    chrome.click("section form.card button[type=submit]").await;
    assert_eq!(chrome.text("h1").await, "Interns");
    chrome
        .client
        .find(fantoccini::Locator::Id("user"))
        .await
        .unwrap()
        .select_by_label(MEMBER_EMAIL)
        .await
        .unwrap();
    chrome.click("form[action$='/members'] button").await;
    assert!(chrome.text(".notice").await.contains("User moved"));
    // Each of echo's tools has its own choice; `whoami` is denied to the group.
    chrome
        .client
        .find(fantoccini::Locator::Id("tool-echo-whoami"))
        .await
        .unwrap()
        .select_by_value("deny")
        .await
        .unwrap();
    chrome
        .click("form[action$='/servers/echo'] button[type=submit]")
        .await;
    assert!(chrome.text(".notice").await.contains("Saved"));
    let chosen = chrome
        .client
        .find(fantoccini::Locator::Id("tool-echo-whoami"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(chosen.as_deref(), Some("deny"));
    chrome.screenshot("08b-group").await;
    chrome.client.goto(&format!("{base}/groups")).await.unwrap();
    chrome.screenshot("08c-groups").await;

    // The Tools tab: echo's tools × the groups; the admin denies a tool to the default group
    // with one click, then puts it back to the default.
    chrome
        .client
        .goto(&format!("{base}/servers/echo"))
        .await
        .unwrap();
    chrome.click("nav.tabs a[href='/servers/echo/tools']").await;
    let source = chrome.source().await;
    assert!(source.contains("Interns") && source.contains("key_suffix"));
    let whoami = chrome
        .text("td[data-tool='whoami']:last-child .decision")
        .await;
    assert_eq!(whoami, "Denied", "Interns may not call whoami");
    chrome.screenshot("08d-tools").await;
    chrome
        .click("td[data-tool='key_suffix'] button[value='deny']")
        .await;
    assert!(chrome.text(".notice").await.contains("Saved"));
    assert_eq!(
        chrome.text("td[data-tool='key_suffix'] .decision").await,
        "Denied"
    );
    chrome.screenshot("08e-tools-denied").await;
    chrome
        .click("td[data-tool='key_suffix'] button[value='default']")
        .await;
    assert_eq!(
        chrome.text("td[data-tool='key_suffix'] .decision").await,
        "Allowed"
    );

    // The Deployments tab: the history, and no env value in the output shown.
    chrome
        .click("nav.tabs a[href='/servers/echo/deployments']")
        .await;
    let source = chrome.source().await;
    assert!(
        source.contains("#2") && source.contains("stopped"),
        "the history"
    );
    assert_no_env_value(&source, "the deployments tab");
    chrome.screenshot("08f-deployments").await;

    // The audit trail has what the admin just did, with the member as target.
    chrome.click("nav a[href='/audit']").await;
    assert_eq!(chrome.text("h1").await, "Audit trail");
    let trail = chrome.text("table").await;
    for action in ["user.created", "user.group_changed", "group.access_changed"] {
        assert!(trail.contains(action), "{action}: {trail}");
    }
    assert!(trail.contains(MEMBER_EMAIL), "{trail}");
    chrome.screenshot("08d-audit").await;
    chrome.click("form.logout button").await;
    assert_eq!(chrome.path().await, "/login");

    // The member: admin pages are refused with a clear page (and a 403).
    chrome.log_in(&base, MEMBER_EMAIL, MEMBER_PASSWORD).await;
    for page in ["/users", "/new", "/servers/echo/settings", "/audit"] {
        chrome.client.goto(&format!("{base}{page}")).await.unwrap();
        assert_eq!(chrome.text("h1").await, "Not allowed", "{page}");
    }
    chrome.screenshot("09-forbidden").await;
    let scripted = Browser::new(&base);
    scripted
        .log_in(&format!("{base}/login"), MEMBER_EMAIL, MEMBER_PASSWORD)
        .await;
    let status = scripted
        .http
        .get(format!("{base}/users"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 403);

    // The member enters credentials; the label's markup is text.
    chrome
        .client
        .goto(&format!("{base}/connections/echo"))
        .await
        .unwrap();
    let label = chrome.text("label[for='field-api_key']").await;
    assert!(
        label.contains("API key <script>alert('label')</script>"),
        "{label}"
    );
    assert!(chrome.client.get_alert_text().await.is_err(), "no alert");
    chrome.fill("field-api_key", MEMBER_KEY).await;
    chrome.fill("field-region", "eu-west").await;
    chrome.click("form.card button[type=submit]").await;
    assert_eq!(chrome.path().await, "/connections/echo?saved=1");
    assert!(!chrome.source().await.contains(MEMBER_KEY));
    chrome.screenshot("10-credentials").await;

    // An MCP client, logged in as the member, gets them in a tool call.
    let mcp = OAuthMcp::connect(&base, &mcp_url, MEMBER_EMAIL, MEMBER_PASSWORD).await;
    let result = mcp.call("key_suffix", json!({})).await;
    assert_ne!(result["isError"], true, "{result}");
    let text = text_of(&result);
    assert!(text.contains("5678") && text.contains("eu-west"), "{text}");
    // The tool the member's group denies is not offered to them.
    let tools = mcp.service.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    assert!(
        names.contains(&"key_suffix") && !names.contains(&"whoami"),
        "{names:?}"
    );

    // Calling the denied tool is refused, and logged as such.
    let denied = mcp
        .service
        .call_tool(CallToolRequestParams::new("whoami".to_owned()))
        .await;
    assert!(denied.is_err(), "whoami is denied to Interns: {denied:?}");

    // The member's own calls, on the Activity page: the success and the refusal.
    let rows = activity_rows(&chrome, &base, "/activity", 2).await;
    assert!(
        rows.iter()
            .any(|row| row.contains("key_suffix") && row.contains("Success")),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|row| row.contains("whoami") && row.contains("Permission Denied")),
        "{rows:?}"
    );
    assert!(!chrome.source().await.contains(MEMBER_KEY));
    chrome.screenshot("10b-activity-member").await;
    // One call's page: what the tool answered, without the member's key.
    chrome
        .client
        .find(fantoccini::Locator::Id("status"))
        .await
        .unwrap()
        .select_by_value("success")
        .await
        .unwrap();
    chrome.click("form.filters button[type=submit]").await;
    assert_eq!(
        chrome.path().await,
        "/activity?status=success&server=&tool=&user=&from=&to="
    );
    let rows = chrome.text("table tbody").await;
    assert!(!rows.contains("whoami"), "filtered to successes: {rows}");
    chrome
        .click("table tbody tr:first-child td:first-child a")
        .await;
    assert!(chrome.path().await.starts_with("/activity/"));
    assert_eq!(chrome.text("h1").await, "Call of key_suffix");
    let output = chrome.text("section[aria-labelledby=output] pre.log").await;
    assert!(output.contains("5678"), "{output}");
    assert!(!chrome.source().await.contains(MEMBER_KEY));
    chrome.screenshot("10c-activity-call").await;

    // The member sees that client and revokes it: its next call is refused.
    chrome
        .client
        .goto(&format!("{base}/clients"))
        .await
        .unwrap();
    let source = chrome.source().await;
    assert!(source.contains("rmcp e2e test") && source.contains("/servers/echo"));
    chrome.screenshot("11-clients").await;
    chrome.click("form[action$='/revoke'] button").await;
    assert_eq!(chrome.path().await, "/clients?done=revoked");
    let refused = mcp
        .service
        .call_tool(CallToolRequestParams::new("key_suffix".to_owned()))
        .await;
    assert!(
        refused.is_err(),
        "a revoked client's token still works: {refused:?}"
    );

    chrome.close().await;
    drop(demo);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oauth_account_is_connected_and_disconnected_in_a_real_browser() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let w = World::new(Duration::from_secs(600)).await;
    chrome
        .log_in(&w.base, &w.admin_email, &w.admin_password)
        .await;
    chrome
        .client
        .goto(&format!("{}/connections/account", w.base))
        .await
        .unwrap();
    assert!(chrome.source().await.contains("Not connected"));
    chrome.screenshot("12-oauth-not-connected").await;

    // Connect: the browser goes to the provider (which logs its test account in and consents
    // by itself) and comes back through the platform's callback.
    chrome
        .click("form[action='/connections/account/oidc/connect'] button")
        .await;
    assert_eq!(chrome.path().await, "/connections/account?connected=1");
    assert!(
        chrome.text("p.notice").await.contains("return to it now"),
        "the page tells the person to go back to their MCP client"
    );
    assert_eq!(chrome.text("strong.nickname").await, "alice@provider.test");
    chrome.screenshot("13-oauth-connected").await;
    assert_eq!(w.stats().await.token_requests.authorization_code, 1);

    // Its tools get the account's token.
    let mcp = OAuthMcp::connect(&w.base, &w.mcp_url, &w.admin_email, &w.admin_password).await;
    let profile = mcp.call("provider_profile", json!({})).await;
    assert!(
        text_of(&profile).contains("alice@provider.test"),
        "{profile}"
    );

    // Disconnect: revoked at the provider, gone from the page, and the tool says to connect.
    chrome
        .click("form[action='/connections/account/oidc/disconnect'] button")
        .await;
    assert_eq!(chrome.path().await, "/connections/account");
    assert!(chrome.source().await.contains("Not connected"));
    chrome.screenshot("14-oauth-disconnected").await;
    // The refresh token (ending the grant) and the access token.
    assert_eq!(w.stats().await.revocations, 2);
    let after = mcp.call("provider_profile", json!({})).await;
    assert_eq!(after["isError"], true, "{after}");
    assert!(text_of(&after).contains("/connections/account"));
    chrome.close().await;
}
