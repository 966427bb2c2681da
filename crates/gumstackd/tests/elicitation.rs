//! Credentials asked for inside the call (docs/PROTOCOL.md §5), end to end through the real
//! `gumstackd demo` and its gateway, with MCP clients written by others:
//!
//! - the official Python SDK on 2026-07-28 gets an `InputRequiredResult` whose URL-mode
//!   elicitation leads to the `cred` server's form; the person fills it in (a scripted browser,
//!   signed in as that user), the client retries and the tool gets the values;
//! - the same for an `oauth` server, whose page connects the account at a real provider
//!   (`oidc-provider`);
//! - another signed-in user who opens the link is refused, and nothing is saved for anyone.

mod common;

use std::time::Duration;

use common::oauth_demo::{World, continue_link, through_provider};
use common::python::PyClient;
use common::{
    Api, Browser, OAuthMcp, Running, api_token, csrf_of, page as get, signed_in, text_of,
};
use serde_json::{Value, json};

/// The elicitation the Python client shows, after it said which revision it speaks.
fn elicitation_of(client: &mut PyClient) -> Value {
    let first = client.next();
    assert_eq!(first["protocol_version"], "2026-07-28", "{first}");
    let shown = client.next();
    let elicitation = shown["elicitation"].clone();
    assert_eq!(elicitation["mode"], "url", "{shown}");
    assert!(
        !elicitation["elicitationId"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{shown}"
    );
    elicitation
}

/// The statuses of the last `count` calls the activity log kept, newest first (waiting up to
/// ten seconds for the writer).
async fn logged_statuses(api: &Api, count: usize) -> Vec<String> {
    for _ in 0..100 {
        let (status, body) = api
            .send(reqwest::Method::GET, "/api/activity?server=keys", None)
            .await;
        assert_eq!(status, 200, "{body}");
        let calls = body["calls"].as_array().unwrap();
        if calls.len() >= count {
            return calls
                .iter()
                .take(count)
                .map(|call| call["status"].as_str().unwrap().to_owned())
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the activity log kept fewer than {count} calls");
}

/// A second admin (who can see every server), `eve@gumstack.test`, with `password`.
async fn second_user(api: &Api, password: &str) -> (String, String) {
    let email = "eve@gumstack.test".to_owned();
    let (status, body) = api
        .send(
            reqwest::Method::POST,
            "/api/users",
            Some(json!({ "email": email, "role": "admin", "password": password })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    (email, password.to_owned())
}

/// Another signed-in user opening `link` is refused, and says so.
async fn refused_to(eve: &Browser, link: &str) {
    let (status, page) = get(eve, link).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("made for someone else"), "{page}");
    assert!(
        page.contains("Nothing was connected and nothing was saved"),
        "{page}"
    );
    assert!(!page.contains("<form class=\"card\""), "no form: {page}");
}

#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_on_2026_07_28_enters_credentials_inside_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("demo");
    let mut demo = Running::demo(&data_dir);
    let base = demo.read_until("dashboard: ");
    let login = demo.read_until("login: ");
    let (email, password) = login.split_once(" / ").unwrap();
    let url = format!("{base}/mcp/keys");
    let api = Api::new(&base, api_token(&data_dir));
    let (eve_email, eve_password) = second_user(&api, "eve-password-123").await;

    let token = OAuthMcp::connect(&base, &url, email, password)
        .await
        .access_token()
        .await;
    let mut client = PyClient::call(&url, &token, "key_suffix", &json!({}));
    let elicitation = elicitation_of(&mut client);
    let link = elicitation["url"].as_str().unwrap().to_owned();
    assert!(
        link.starts_with(&format!("{base}/connections/keys?elicitation=")),
        "{elicitation}"
    );
    assert!(
        elicitation["message"]
            .as_str()
            .unwrap()
            .contains("credentials"),
        "{elicitation}"
    );

    // Another user who opens the link is refused; nothing of theirs or the user's changes.
    let eve = signed_in(&base, &eve_email, &eve_password).await;
    refused_to(&eve, &link).await;
    let (_, eves_form) = get(&eve, &format!("{base}/connections/keys")).await;
    assert!(
        !eves_form.contains("Delete my credentials"),
        "eve saved nothing"
    );
    // A link altered by a byte is not the platform's.
    let (status, page) = get(&eve, &format!("{link}x")).await;
    assert_eq!(status, 400, "{page}");

    // The user opens it, signed in: the form, and what to do after.
    let browser = signed_in(&base, email, password).await;
    let (status, page) = get(&browser, &link).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Your MCP client asked for this"), "{page}");
    let saved = browser
        .http
        .post(format!("{base}/connections/keys"))
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("api_key", "sk-elicited-9876"),
            ("region", "eu-west"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status().as_u16(), 303);
    let (_, after) = get(
        &browser,
        &format!("{base}{}", saved.headers()["location"].to_str().unwrap()),
    )
    .await;
    assert!(after.contains("return to it now"), "{after}");

    // Done: the client retries with its requestState and gets the tool's result.
    client.answer("accept");
    let last = client.next();
    let result = &last["result"];
    assert_ne!(result["isError"], true, "{last}");
    let text = text_of(result);
    assert!(text.contains("9876") && text.contains("eu-west"), "{text}");

    // The activity log shows the call that asked, with its own status, then the retry.
    let statuses = logged_statuses(&api, 2).await;
    assert_eq!(statuses, ["success", "input_required"], "newest first");

    // A client that declines gets the server's own answer: the tool error with the link.
    let eve_token = OAuthMcp::connect(&base, &url, &eve_email, &eve_password)
        .await
        .access_token()
        .await;
    let mut declining = PyClient::call(&url, &eve_token, "key_suffix", &json!({}));
    let _ = elicitation_of(&mut declining);
    declining.answer("decline");
    let last = declining.next();
    assert_eq!(last["result"]["isError"], true, "{last}");
    assert!(
        text_of(&last["result"]).contains(&format!("{base}/connections/keys")),
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_on_2026_07_28_connects_an_account_inside_the_call() {
    let w = World::new(Duration::from_secs(300)).await;
    let token = OAuthMcp::connect(&w.base, &w.mcp_url, &w.admin_email, &w.admin_password)
        .await
        .access_token()
        .await;
    let mut client = PyClient::call(&w.mcp_url, &token, "provider_profile", &json!({}));
    let elicitation = elicitation_of(&mut client);
    let link = elicitation["url"].as_str().unwrap().to_owned();
    assert!(
        link.starts_with(&format!("{}/connections/account?elicitation=", w.base)),
        "{elicitation}"
    );
    assert!(
        elicitation["message"]
            .as_str()
            .unwrap()
            .contains("not connected yet"),
        "{elicitation}"
    );

    // The person opens the link and connects the account at the provider.
    let browser = signed_in(&w.base, &w.admin_email, &w.admin_password).await;
    let (status, page) = get(&browser, &link).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Connect your account below"), "{page}");
    let connect = browser
        .http
        .post(format!("{}/connections/account/oidc/connect", w.base))
        .form(&[("csrf", csrf_of(&page))])
        .send()
        .await
        .unwrap();
    assert_eq!(connect.status().as_u16(), 200);
    let authorize = continue_link(&connect.text().await.unwrap());
    let callback = through_provider(&browser.http, &w.base, &authorize).await;
    let back = browser.http.get(&callback).send().await.unwrap();
    assert_eq!(back.status().as_u16(), 303);

    client.answer("accept");
    let last = client.next();
    let result = &last["result"];
    assert_ne!(result["isError"], true, "{last}");
    assert!(
        text_of(result).contains("alice@provider.test"),
        "the tool got the connected account's token: {last}"
    );
}

/// Runs tests/js/elicit-client.mjs to its end; its JSON line.
fn ts_call(url: &str, token: &str, tool: &str, mode: &str) -> Value {
    let js_dir = common::repo_root().join("tests/js");
    common::node::node_version();
    common::node::installed_sdk(&js_dir);
    let out = std::process::Command::new("node")
        .arg(js_dir.join("elicit-client.mjs"))
        .args([url, token, tool, mode])
        .current_dir(&js_dir)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the TypeScript client failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn typescript_sdk_on_2025_11_25_gets_the_url_elicitation_error_only_when_it_declared_url_mode()
 {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("demo");
    let mut demo = Running::demo(&data_dir);
    let base = demo.read_until("dashboard: ");
    let login = demo.read_until("login: ");
    let (email, password) = login.split_once(" / ").unwrap();
    let url = format!("{base}/mcp/keys");
    let token = OAuthMcp::connect(&base, &url, email, password)
        .await
        .access_token()
        .await;

    let declared = ts_call(&url, &token, "key_suffix", "url");
    assert_eq!(declared["protocol_version"], "2025-11-25", "{declared}");
    assert_eq!(declared["error"]["code"], -32042, "{declared}");
    let elicitation = &declared["error"]["elicitations"][0];
    assert_eq!(elicitation["mode"], "url", "{declared}");
    let link = elicitation["url"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("{base}/connections/keys?elicitation=")),
        "{declared}"
    );
    // The link is usable: the user it was made for gets the form.
    let browser = signed_in(&base, email, password).await;
    let (status, page) = get(&browser, link).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Enter your credentials below"), "{page}");

    // Without URL elicitation: the tool error with the link, as before.
    let plain = ts_call(&url, &token, "key_suffix", "none");
    assert_eq!(plain["result"]["isError"], true, "{plain}");
    assert!(
        text_of(&plain["result"]).contains(&format!("{base}/connections/keys")),
        "{plain}"
    );
}
