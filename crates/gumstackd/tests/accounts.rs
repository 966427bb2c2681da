//! Several accounts of one provider end to end (SPEC §3): through the real `gumstackd demo`
//! and a real provider (`oidc-provider`), a user connects two accounts to the Provider Account
//! example; its tool gets the default account's token, or the one its `account` argument
//! names; each account's token refreshes on its own; the user renames one, makes it the
//! default and disconnects it on the Connections page.

mod common;

use std::time::Duration;

use common::oauth_demo::{World, connect_account, continue_link, press_connect, through_provider};
use common::{Browser, OAuthMcp, csrf_of, page, profile, signed_in, text_of};
use serde_json::{Value, json};

const ALICE: &str = "alice@provider.test";
const BOB: &str = "bob@provider.test";

/// Connects a second account: the provider is reached with a fresh session (as when the person
/// signs out there first) and signs in `login_hint`.
async fn connect_another(browser: &Browser, base: &str, login_hint: &str) {
    let authorize = press_connect(browser, base).await;
    let fresh = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let callback = through_provider(
        &fresh,
        base,
        &format!("{authorize}&login_hint={login_hint}"),
    )
    .await;
    let response = browser.http.get(&callback).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        response.headers()["location"],
        "/connections/account?connected=1"
    );
}

/// The email of the account whose token the tool used, and that token's fingerprint.
async fn used(mcp: &OAuthMcp, arguments: Value) -> (String, String) {
    let result = mcp.call("provider_profile", arguments).await;
    let profile = profile(&result);
    // The userinfo the provider answered for the token, and the account the platform named.
    assert_eq!(profile["email"], profile["account"], "{profile}");
    (
        profile["email"].as_str().unwrap().to_owned(),
        profile["token_fingerprint"].as_str().unwrap().to_owned(),
    )
}

