//! The `cred` auth type end to end: the demo hosts the Key Echo example; a user's tool call
//! without saved credentials is a tool error carrying the form's URL; after the user fills the
//! form in, the tool gets the value (it shows the last four characters).

mod common;

use common::{Browser, OAuthMcp, Running, hidden_fields, text_of};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_cred_server_gets_what_the_user_typed_into_the_form() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("demo");
    let mut demo = Running::demo(&data_dir);
    let base = demo.read_until("dashboard: ");
    let login = demo.read_until("login: ");
    let (email, password) = login.split_once(" / ").unwrap();
    let mut url = None;
    while url.is_none() {
        let line = demo.read_until("server: ");
        if let Some(rest) = line.strip_prefix("keys (cred) ") {
            url = Some(rest.to_owned());
        }
    }
    let url = url.unwrap();
    assert_eq!(url, format!("{base}/mcp/keys"));

    let mcp = OAuthMcp::connect(&base, &url, email, password).await;
    let before = mcp.call("key_suffix", json!({})).await;
    assert_eq!(before["isError"], true, "{before}");
    let form_url = format!("{base}/connections/keys");
    assert!(
        text_of(&before).contains(&form_url),
        "the error links to the form: {before}"
    );

    // The user fills the form in, in a browser.
    let browser = Browser::new(&base);
    browser
        .log_in(&format!("{base}/login"), email, password)
        .await;
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
    form.push(("api_key".into(), "sk-e2e-secret-4242".into()));
    form.push(("region".into(), "eu-north".into()));
    let saved = browser
        .http
        .post(&form_url)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        saved.status().as_u16(),
        303,
        "{}",
        saved.text().await.unwrap()
    );

    let after = mcp.call("key_suffix", json!({})).await;
    assert_ne!(after["isError"], true, "{after}");
    let text = text_of(&after);
    assert!(text.contains("4242") && text.contains("eu-north"), "{text}");
    assert!(
        !text.contains("sk-e2e-secret"),
        "the example shows only the suffix: {text}"
    );
}
