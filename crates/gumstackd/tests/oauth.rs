//! The `oauth` auth type end to end against a real OAuth provider (`oidc-provider`, with
//! refresh-token rotation, short-lived access tokens and a fault-injecting layer in front of its
//! token endpoint): the demo hosts the Provider Account example; a user connects their account
//! through the platform's flow in a scripted browser; tools get the user's token, refreshed by
//! the platform when it expires, once per connection however many calls wait for it.

mod common;

use std::time::Duration;

use common::oauth_demo::{
    World, banner, connect_account, demo_on, demo_with, press_connect, through_provider,
};
use common::oidc::Fault;
use common::{
    Api, OAuthMcp, api_token, csrf_of, page, profile, sibling_binary, signed_in as browser, text_of,
};
use serde_json::{Value, json};

fn fingerprint(result: &Value) -> String {
    profile(result)["token_fingerprint"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn tool_error(result: &Value) -> String {
    assert_eq!(result["isError"], true, "expected a tool error: {result}");
    text_of(result)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_connects_their_account_and_tools_get_a_token_refreshed_once_when_it_expires() {
    let w = World::new(Duration::from_secs(6)).await;
    let mcp = OAuthMcp::connect(&w.base, &w.mcp_url, &w.admin_email, &w.admin_password).await;

    // Not connected yet: a tool error with the link to connect.
    let before = mcp.call("provider_profile", json!({})).await;
    let text = tool_error(&before);
    assert!(
        text.contains(&format!("{}/connections/account", w.base)),
        "{text}"
    );

    let browser = browser(&w.base, &w.admin_email, &w.admin_password).await;
    let connected = connect_account(&browser, &w.base).await;
    assert!(connected.contains("Connected as"), "{connected}");
    assert!(connected.contains("alice@provider.test"), "{connected}");
    let authorization = &w.stats().await.authorizations[0];
    assert_eq!(
        authorization
            .get("code_challenge_method")
            .map(String::as_str),
        Some("S256")
    );

    let first = mcp.call("provider_profile", json!({})).await;
    assert_eq!(profile(&first)["email"], "alice@provider.test", "{first}");
    let first_token = fingerprint(&first);
    let stats = w.stats().await;
    assert_eq!(stats.token_requests.authorization_code, 1);
    assert_eq!(stats.token_requests.refresh_token, 0);

    // The provider's access tokens live 6 s.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let second = mcp.call("provider_profile", json!({})).await;
    assert_eq!(profile(&second)["email"], "alice@provider.test", "{second}");
    let second_token = fingerprint(&second);
    assert_ne!(
        second_token, first_token,
        "the tool got the refreshed token"
    );
    let third = mcp.call("provider_profile", json!({})).await;
    assert_eq!(fingerprint(&third), second_token);

    let stats = w.stats().await;
    assert_eq!(stats.token_requests.refresh_token, 1, "{stats:?}");
    assert_eq!(stats.refresh_token_reuse, 0, "{stats:?}");
    assert_eq!(stats.refresh_token_errors, 0, "{stats:?}");

    // Expired again: the rotated refresh token is the one used.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let fourth = mcp.call("provider_profile", json!({})).await;
    assert_ne!(fingerprint(&fourth), second_token);
    let stats = w.stats().await;
    assert_eq!(stats.token_requests.refresh_token, 2, "{stats:?}");
    assert_eq!(stats.refresh_token_reuse, 0, "{stats:?}");
    assert_ne!(stats.refresh_tokens_used[0], stats.refresh_tokens_used[1]);

    // Disconnect: the platform asks the provider to revoke the token, then forgets it.
    let (_, account_page) = page(&browser, &format!("{}/connections/account", w.base)).await;
    let disconnected = browser
        .http
        .post(format!("{}/connections/account/oidc/disconnect", w.base))
        .form(&[("csrf", csrf_of(&account_page))])
        .send()
        .await
        .unwrap();
    assert_eq!(disconnected.status().as_u16(), 303);
    // The refresh token (ending the grant) and the access token.
    assert_eq!(w.stats().await.revocations, 2);
    let (_, account_page) = page(&browser, &format!("{}/connections/account", w.base)).await;
    assert!(account_page.contains("Not connected"), "{account_page}");
    let after = mcp.call("provider_profile", json!({})).await;
    assert!(tool_error(&after).contains("/connections/account"));
}

#[tokio::test(flavor = "multi_thread")]
async fn until_the_developer_configures_the_provider_the_connect_page_names_the_env_vars() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut demo = demo_on(&data_dir);
    let (base, email, password, _) = banner(&mut demo);
    // The demo points its own `account` at the demo provider: a second copy of the example,
    // with no settings, is what a developer starts from.
    let api = Api::new(&base, api_token(&data_dir));
    let (status, body) = api
        .send(
            reqwest::Method::POST,
            "/api/servers",
            Some(json!({
                "config_yaml": include_str!("../../../examples/oauth-server/config.yaml"),
                "slug": "fresh",
                "runtime": { "command": sibling_binary("example-oauth-server").to_str().unwrap() }
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    api.wait_live("fresh", 1).await;
    let browser = browser(&base, &email, &password).await;
    let (_, account_page) = page(&browser, &format!("{base}/connections/fresh")).await;
    let response = browser
        .http
        .post(format!("{base}/connections/fresh/oidc/connect"))
        .form(&[("csrf", csrf_of(&account_page))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let text = response.text().await.unwrap();
    for name in [
        "OAUTH_CLIENT_ID",
        "OAUTH_CLIENT_SECRET",
        "OAUTH_AUTHORIZE_URL",
        "OAUTH_TOKEN_URL",
    ] {
        assert!(text.contains(name), "{name} missing from {text}");
    }
    assert!(text.contains(&format!("{base}/auth/callback")), "{text}");
}

/// Runs `calls` tool calls per client at once; the token fingerprints each client's calls saw.
async fn call_all(clients: &[std::sync::Arc<OAuthMcp>], calls: usize) -> Vec<Vec<String>> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, client) in clients.iter().enumerate() {
        for _ in 0..calls {
            let client = std::sync::Arc::clone(client);
            tasks.spawn(async move { (index, client.call("provider_profile", json!({})).await) });
        }
    }
    let mut seen = vec![Vec::new(); clients.len()];
    while let Some(done) = tasks.join_next().await {
        let (index, result) = done.unwrap();
        seen[index].push(fingerprint(&result));
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_calls_of_twenty_users_with_expired_tokens_cause_twenty_refreshes() {
    const USERS: usize = 20;
    let ttl = Duration::from_secs(8);
    let w = World::new(ttl).await;
    let mut accounts = Vec::new();
    let mut on_a = Vec::new();
    for i in 0..USERS {
        let (email, password) = w.user(&format!("user{i}")).await;
        on_a.push(std::sync::Arc::new(
            OAuthMcp::connect(&w.base, &w.mcp_url, &email, &password).await,
        ));
        let browser = browser(&w.base, &email, &password).await;
        connect_account(&browser, &w.base).await;
        accounts.push((email, password));
    }
    assert_eq!(w.stats().await.token_requests.refresh_token, 0);

    // One platform process: every token has expired; 10 calls per user at once.
    tokio::time::sleep(ttl + Duration::from_secs(1)).await;
    let seen = call_all(&on_a, 10).await;
    for fingerprints in &seen {
        assert_eq!(fingerprints.len(), 10);
        assert!(
            fingerprints.iter().all(|f| f == &fingerprints[0]),
            "{fingerprints:?}"
        );
    }
    let stats = w.stats().await;
    assert_eq!(
        stats.token_requests.refresh_token, USERS as u64,
        "{stats:?}"
    );
    assert_eq!(stats.refresh_token_reuse, 0);
    assert_eq!(stats.refresh_token_errors, 0);

    // Two platform processes sharing one store: half of each user's calls go through each.
    let mut demo_b = demo_on(&w.data_dir);
    let (base_b, _, _, mcp_url_b) = banner(&mut demo_b);
    assert_ne!(base_b, w.base);
    let mut clients = Vec::new();
    for ((email, password), a) in accounts.iter().zip(&on_a) {
        clients.push(std::sync::Arc::clone(a));
        clients.push(std::sync::Arc::new(
            OAuthMcp::connect(&base_b, &mcp_url_b, email, password).await,
        ));
    }
    tokio::time::sleep(ttl + Duration::from_secs(1)).await;
    let seen = call_all(&clients, 5).await;
    for pair in seen.chunks(2) {
        let all: Vec<&String> = pair.iter().flatten().collect();
        assert_eq!(all.len(), 10);
        assert!(
            all.iter().all(|f| *f == all[0]),
            "both processes hand out one token: {all:?}"
        );
    }
    let stats = w.stats().await;
    assert_eq!(
        stats.token_requests.refresh_token,
        2 * USERS as u64,
        "{stats:?}"
    );
    assert_eq!(stats.refresh_token_reuse, 0, "{stats:?}");
    assert_eq!(stats.refresh_token_errors, 0, "{stats:?}");
    drop(demo_b);
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_failures_are_classified_and_the_user_is_told_what_to_do() {
    let ttl = Duration::from_secs(3);
    // The provider calls of the server give up after 5 s (the injected timeout holds 30 s).
    let w = World::with_env(ttl, &[("OAUTH_TIMEOUT_SECS", "5")]).await;
    let mcp = OAuthMcp::connect(&w.base, &w.mcp_url, &w.admin_email, &w.admin_password).await;
    let browser = browser(&w.base, &w.admin_email, &w.admin_password).await;
    connect_account(&browser, &w.base).await;
    let expire = || tokio::time::sleep(ttl + Duration::from_millis(300));
    let connect_url = format!("{}/connections/account", w.base);

    // Transient: 503, 429, a timeout → "try again later", tokens kept, then it works.
    for (fault, wait) in [
        (Fault::Unavailable, Duration::from_millis(2300)),
        (Fault::TooManyRequests, Duration::from_millis(1300)),
        (Fault::Timeout, Duration::from_millis(2300)),
    ] {
        w.provider.set_fault(fault, Some(1)).await;
        expire().await;
        let failed = mcp.call("provider_profile", json!({})).await;
        let text = tool_error(&failed);
        assert!(text.contains("try again later"), "{text}");
        assert!(
            !text.contains(&connect_url),
            "a transient failure needs no reconnect: {text}"
        );
        tokio::time::sleep(wait).await;
        let recovered = mcp.call("provider_profile", json!({})).await;
        assert_eq!(profile(&recovered)["email"], "alice@provider.test");
    }
    let stats = w.stats().await;
    assert_eq!(stats.faulted, 3, "{stats:?}");
    assert_eq!(stats.refresh_token_reuse, 0, "{stats:?}");

    // invalid_client: the integration is broken; the user is told the developer must fix it,
    // and the connection (tokens) is kept.
    w.provider.set_fault(Fault::InvalidClient, Some(1)).await;
    expire().await;
    let failed = mcp.call("provider_profile", json!({})).await;
    let text = tool_error(&failed);
    assert!(text.contains("invalid_client"), "{text}");
    assert!(text.contains("developer"), "{text}");
    let (_, account_page) = page(&browser, &connect_url).await;
    assert!(account_page.contains("Connected as"), "{account_page}");
    assert!(account_page.contains("invalid_client"), "{account_page}");

    // Reconnecting replaces the tokens and clears the error.
    connect_account(&browser, &w.base).await;
    let ok = mcp.call("provider_profile", json!({})).await;
    profile(&ok);

    // invalid_grant (injected, then for real after the provider revoked every grant): the user
    // must connect again; the tool error says where.
    w.provider.set_fault(Fault::InvalidGrant, Some(1)).await;
    expire().await;
    let failed = mcp.call("provider_profile", json!({})).await;
    assert!(tool_error(&failed).contains(&connect_url), "{failed}");
    let (_, account_page) = page(&browser, &connect_url).await;
    assert!(
        account_page.contains("expired or was revoked"),
        "{account_page}"
    );
    let refreshes = w.stats().await.token_requests.refresh_token;
    let again = mcp.call("provider_profile", json!({})).await;
    assert!(tool_error(&again).contains(&connect_url));
    assert_eq!(
        w.stats().await.token_requests.refresh_token,
        refreshes,
        "no retry with a refused token"
    );

    connect_account(&browser, &w.base).await;
    profile(&mcp.call("provider_profile", json!({})).await);
    assert!(w.provider.revoke_all().await >= 1);
    expire().await;
    let failed = mcp.call("provider_profile", json!({})).await;
    assert!(tool_error(&failed).contains(&connect_url), "{failed}");
}

/// Kill -9 in the middle of a refresh, restart on the same data: the still-valid token is
/// handed out at once (not after the dead process's 60 s lease, nor after the SDK gave up),
/// and once it expires the connection is refreshed (or says it needs reconnecting).
#[tokio::test(flavor = "multi_thread")]
async fn after_a_crash_mid_refresh_a_still_valid_token_is_handed_out_at_once() {
    // 40 s tokens, refreshed in the second half of their life (the margin is capped at half).
    let ttl = Duration::from_secs(40);
    let refresh_args = [
        "--refresh-interval-secs",
        "0",
        "--refresh-margin-secs",
        "3600",
    ];
    let mut w = World::with_refresh_args(ttl, &refresh_args).await;
    let browser = browser(&w.base, &w.admin_email, &w.admin_password).await;
    connect_account(&browser, &w.base).await;
    let connected_at = tokio::time::Instant::now();
    let mcp = std::sync::Arc::new(
        OAuthMcp::connect(&w.base, &w.mcp_url, &w.admin_email, &w.admin_password).await,
    );
    let first = fingerprint(&mcp.call("provider_profile", json!({})).await);

    // Past half its life the token is refreshed before it is handed out: the provider's token
    // endpoint holds that refresh, and the platform is killed while it waits.
    w.provider.set_fault(Fault::Timeout, Some(1)).await;
    tokio::time::sleep_until(connected_at + ttl / 2 + Duration::from_secs(1)).await;
    let in_flight = {
        let mcp = std::sync::Arc::clone(&mcp);
        // It gets no answer: the platform is killed while it waits.
        tokio::spawn(async move {
            let params = rmcp::model::CallToolRequestParams::new("provider_profile");
            let _ = mcp.service.call_tool(params).await;
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while w.stats().await.faulted == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no refresh started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let children = common::descendants(w._demo.pid());
    w._demo.signal("KILL");
    w._demo.child.wait().unwrap();
    common::assert_all_exit(&children);
    in_flight.abort();

    // Restarted on the same data and address (the MCP client's tokens name it).
    let listen = w.base.trim_start_matches("http://").to_owned();
    w._demo = demo_with(&w.data_dir, &listen, &refresh_args);
    let (base, email, password, _) = banner(&mut w._demo);
    assert_eq!(base, w.base);
    let mcp = OAuthMcp::connect(&w.base, &w.mcp_url, &email, &password).await;
    assert!(
        connected_at.elapsed() < ttl - Duration::from_secs(5),
        "the test must call while the token is still valid; it took too long to get here"
    );
    let started = tokio::time::Instant::now();
    let after_restart = mcp.call("provider_profile", json!({})).await;
    let took = started.elapsed();
    assert_eq!(
        profile(&after_restart)["email"],
        "alice@provider.test",
        "{after_restart}"
    );
    assert!(
        took < Duration::from_secs(15),
        "the call waited {took:?}: on the dead process's lease?"
    );

    // Once the token expired, the connection is refreshed by the new process (the lease of the
    // dead one is taken over), or, had the killed refresh consumed the refresh token at the
    // provider, it says it must be connected again: never silently broken.
    tokio::time::sleep_until(connected_at + ttl + Duration::from_secs(1)).await;
    let expired = mcp.call("provider_profile", json!({})).await;
    if expired["isError"] == true {
        let text = tool_error(&expired);
        assert!(
            text.contains(&format!("{}/connections/account", w.base)),
            "{text}"
        );
    } else {
        assert_ne!(fingerprint(&expired), first, "a refreshed token");
        let stats = w.stats().await;
        assert_eq!(stats.refresh_token_reuse, 0, "{stats:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_callback_refuses_states_it_did_not_give_this_browser() {
    let w = World::new(Duration::from_secs(600)).await;
    let alice = browser(&w.base, &w.admin_email, &w.admin_password).await;
    let (mallory_email, mallory_password) = w.user("mallory").await;
    let mallory = browser(&w.base, &mallory_email, &mallory_password).await;
    let callback = format!("{}/auth/callback", w.base);

    // A successful connect (Alice's first at the provider, which logs in the account named by
    // login_hint: one whose name has markup in it, shown as text), whose callback replayed is
    // refused.
    let authorize = press_connect(&alice, &w.base).await;
    let callback_url = through_provider(
        &alice.http,
        &w.base,
        &format!("{authorize}&login_hint=html"),
    )
    .await;
    let response = alice.http.get(&callback_url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 303);
    let (status, text) = page(&alice, &callback_url).await;
    assert_eq!(status, 400);
    assert!(text.contains("expired or was already used"), "{text}");
    let (_, account_page) = page(&alice, &format!("{}/connections/account", w.base)).await;
    assert!(
        account_page.contains("&lt;b&gt;bold&lt;/b&gt;@provider.test"),
        "{account_page}"
    );
    assert!(!account_page.contains("<b>bold</b>"), "{account_page}");
    let (_, list) = page(&alice, &format!("{}/connections", w.base)).await;
    assert!(list.contains("&lt;b&gt;bold&lt;/b&gt;"), "{list}");

    // Mallory starts a flow and gets the callback URL with her code and state; Alice's browser
    // is made to open it (login CSRF): refused, and nothing is connected for either.
    let mallory_authorize = press_connect(&mallory, &w.base).await;
    let mallory_callback = through_provider(&mallory.http, &w.base, &mallory_authorize).await;
    let (status, text) = page(&alice, &mallory_callback).await;
    assert_eq!(status, 400);
    assert!(
        text.contains("another user or in another browser session"),
        "{text}"
    );
    // The state is spent: Mallory cannot use it either.
    let (status, text) = page(&mallory, &mallory_callback).await;
    assert_eq!(status, 400);
    assert!(text.contains("expired or was already used"), "{text}");
    assert_eq!(
        w.stats().await.token_requests.authorization_code,
        1,
        "only Alice's own"
    );

    // A state of the same user from another browser session.
    let authorize = press_connect(&alice, &w.base).await;
    let alice_callback = through_provider(&alice.http, &w.base, &authorize).await;
    let other_session = browser(&w.base, &w.admin_email, &w.admin_password).await;
    let (status, text) = page(&other_session, &alice_callback).await;
    assert_eq!(status, 400, "{text}");

    // No state, an unknown state, a code without state.
    for query in ["", "?code=abc", "?state=made-up&code=abc"] {
        let (status, text) = page(&alice, &format!("{callback}{query}")).await;
        assert_eq!(status, 400, "{query}: {text}");
    }

    // The provider's error reply is shown, escaped.
    let authorize = press_connect(&alice, &w.base).await;
    let state = reqwest::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let denied = format!(
        "{callback}?state={state}&error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    );
    let (status, text) = page(&alice, &denied).await;
    assert_eq!(status, 400);
    assert!(text.contains("access_denied"), "{text}");
    assert!(text.contains("&lt;script&gt;"), "{text}");
    assert!(!text.contains("<script>"), "{text}");

    // Forms without the CSRF token do nothing.
    let response = alice
        .http
        .post(format!("{}/connections/account/oidc/disconnect", w.base))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let (_, account_page) = page(&alice, &format!("{}/connections/account", w.base)).await;
    assert!(account_page.contains("Connected as"));
}
