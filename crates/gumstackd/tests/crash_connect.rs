//! Crash safety of the connect flow: kill -9 `gumstackd` at each point of a user's connect
//! flow against oidc-provider — while the browser is at the provider, while the callback's
//! code exchange is held on its way to the provider's token endpoint, after the provider
//! answered it (the code is spent, the tokens exist only in the dead process), and while the
//! account's name is being fetched — restart on the same data, and check what the user sees:
//! either the connection exists and works, or there is none (no half-written row), the old
//! callback URL is refused with a clear page (not a 500), and connecting again works. A
//! reconnect killed halfway leaves the previous connection as it was.
//!
//! The provider's token and userinfo endpoints are reached through a slow proxy
//! ([`SlowProxy`]) that holds the request the kill must land in.
//!
//! Needs Node.js (>= 20) and `npm ci --prefix tests/js`; fails (never skips) without them.

mod common;

use std::time::{Duration, Instant};

use common::crash::{Member, Outcome, Site, kill_9, pending_flows, restart, stored_connections};
use common::oauth_demo::{REFRESH_ARGS, World};
use common::slow_proxy::{Delay, Kind, SlowProxy};

/// Long enough that the kill always lands first.
const HOLD_MS: u64 = 20_000;

/// Opens the callback URL in the browser in the background; the platform is killed before it
/// answers.
fn open_callback(member: &std::sync::Arc<Member>, url: &str) -> tokio::task::JoinHandle<bool> {
    let (member, url) = (std::sync::Arc::clone(member), url.to_owned());
    tokio::spawn(async move { member.browser.http.get(&url).send().await.is_ok() })
}

/// After a restart, what a callback the crash interrupted leaves: no connection (checked in
/// the database, the page, the API and a tool call), the old callback URL refused with a clear
/// page, and a fresh connect that works.
async fn nothing_half_connected(site: &Site, w: &World, member: &Member, callback: &str) {
    let rows = stored_connections(&w.data_dir).await;
    assert!(rows.is_empty(), "a half-written connection: {rows:?}");
    assert_eq!(pending_flows(&w.data_dir).await, 0, "the state was spent");

    let (status, page) = member.page(callback).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("expired or was already used"), "{page}");
    assert!(
        page.contains("Start again from the connections page"),
        "{page}"
    );

    let (status, page) = member.page(&site.connect_page()).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Not connected"), "{page}");
    assert_eq!(member.api_connection(site).await["state"], "not_connected");
    let outcome = member.call(&reqwest::Client::new(), site).await;
    match &outcome {
        Outcome::ToolError(text) => {
            assert!(text.contains("not connected yet"), "{text}");
            assert!(text.contains(&site.connect_page()), "{text}");
        }
        other => panic!("expected a tool error: {other:?}"),
    }
}

/// The connection works: a tool gets the account's token and the provider accepts it.
async fn works(site: &Site, member: &Member) {
    let outcome = member.call(&reqwest::Client::new(), site).await;
    assert_eq!(
        outcome.email(),
        Some(member.provider_email().as_str()),
        "{outcome:?}"
    );
    assert_eq!(member.api_connection(site).await["state"], "connected");
}

