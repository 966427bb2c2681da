//! Refreshing OAuth connections when all goes well, against a recording provider with an
//! injected clock: one refresh however many callers or platform instances ask, the latest
//! refresh token presented each time, the margin before expiry, reported tokens, and the
//! background refresher. No test sleeps for time to pass; assertions are on what the provider
//! received as well as on what callers got.

mod common;

use std::time::Duration;

use common::recording_provider::{Setup, settings, wait_until};
use gumstack_platform::clock::Clock;
use gumstack_platform::connections::RefreshSettings;
use gumstack_platform::connections::provider::Operation;
use gumstack_platform::store::ConnectionStatus;
use secrecy::{ExposeSecret, SecretString};

#[tokio::test]
async fn a_fresh_token_is_handed_out_without_calling_the_provider() {
    let s = Setup::new(Some(3600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    for _ in 0..5 {
        assert_eq!(s.token(&c).await.unwrap(), "access-0");
    }
    assert_eq!(s.provider.count(Operation::Refresh), 0);
    let stored = s.stored().await;
    assert_eq!(stored.status, ConnectionStatus::Active);
    assert_eq!(stored.scope.as_deref(), Some("read"));
    // Sealed: the token is not in the row in the clear.
    assert!(
        !stored
            .access_ciphertext
            .windows(8)
            .any(|w| w == b"access-0")
    );
}

#[tokio::test]
async fn many_callers_of_an_expired_token_cause_one_refresh() {
    let s = Setup::new(Some(3600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    s.provider.with(|r| r.delay = Duration::from_millis(300));
    s.clock.advance(3601);
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let c = c.clone();
            let (user, server) = (s.user.id, s.server.id);
            tokio::spawn(async move { c.access_token(user, server, "tracker").await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().expose_secret(), "access-1");
    }
    assert_eq!(s.provider.refreshes(), ["refresh-0"]);
}

#[tokio::test]
async fn two_platform_instances_on_one_store_refresh_once() {
    let s = Setup::new(Some(3600)).await;
    let a = s.instance(settings());
    let b = s.instance(settings());
    s.connect(&a).await;
    s.provider.with(|r| r.delay = Duration::from_millis(500));
    s.clock.advance(3601);
    let calls: Vec<_> = (0..40)
        .map(|i| {
            let c = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (user, server) = (s.user.id, s.server.id);
            tokio::spawn(async move { c.access_token(user, server, "tracker").await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().expose_secret(), "access-1");
    }
    assert_eq!(s.provider.refreshes(), ["refresh-0"]);
    assert_eq!(s.provider.with(|r| r.reused), 0);
}

/// Each refresh presents the refresh token the last reply carried: the rotated one when the
/// provider rotates, the kept one when its reply has none; never one already used.
#[tokio::test]
async fn a_refresh_presents_the_latest_refresh_token() {
    for (case, rotates, tokens, presented) in [
        (
            "rotated",
            true,
            &["access-1", "access-2", "access-3"][..],
            &["refresh-0", "refresh-1", "refresh-2"][..],
        ),
        (
            "kept: the reply had none",
            false,
            &["access-1", "access-2"][..],
            &["refresh-0", "refresh-0"][..],
        ),
    ] {
        let s = Setup::new(Some(600)).await;
        let c = s.instance(settings());
        s.connect(&c).await;
        s.provider
            .with(|r| r.no_refresh_token_in_refresh = !rotates);
        for expected in tokens {
            s.clock.advance(601);
            assert_eq!(s.token(&c).await.unwrap(), *expected, "{case}");
        }
        assert_eq!(s.provider.refreshes(), presented, "{case}");
        assert_eq!(s.provider.with(|r| r.reused), 0, "{case}");
    }
}

#[tokio::test]
async fn a_token_expiring_within_the_margin_is_refreshed_before_it_is_handed_out() {
    let s = Setup::new(Some(3600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    // 3600 s token, 60 s margin: at 3530 s it is still handed out, at 3545 s refreshed first.
    s.clock.advance(3530);
    assert_eq!(s.token(&c).await.unwrap(), "access-0");
    s.clock.advance(15);
    assert_eq!(s.token(&c).await.unwrap(), "access-1");
    // A short-lived token is refreshed within half its lifetime, not at once.
    let s = Setup::new(Some(10)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    assert_eq!(s.token(&c).await.unwrap(), "access-0");
    s.clock.advance(6);
    assert_eq!(s.token(&c).await.unwrap(), "access-1");
}

#[tokio::test]
async fn a_reported_token_is_refreshed_once_and_only_if_it_is_still_current() {
    let s = Setup::new(None).await; // no expires_in: refreshed only when reported
    let c = s.instance(settings());
    s.connect(&c).await;
    s.clock.advance(100_000);
    assert_eq!(s.token(&c).await.unwrap(), "access-0");
    let report = |token: &str| {
        let c = c.clone();
        let token = SecretString::from(token.to_owned());
        let (user, server) = (s.user.id, s.server.id);
        async move {
            c.report_invalid(user, server, "tracker", &token)
                .await
                .unwrap()
        }
    };
    assert!(!report("some-other-token").await);
    assert_eq!(s.token(&c).await.unwrap(), "access-0");
    assert!(report("access-0").await);
    assert!(!report("access-0").await, "a second report changes nothing");
    assert_eq!(s.token(&c).await.unwrap(), "access-1");
    assert!(!report("access-0").await, "a stale report changes nothing");
    assert_eq!(s.token(&c).await.unwrap(), "access-1");
    assert_eq!(s.provider.refreshes(), ["refresh-0"]);
}

#[tokio::test]
async fn a_caller_that_goes_away_mid_refresh_does_not_lose_the_rotated_token() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    s.provider.with(|r| r.delay = Duration::from_millis(300));
    s.clock.advance(601);
    let (user, server) = (s.user.id, s.server.id);
    let caller = {
        let c = c.clone();
        tokio::spawn(async move { c.access_token(user, server, "tracker").await })
    };
    wait_until(|| s.provider.count(Operation::Refresh) == 1).await;
    caller.abort(); // the tool's request is gone while the provider is rotating the token
    assert!(caller.await.unwrap_err().is_cancelled());
    assert_eq!(s.token(&c).await.unwrap(), "access-1");
    s.clock.advance(601);
    assert_eq!(s.token(&c).await.unwrap(), "access-2");
    assert_eq!(s.provider.refreshes(), ["refresh-0", "refresh-1"]);
    assert_eq!(s.provider.with(|r| r.reused), 0);
}

#[tokio::test]
async fn the_background_refresher_renews_tokens_ahead_of_expiry() {
    let s = Setup::new(Some(3600)).await;
    let c = s.instance(RefreshSettings {
        background_interval: Some(Duration::from_secs(30)),
        ..RefreshSettings::default()
    });
    s.connect(&c).await;
    // Within the 300 s window only after 3300 s.
    s.clock.advance(3200);
    assert_eq!(c.refresh_expiring().await.unwrap(), 0);
    assert_eq!(s.provider.count(Operation::Refresh), 0);
    s.clock.advance(101);
    assert_eq!(c.refresh_expiring().await.unwrap(), 1);
    assert_eq!(s.provider.refreshes(), ["refresh-0"]);
    // The next caller gets the renewed token without waiting for a refresh.
    assert_eq!(s.token(&c).await.unwrap(), "access-1");
    assert_eq!(s.provider.count(Operation::Refresh), 1);

    // Run as a task (looking every 20 ms here): it keeps an idle connection fresh with one
    // refresh per token.
    let c = s.instance(RefreshSettings {
        background_interval: Some(Duration::from_millis(20)),
        ..RefreshSettings::default()
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(c.clone().run_refresher(async move {
        let _ = stopped.await;
    }));
    for round in 2..=4 {
        s.clock.advance(3301);
        wait_until(|| s.provider.count(Operation::Refresh) == round).await;
        // The provider answered; the renewed token is stored right after.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = s.stored().await.expires_at.unwrap() - s.clock.now();
            if left > 3000 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not renewed ({left} s left)"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    stop.send(()).unwrap();
    task.await.unwrap();
    assert_eq!(
        s.provider.refreshes(),
        ["refresh-0", "refresh-1", "refresh-2", "refresh-3"]
    );
    assert_eq!(s.provider.with(|r| r.reused), 0);
}
