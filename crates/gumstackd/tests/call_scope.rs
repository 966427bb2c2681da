//! Call-scoped credentials end to end with the real binaries: `gumstackd serve` hosts a
//! server process (`fixtures/identity_keeper.py`) that keeps the identity and id of every call
//! it serves. During a call, they are accepted by the credentials route; replayed in the next
//! call, once their own call has ended, the same unexpired identity with the old call's id is
//! refused.

mod common;

use common::{Api, OAuthMcp, Running, text_of};
use serde_json::{Value, json};

const CONFIG: &str = "name: Identity Keeper\nauth:\n  type: cred\n  credentials:\n    - name: api_key\n      label: API key\n      secret: true\n";

/// What the tool reported the platform answered it.
fn outcome(result: &Value) -> Value {
    serde_json::from_str(&text_of(result)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_identity_kept_by_a_server_fetches_nothing_after_its_call() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data = data_dir.to_str().unwrap();
    let mut platform = Running::start(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", data],
        &[],
    );
    let base = platform.read_until("dashboard: ");
    let login = platform.read_until("login: ");
    let (email, password) = login.split_once(" / ").unwrap();
    let api = Api::new(&base, common::api_token(&data_dir));
    let server = api
        .create_python_server(
            "keeper",
            CONFIG,
            "crates/gumstackd/tests/fixtures/identity_keeper.py",
        )
        .await;
    api.wait_live("keeper", 1).await;
    let mcp_url = server["mcp_url"].as_str().unwrap().to_owned();
    let mcp = OAuthMcp::connect(&base, &mcp_url, email, password).await;

    // During its call, the identity is accepted: the user has saved nothing yet, so the
    // platform sends them to the form (an identity it refused would get 401).
    let during = outcome(&mcp.call("fetch", json!({})).await);
    assert_eq!(during["status"], 409, "{during}");
    assert_eq!(during["body"]["error"]["code"], "credentials_required");

    // The identity and id of that call, replayed by the server during the next call: refused.
    let replayed = outcome(&mcp.call("replay", json!({})).await);
    assert_eq!(replayed["status"], 401, "{replayed}");
    assert_eq!(replayed["body"]["error"]["code"], "invalid_identity");
    let message = replayed["body"]["error"]["message"].as_str().unwrap();
    assert!(message.contains("is over"), "{message}");
    // The replaying call's own identity and id still work for the call they came with.
    let again = outcome(&mcp.call("fetch", json!({})).await);
    assert_eq!(again["status"], 409, "{again}");
    drop(platform);
}