async fn disconnect(site: &Site, member: &Member) {
    let (_, page) = member.page(&site.connect_page()).await;
    let csrf = common::hidden_fields(&page)
        .into_iter()
        .find(|(name, _)| name == "csrf")
        .map(|(_, value)| value)
        .unwrap();
    let response = member
        .browser
        .http
        .post(format!("{}/connections/account/oidc/disconnect", site.base))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_at_each_step_of_a_connect_leaves_a_working_connection_or_none() {
    let started = Instant::now();
    let proxy = SlowProxy::start().await;
    let mut w = World::with_env(
        Duration::from_secs(600),
        &[
            ("OAUTH_TOKEN_URL", &proxy.url("/token")),
            ("OAUTH_USERINFO_URL", &proxy.url("/me")),
        ],
    )
    .await;
    assert_eq!(
        w.provider.token_url(),
        format!("{}/token", w.provider.issuer())
    );
    assert_eq!(
        w.provider.userinfo_url(),
        format!("{}/me", w.provider.issuer())
    );
    proxy.forward_to(w.provider.issuer());
    let site = Site::of(&w);
    let member = std::sync::Arc::new(Member::create(&site, "carol").await);

    // 1. Killed while the browser is at the provider: the flow (its state and sealed PKCE
    //    verifier) survives the restart, and the callback completes the connection.
    let authorize = member.press_connect(&site).await;
    assert_eq!(pending_flows(&w.data_dir).await, 1);
    kill_9(&mut w);
    let callback = member.through_provider(&site, &authorize).await;
    restart(&mut w, &REFRESH_ARGS);
    let response = member.browser.http.get(&callback).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 303);
    works(&site, &member).await;
    let before = stored_connections(&w.data_dir).await;
    assert_eq!(before.len(), 1);

    // 2. A reconnect killed after the provider answered the code exchange (the code is spent,
    //    the new tokens died with the process): the previous connection is untouched and
    //    works; the old callback is refused; connecting again works.
    proxy.set_delay(Kind::Code, Delay::after(HOLD_MS));
    let exchanged = proxy.counts(Kind::Code);
    let authorize = member.press_connect(&site).await;
    let callback = member.through_provider(&site, &authorize).await;
    let in_flight = open_callback(&member, &callback);
    proxy
        .wait_for(Kind::Code, Duration::from_secs(10), |c| {
            c.answered > exchanged.answered
        })
        .await;
    kill_9(&mut w);
    assert!(!in_flight.await.unwrap(), "the callback got no answer");
    proxy.clear_delays();
    assert_eq!(stored_connections(&w.data_dir).await, before);
    restart(&mut w, &REFRESH_ARGS);
    assert_eq!(stored_connections(&w.data_dir).await, before);
    let (status, page) = member.page(&callback).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("expired or was already used"), "{page}");
    works(&site, &member).await;
    member.connect(&site).await;
    works(&site, &member).await;
    disconnect(&site, &member).await;

    // 3. A first connect killed while its code exchange is held on the way to the provider.
    proxy.set_delay(Kind::Code, Delay::before(HOLD_MS));
    let exchanged = proxy.counts(Kind::Code);
    let authorize = member.press_connect(&site).await;
    let callback = member.through_provider(&site, &authorize).await;
    let in_flight = open_callback(&member, &callback);
    proxy
        .wait_for(Kind::Code, Duration::from_secs(10), |c| {
            c.arrived > exchanged.arrived
        })
        .await;
    assert_eq!(proxy.counts(Kind::Code).answered, exchanged.answered);
    kill_9(&mut w);
    assert!(!in_flight.await.unwrap(), "the callback got no answer");
    proxy.clear_delays();
    restart(&mut w, &REFRESH_ARGS);
    nothing_half_connected(&site, &w, &member, &callback).await;
    member.connect(&site).await;
    works(&site, &member).await;
    disconnect(&site, &member).await;

    // 4. A first connect killed after the exchange, while the account's name is fetched (the
    //    tokens exist only in the dead process).
    proxy.set_delay(Kind::Other, Delay::before(HOLD_MS));
    let named = proxy.counts(Kind::Other);
    let exchanged = proxy.counts(Kind::Code);
    let authorize = member.press_connect(&site).await;
    let callback = member.through_provider(&site, &authorize).await;
    let in_flight = open_callback(&member, &callback);
    proxy
        .wait_for(Kind::Other, Duration::from_secs(10), |c| {
            c.arrived > named.arrived
        })
        .await;
    assert_eq!(proxy.counts(Kind::Code).answered, exchanged.answered + 1);
    kill_9(&mut w);
    assert!(!in_flight.await.unwrap(), "the callback got no answer");
    proxy.clear_delays();
    restart(&mut w, &REFRESH_ARGS);
    nothing_half_connected(&site, &w, &member, &callback).await;
    member.connect(&site).await;
    works(&site, &member).await;

    // Every code the provider issued was exchanged at most once: none was replayed.
    let stats = w.provider.stats().await;
    assert_eq!(stats.token_requests.refresh_token, 0, "{stats:?}");
    eprintln!(
        "code exchanges at the provider: {}; the test took {:?}",
        stats.token_requests.authorization_code,
        started.elapsed()
    );
}