/// The caller's accounts at the `account` server's provider: (id, nickname, default).
async fn accounts(w: &World) -> Vec<(String, String, bool)> {
    let reply = w
        .api(reqwest::Method::GET, "/api/me/connections", None)
        .await;
    let entry = reply["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["server"] == "account")
        .unwrap()
        .clone();
    entry["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                a["nickname"].as_str().unwrap().to_owned(),
                a["default"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// Posts one account's form on the Connections page; the status.
async fn act(browser: &Browser, base: &str, action: &str, fields: &[(&str, &str)]) -> u16 {
    let (_, account_page) = page(browser, &format!("{base}/connections/account")).await;
    let csrf = csrf_of(&account_page);
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    browser
        .http
        .post(format!("{base}/connections/account/oidc/{action}"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_connects_two_accounts_and_the_tool_uses_the_default_or_the_one_it_names() {
    let w = World::new(Duration::from_secs(6)).await;
    let mcp = OAuthMcp::connect(&w.base, &w.mcp_url, &w.admin_email, &w.admin_password).await;
    let browser = signed_in(&w.base, &w.admin_email, &w.admin_password).await;

    connect_account(&browser, &w.base).await;
    connect_another(&browser, &w.base, "bob").await;
    let (_, account_page) = page(&browser, &format!("{}/connections/account", w.base)).await;
    assert!(
        account_page.contains(ALICE) && account_page.contains(BOB),
        "{account_page}"
    );
    let listed = accounts(&w).await;
    assert_eq!(
        listed
            .iter()
            .map(|(_, nickname, default)| (nickname.as_str(), *default))
            .collect::<Vec<_>>(),
        [(ALICE, true), (BOB, false)]
    );
    let bob_id = listed[1].0.clone();

    // The default account, or the one named.
    let (email, alice_token) = used(&mcp, json!({})).await;
    assert_eq!(email, ALICE);
    let (email, bob_token) = used(&mcp, json!({ "account": BOB })).await;
    assert_eq!(email, BOB);
    assert_ne!(alice_token, bob_token);

    // An account never connected: the tool says which ones are, and where to connect.
    let unknown = mcp
        .call(
            "provider_profile",
            json!({ "account": "carol@provider.test" }),
        )
        .await;
    assert_eq!(unknown["isError"], true, "{unknown}");
    let text = text_of(&unknown);
    for expected in [ALICE, BOB, "/connections/account"] {
        assert!(text.contains(expected), "{text}");
    }

    // Both tokens expire (6 s): each account is refreshed once, on its own.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let (email, alice_refreshed) = used(&mcp, json!({})).await;
    assert_eq!(email, ALICE);
    let (email, bob_refreshed) = used(&mcp, json!({ "account": BOB })).await;
    assert_eq!(email, BOB);
    assert_ne!(alice_refreshed, alice_token);
    assert_ne!(bob_refreshed, bob_token);
    let stats = w.stats().await;
    assert_eq!(stats.token_requests.refresh_token, 2, "{stats:?}");
    assert_eq!(stats.refresh_token_reuse, 0, "{stats:?}");

    // Bob's account gets a label, then becomes the default.
    assert_eq!(
        act(
            &browser,
            &w.base,
            "rename",
            &[("account", &bob_id), ("label", "Work")]
        )
        .await,
        303
    );
    assert_eq!(used(&mcp, json!({ "account": "Work" })).await.0, BOB);
    assert_eq!(
        act(&browser, &w.base, "default", &[("account", &bob_id)]).await,
        303
    );
    assert_eq!(used(&mcp, json!({})).await.0, BOB);

    // Disconnected: revoked at the provider; Alice's account is the default again.
    let revoked_before = w.stats().await.revocations;
    assert_eq!(
        act(&browser, &w.base, "disconnect", &[("account", &bob_id)]).await,
        303
    );
    assert_eq!(w.stats().await.revocations, revoked_before + 2);
    assert_eq!(used(&mcp, json!({})).await.0, ALICE);
    let gone = mcp
        .call("provider_profile", json!({ "account": "Work" }))
        .await;
    assert_eq!(gone["isError"], true, "{gone}");
    let listed = accounts(&w).await;
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].1.as_str(), listed[0].2), (ALICE, true));
}

/// The link a tool error sends the user to (`Connect your account at <url>`).
fn link_in(text: &str) -> String {
    let start = text
        .find("Connect your account at ")
        .unwrap_or_else(|| panic!("no link: {text}"))
        + "Connect your account at ".len();
    text[start..].split_whitespace().next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_that_needs_another_scope_has_the_user_connect_again_for_it_while_others_work() {
    let w = World::new(Duration::from_secs(600)).await;
    let mcp = OAuthMcp::connect(&w.base, &w.mcp_url, &w.admin_email, &w.admin_password).await;
    let browser = signed_in(&w.base, &w.admin_email, &w.admin_password).await;
    connect_account(&browser, &w.base).await;
    let granted = "openid email offline_access";
    assert_eq!(
        w.stats().await.authorizations[0]
            .get("scope")
            .map(String::as_str),
        Some(granted)
    );

    // `provider_name` needs `profile`, which the account was not granted.
    let refused = mcp.call("provider_name", json!({})).await;
    assert_eq!(refused["isError"], true, "{refused}");
    let text = text_of(&refused);
    assert!(
        text.contains("needs more access") && text.contains("(profile)"),
        "{text}"
    );
    let link = link_in(&text);
    assert_eq!(
        link,
        format!(
            "{}/connections/account?provider=oidc&scope=openid+email+offline_access+profile",
            w.base
        )
    );
    // The server's other tools keep working meanwhile.
    assert_eq!(used(&mcp, json!({})).await.0, ALICE);

    // The link's page asks to connect again for the union of the old and the new scopes.
    let (status, step_up) = page(&browser, &link).await;
    assert_eq!(status, 200);
    assert!(step_up.contains("needs more access"), "{step_up}");
    let union = "openid email offline_access profile";
    assert!(
        step_up.contains(&format!("name=\"scope\" value=\"{union}\"")),
        "{step_up}"
    );
    let response = browser
        .http
        .post(format!("{}/connections/account/oidc/connect", w.base))
        .form(&[("csrf", csrf_of(&step_up).as_str()), ("scope", union)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let authorize = continue_link(&response.text().await.unwrap());
    let callback = through_provider(&browser.http, &w.base, &authorize).await;
    let back = browser.http.get(&callback).send().await.unwrap();
    assert_eq!(back.status().as_u16(), 303);
    // The provider was asked for all of them, in one scope parameter.
    let stats = w.stats().await;
    assert_eq!(
        stats.authorizations[1].get("scope").map(String::as_str),
        Some(union)
    );

    // The same account, now with the name.
    let named = mcp.call("provider_name", json!({})).await;
    assert_eq!(named["isError"], false, "{named}");
    assert_eq!(text_of(&named), "Alice Provider");
    assert_eq!(accounts(&w).await.len(), 1);
    assert_eq!(used(&mcp, json!({})).await.0, ALICE);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_step_up_link_with_a_scope_that_is_not_one_changes_nothing() {
    let w = World::new(Duration::from_secs(600)).await;
    let browser = signed_in(&w.base, &w.admin_email, &w.admin_password).await;
    let (status, _) = page(
        &browser,
        &format!(
            "{}/connections/account?provider=oidc&scope=profile%20%22quoted%22",
            w.base
        ),
    )
    .await;
    assert_eq!(status, 400);
    let (_, account_page) = page(&browser, &format!("{}/connections/account", w.base)).await;
    let refused = browser
        .http
        .post(format!("{}/connections/account/oidc/connect", w.base))
        .form(&[
            ("csrf", csrf_of(&account_page).as_str()),
            ("scope", "profile back\\slash"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    assert!(refused.text().await.unwrap().contains("is not a scope"));
    // No flow was started: the provider saw no authorization request.
    assert!(w.stats().await.authorizations.is_empty());
}
