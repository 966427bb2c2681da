//! What a failed refresh means, against a recording provider with an injected clock: a refused
//! grant needs the user, a refused client is the developer's to fix, transient failures and
//! rate limits are backed off; tokens are kept whenever they may still serve.

mod common;

use common::recording_provider::{Setup, settings};
use gumstack_platform::connections::TokenError;
use gumstack_platform::connections::provider::{Operation, ProviderFailure};
use gumstack_platform::store::{ConnectionStatus, FailureKind};

#[tokio::test]
async fn invalid_grant_means_the_user_must_connect_again() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    s.provider.with(|r| {
        r.failures.push_back(ProviderFailure::Rejected {
            code: "invalid_grant".into(),
            description: None,
        })
    });
    s.clock.advance(601);
    assert!(matches!(s.token(&c).await, Err(TokenError::NeedsReauth)));
    assert_eq!(s.stored().await.status, ConnectionStatus::NeedsReauth);
    // No more attempts with a refused refresh token.
    assert!(matches!(s.token(&c).await, Err(TokenError::NeedsReauth)));
    assert_eq!(s.provider.count(Operation::Refresh), 1);
    // Connecting again replaces the tokens and the status.
    s.connect(&c).await;
    assert_eq!(s.token(&c).await.unwrap(), "access-1");
    assert_eq!(s.stored().await.status, ConnectionStatus::Active);
}

#[tokio::test]
async fn invalid_client_is_an_integration_error_and_keeps_the_tokens() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    let before = s.stored().await;
    s.provider.with(|r| {
        r.failures.push_back(ProviderFailure::Rejected {
            code: "invalid_client".into(),
            description: Some("client authentication failed".into()),
        })
    });
    s.clock.advance(601);
    let Err(TokenError::Integration { message }) = s.token(&c).await else {
        panic!("expected an integration error");
    };
    assert!(message.contains("invalid_client"), "{message}");
    assert!(message.contains("developer"), "{message}");
    let after = s.stored().await;
    assert_eq!(after.status, ConnectionStatus::Active);
    assert_eq!(after.failure_kind, Some(FailureKind::Integration));
    assert_eq!(after.access_ciphertext, before.access_ciphertext);
    assert_eq!(after.refresh_ciphertext, before.refresh_ciphertext);
    // Backing off: the next call does not hammer the provider…
    assert!(matches!(
        s.token(&c).await,
        Err(TokenError::Integration { .. })
    ));
    assert_eq!(s.provider.count(Operation::Refresh), 1);
    // …and once the developer fixed it, the kept refresh token works.
    s.clock.advance(61);
    assert_eq!(s.token(&c).await.unwrap(), "access-1");
    assert_eq!(s.provider.refreshes(), ["refresh-0", "refresh-0"]);
    assert_eq!(s.stored().await.failure_kind, None);
}

#[tokio::test]
async fn transient_failures_back_off_exponentially_and_keep_the_tokens() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    let unavailable = || ProviderFailure::Transport {
        status: Some(503),
        retry_after: None,
        message: "503".into(),
    };
    s.provider.with(|r| {
        r.failures.push_back(unavailable());
        r.failures.push_back(unavailable());
    });
    s.clock.advance(601);
    let Err(TokenError::Transient { retry_after, .. }) = s.token(&c).await else {
        panic!("expected a transient error");
    };
    assert_eq!(retry_after, Some(2));
    // Within the backoff: no provider call.
    assert!(matches!(
        s.token(&c).await,
        Err(TokenError::Transient { .. })
    ));
    assert_eq!(s.provider.count(Operation::Refresh), 1);
    s.clock.advance(2);
    let Err(TokenError::Transient { retry_after, .. }) = s.token(&c).await else {
        panic!("expected a transient error");
    };
    assert_eq!(retry_after, Some(4), "the backoff doubles");
    s.clock.advance(4);
    assert_eq!(s.token(&c).await.unwrap(), "access-1");
    assert_eq!(
        s.provider.refreshes(),
        ["refresh-0", "refresh-0", "refresh-0"]
    );
    assert_eq!(s.stored().await.failures, 0);
}

#[tokio::test]
async fn a_rate_limit_is_waited_out_as_long_as_the_provider_asked() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    s.provider.with(|r| {
        r.failures.push_back(ProviderFailure::Transport {
            status: Some(429),
            retry_after: Some(30),
            message: "429".into(),
        })
    });
    s.clock.advance(601);
    let Err(TokenError::Transient { retry_after, .. }) = s.token(&c).await else {
        panic!("expected a transient error");
    };
    assert_eq!(retry_after, Some(30));
    s.clock.advance(29);
    assert!(s.token(&c).await.is_err());
    assert_eq!(s.provider.count(Operation::Refresh), 1);
    s.clock.advance(1);
    assert_eq!(s.token(&c).await.unwrap(), "access-1");
}

#[tokio::test]
async fn a_failed_early_refresh_still_hands_out_the_valid_token() {
    let s = Setup::new(Some(3600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    s.provider.with(|r| {
        r.failures.push_back(ProviderFailure::Transport {
            status: None,
            retry_after: None,
            message: "timeout".into(),
        })
    });
    s.clock.advance(3570); // within the margin, not expired
    assert_eq!(s.token(&c).await.unwrap(), "access-0");
    assert_eq!(s.provider.count(Operation::Refresh), 1);
}

#[tokio::test]
async fn an_expired_token_without_a_refresh_token_needs_the_user() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    // The provider gave no refresh token: forget ours the way such a connection looks.
    sqlx::query("UPDATE connections SET refresh_ciphertext = NULL")
        .execute(s.h.store.pool())
        .await
        .unwrap();
    s.clock.advance(601);
    assert!(matches!(s.token(&c).await, Err(TokenError::NeedsReauth)));
    assert_eq!(s.stored().await.status, ConnectionStatus::NeedsReauth);
    assert_eq!(s.provider.count(Operation::Refresh), 0);
}
