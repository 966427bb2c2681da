//! Refresh leases held by someone else, against a recording provider with an injected clock: a
//! token that still works is handed out at once, the lease of a process that is gone (killed
//! in the middle of a refresh) is taken over without waiting for its term, a live process's
//! lease is respected, and a caller gets its answer within its wait while a slow refresh goes
//! on. No test sleeps for time to pass; the timeouts below only bound what must be immediate.

mod common;

use std::time::Duration;

use common::recording_provider::{Setup, settings, wait_until};
use gumstack_platform::clock::Clock;
use gumstack_platform::connections::provider::Operation;
use gumstack_platform::connections::{RefreshSettings, TokenError};
use gumstack_platform::store::LeaseClaim;
use uuid::Uuid;

/// Far below the 60 s lease and the 18 s wait: what "at once" means here.
const AT_ONCE: Duration = Duration::from_secs(3);

impl Setup {
    /// Leases the connection for 60 s as `instance` would have before it was killed.
    async fn lease_as(&self, instance: Uuid) {
        let c = self.stored().await;
        let now = self.clock.now();
        let holder = format!("{instance}:{}", Uuid::new_v4());
        let claim = LeaseClaim {
            holder: &holder,
            instance,
            until: now + 60,
        };
        let store = &self.h.platform.state.store;
        assert!(
            store
                .lease_connection(c.id, c.version, &claim, now, now)
                .await
                .unwrap()
        );
    }

    /// Registers `instance` as alive now, as a running process's heartbeat does.
    async fn beat_as(&self, instance: Uuid) {
        let now = self.clock.now();
        let store = &self.h.platform.state.store;
        store.beat_instance(instance, now, now).await.unwrap();
    }
}

#[tokio::test]
async fn a_token_that_still_works_is_handed_out_at_once_while_another_holder_leases_it() {
    for holder_alive in [false, true] {
        let s = Setup::new(Some(3600)).await;
        let c = s.instance(settings());
        s.connect(&c).await;
        // 3600 s token, 60 s margin: due for a refresh, but 55 s left.
        s.clock.advance(3545);
        let holder = Uuid::new_v4();
        if holder_alive {
            s.beat_as(holder).await;
        }
        s.lease_as(holder).await;
        for _ in 0..3 {
            let token = tokio::time::timeout(AT_ONCE, s.token(&c))
                .await
                .expect("handed out at once");
            assert_eq!(token.unwrap(), "access-0", "holder alive: {holder_alive}");
        }
        assert_eq!(s.provider.count(Operation::Refresh), 0);
    }
}

#[tokio::test]
async fn while_this_process_refreshes_a_token_that_still_works_is_handed_out_at_once() {
    let s = Setup::new(Some(3600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    s.provider.with(|r| r.delay = Duration::from_secs(5));
    s.clock.advance(3545);
    let refreshing = {
        let c = c.clone();
        let (user, server) = (s.user.id, s.server.id);
        tokio::spawn(async move { c.access_token(user, server, "tracker").await })
    };
    wait_until(|| s.provider.count(Operation::Refresh) == 1).await;
    let token = tokio::time::timeout(AT_ONCE, s.token(&c))
        .await
        .expect("handed out at once");
    assert_eq!(token.unwrap(), "access-0");
    refreshing.abort();
}

#[tokio::test]
async fn the_lease_of_a_process_that_is_gone_is_taken_over_without_waiting_its_term() {
    // A holder that never wrote a heartbeat (or whose row was forgotten).
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    s.clock.advance(601);
    s.lease_as(Uuid::new_v4()).await;
    let token = tokio::time::timeout(AT_ONCE, s.token(&c))
        .await
        .expect("taken over at once");
    assert_eq!(token.unwrap(), "access-1");
    assert_eq!(s.provider.refreshes(), ["refresh-0"]);

    // A holder that was alive when it took the lease and then stopped beating (killed):
    // respected while its heartbeat is fresh, taken over once it is stale, well within the
    // lease's 60 s.
    let s = Setup::new(Some(600)).await;
    let c = s.instance(RefreshSettings {
        wait: Duration::from_millis(300),
        ..settings()
    });
    s.connect(&c).await;
    s.clock.advance(601);
    let killed = Uuid::new_v4();
    s.beat_as(killed).await;
    s.lease_as(killed).await;
    let Err(TokenError::Transient { message, .. }) = s.token(&c).await else {
        panic!("a live holder's lease is waited for");
    };
    assert!(message.contains("taking too long"), "{message}");
    assert_eq!(s.provider.count(Operation::Refresh), 0);
    s.clock.advance(11); // its heartbeat is now older than the 10 s staleness bound
    let token = tokio::time::timeout(AT_ONCE, s.token(&c))
        .await
        .expect("taken over at once");
    assert_eq!(token.unwrap(), "access-1");
    assert_eq!(s.provider.refreshes(), ["refresh-0"]);
    assert_eq!(s.provider.with(|r| r.reused), 0);
}

#[tokio::test]
async fn the_background_refresher_takes_over_the_lease_of_a_process_that_is_gone() {
    let s = Setup::new(Some(3600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    s.clock.advance(3545);
    s.lease_as(Uuid::new_v4()).await;
    assert_eq!(c.refresh_expiring().await.unwrap(), 1);
    assert_eq!(s.provider.refreshes(), ["refresh-0"]);
    assert_eq!(s.token(&c).await.unwrap(), "access-1");
}

#[tokio::test]
async fn a_live_process_keeps_its_lease_while_it_beats() {
    let s = Setup::new(Some(3600)).await;
    let a = s.instance(settings());
    let b = s.instance(RefreshSettings {
        wait: Duration::from_millis(300),
        ..settings()
    });
    s.connect(&a).await;
    a.register_instance().await.unwrap();
    b.register_instance().await.unwrap();
    s.provider.with(|r| r.delay = Duration::from_secs(5));
    s.clock.advance(3601);
    let refreshing = {
        let a = a.clone();
        let (user, server) = (s.user.id, s.server.id);
        tokio::spawn(async move { a.access_token(user, server, "tracker").await })
    };
    wait_until(|| s.provider.count(Operation::Refresh) == 1).await;
    // A keeps beating (as its heartbeat task does every 3 s): B finds its lease held, however
    // much time passes, and answers within its wait.
    for _ in 0..3 {
        s.clock.advance(8);
        a.register_instance().await.unwrap();
        assert!(matches!(
            s.token(&b).await,
            Err(TokenError::Transient { .. })
        ));
    }
    assert_eq!(s.provider.count(Operation::Refresh), 1);
    refreshing.abort();
}

#[tokio::test]
async fn a_caller_is_answered_within_its_wait_and_the_slow_refresh_goes_on() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(RefreshSettings {
        wait: Duration::from_millis(300),
        ..settings()
    });
    s.connect(&c).await;
    s.provider.with(|r| r.delay = Duration::from_secs(1));
    s.clock.advance(601);
    let answer = tokio::time::timeout(AT_ONCE, s.token(&c))
        .await
        .expect("answered within the wait");
    let Err(TokenError::Transient { message, .. }) = answer else {
        panic!("an expired token and a slow refresh: retry later");
    };
    assert!(message.contains("taking too long"), "{message}");
    // The refresh was not abandoned with the caller: its tokens are stored.
    wait_until(|| s.provider.count(Operation::Refresh) == 1).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while s.stored().await.lease_holder.is_some() {
        assert!(tokio::time::Instant::now() < deadline, "never stored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(s.token(&c).await.unwrap(), "access-1");
    assert_eq!(s.provider.refreshes(), ["refresh-0"]);
}
