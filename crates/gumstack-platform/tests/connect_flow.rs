//! The connect flow of OAuth connections, against a recording provider with an injected clock:
//! states that are single-use, short-lived and bound to one user, session and server;
//! callbacks that connect nothing; authorization URLs checked before a flow starts; disconnect;
//! tokens sealed to their row.

mod common;

use common::recording_provider::{CONFIG, Setup, callback, settings, state_of};
use gumstack_platform::connections::flow::CallbackQuery;
use gumstack_platform::connections::provider::Operation;
use gumstack_platform::connections::{CallbackError, ConnectError, TokenError};
use gumstack_platform::crypto::random_token;
use secrecy::ExposeSecret;
use serde_json::json;

/// A state is good for one callback within ten minutes of its making; after that it is unknown
/// and the provider is not asked to exchange its code again.
#[tokio::test]
async fn a_spent_or_late_state_is_unknown() {
    enum Before {
        /// The state has already completed a callback.
        Used,
        /// Ten minutes have passed since the flow started.
        Expired,
    }
    for (case, before, exchanges) in [
        ("single use", Before::Used, 1),
        ("expires after ten minutes", Before::Expired, 0),
    ] {
        let s = Setup::new(Some(600)).await;
        let c = s.instance(settings());
        let state = s.start(&c, &s.user, &s.session).await;
        match before {
            Before::Used => {
                c.finish(s.user.id, &s.session, callback(&state, Some("code")))
                    .await
                    .unwrap();
            }
            Before::Expired => s.clock.advance(601),
        }
        let again = c
            .finish(s.user.id, &s.session, callback(&state, Some("code")))
            .await;
        assert!(matches!(again, Err(CallbackError::UnknownState)), "{case}");
        assert_eq!(s.provider.count(Operation::Exchange), exchanges, "{case}");
    }
}

#[tokio::test]
async fn a_state_from_another_user_or_session_connects_nothing_and_is_burned() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    let (mallory, _) =
        s.h.user_with_token(
            "mallory@example.com",
            gumstack_platform::store::Role::Member,
        )
        .await;
    // Mallory's state, presented in the victim's session (login CSRF on the callback).
    let mallory_session = random_token("");
    let state = s.start(&c, &mallory, &mallory_session).await;
    let wrong_user = c
        .finish(s.user.id, &s.session, callback(&state, Some("code")))
        .await;
    assert!(matches!(wrong_user, Err(CallbackError::WrongSession)));
    // Same user, another browser session.
    let state = s.start(&c, &s.user, &s.session).await;
    let other_session = random_token("");
    let wrong_session = c
        .finish(s.user.id, &other_session, callback(&state, Some("code")))
        .await;
    assert!(matches!(wrong_session, Err(CallbackError::WrongSession)));
    // Both states are spent.
    let retry = c
        .finish(s.user.id, &s.session, callback(&state, Some("code")))
        .await;
    assert!(matches!(retry, Err(CallbackError::UnknownState)));
    assert_eq!(s.provider.count(Operation::Exchange), 0);
    assert!(c.views(s.user.id).await.unwrap().is_empty());
    assert!(c.views(mallory.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn callbacks_without_state_or_code_or_with_an_error_connect_nothing() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    let no_state = c
        .finish(
            s.user.id,
            &s.session,
            CallbackQuery {
                code: Some("code".into()),
                ..CallbackQuery::default()
            },
        )
        .await;
    assert!(matches!(no_state, Err(CallbackError::MissingState)));
    let state = s.start(&c, &s.user, &s.session).await;
    let no_code = c
        .finish(s.user.id, &s.session, callback(&state, None))
        .await;
    assert!(matches!(no_code, Err(CallbackError::MissingCode { .. })));
    let state = s.start(&c, &s.user, &s.session).await;
    let denied = c
        .finish(
            s.user.id,
            &s.session,
            CallbackQuery {
                state: Some(state),
                error: Some("access_denied".into()),
                error_description: Some("<script>alert(1)</script>".into()),
                ..CallbackQuery::default()
            },
        )
        .await;
    let Err(error @ CallbackError::Denied { .. }) = denied else {
        panic!("expected the provider's refusal");
    };
    assert!(error.to_string().contains("access_denied"));
    assert_eq!(s.provider.count(Operation::Exchange), 0);
    assert!(c.views(s.user.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_bad_authorization_url_from_the_server_is_refused_and_starts_no_flow() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    for bad in [
        "javascript:alert(1)".to_owned(),
        "https://idp.example/authorize?state=not-ours&redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fauth%2Fcallback".to_owned(),
        "https://idp.example/authorize?redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fauth%2Fcallback".to_owned(),
    ] {
        s.provider.with(|r| r.bad_url = Some(bad.clone()));
        let refused = c.start(s.user.id, &s.session, &s.server, "tracker", &[]).await;
        assert!(matches!(refused, Err(ConnectError::Integration(_))), "{bad}");
    }
    let flows: i64 = s.h.count("SELECT COUNT(*) FROM oauth_flows").await;
    assert_eq!(flows, 0);
    // An unknown provider is refused before the server is asked.
    let asked = s.provider.count(Operation::AuthorizationUrl);
    let unknown = c
        .start(s.user.id, &s.session, &s.server, "other", &[])
        .await;
    assert!(matches!(unknown, Err(ConnectError::UnknownProvider { .. })));
    assert_eq!(s.provider.count(Operation::AuthorizationUrl), asked);
}

#[tokio::test]
async fn a_provider_without_settings_says_which_env_vars_to_set() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.provider.with(|r| r.not_configured = true);
    let Err(ConnectError::NotConfigured { missing_env, .. }) = c
        .start(s.user.id, &s.session, &s.server, "tracker", &[])
        .await
    else {
        panic!("expected not configured");
    };
    assert_eq!(missing_env, ["TRACKER_CLIENT_ID"]);
}

#[tokio::test]
async fn a_state_connects_only_the_server_it_was_made_for() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.h.create_server(&CONFIG.replace("Tracker", "Other Tracker"), "other")
        .await;
    let other =
        s.h.platform
            .state
            .store
            .server_by_slug("other")
            .await
            .unwrap();
    let url = c
        .start(s.user.id, &s.session, &other, "tracker", &[])
        .await
        .unwrap();
    let state = state_of(&url);
    let connected = c
        .finish(s.user.id, &s.session, callback(&state, Some("code")))
        .await
        .unwrap();
    assert_eq!(connected.server.id, other.id);
    assert!(matches!(s.token(&c).await, Err(TokenError::NotConnected)));
    let token = c
        .access_token(s.user.id, other.id, "tracker")
        .await
        .unwrap();
    assert_eq!(token.expose_secret(), "access-0");
}

#[tokio::test]
async fn a_user_cannot_pile_up_connect_flows() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    for _ in 0..20 {
        s.start(&c, &s.user, &s.session).await;
    }
    let refused = c
        .start(s.user.id, &s.session, &s.server, "tracker", &[])
        .await;
    assert!(
        matches!(refused, Err(ConnectError::Unavailable(_))),
        "{refused:?}"
    );
    assert_eq!(s.h.count("SELECT COUNT(*) FROM oauth_flows").await, 20);
    // Expired flows make room again.
    s.clock.advance(601);
    s.start(&c, &s.user, &s.session).await;
    assert_eq!(s.h.count("SELECT COUNT(*) FROM oauth_flows").await, 1);
}

#[tokio::test]
async fn disconnect_revokes_then_deletes_the_tokens() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    let id = c.views(s.user.id).await.unwrap()[0].id;
    assert_eq!(
        c.disconnect(s.user.id, s.server.id, id).await.unwrap(),
        Some(true)
    );
    let revoked = s.provider.with(|r| {
        r.calls
            .iter()
            .filter(|(op, _)| *op == Operation::Revoke)
            .map(|(_, body)| body.clone())
            .collect::<Vec<_>>()
    });
    assert_eq!(
        revoked,
        [json!({ "access_token": "access-0", "refresh_token": "refresh-0" })]
    );
    assert_eq!(s.h.count("SELECT COUNT(*) FROM connections").await, 0);
    assert!(matches!(s.token(&c).await, Err(TokenError::NotConnected)));
    assert_eq!(
        c.disconnect(s.user.id, s.server.id, id).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_token_moved_to_another_users_row_does_not_decrypt() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    s.connect(&c).await;
    let (bob, _) =
        s.h.user_with_token("bob@example.com", gumstack_platform::store::Role::Member)
            .await;
    let bob_session = random_token("");
    let state = s.start(&c, &bob, &bob_session).await;
    c.finish(bob.id, &bob_session, callback(&state, Some("code")))
        .await
        .unwrap();
    // Copy the admin's sealed access token into Bob's row.
    sqlx::query(
        "UPDATE connections SET access_ciphertext =
             (SELECT access_ciphertext FROM connections WHERE user_id = ?)
         WHERE user_id = ?",
    )
    .bind(s.user.id.to_string())
    .bind(bob.id.to_string())
    .execute(s.h.store.pool())
    .await
    .unwrap();
    let moved = c.access_token(bob.id, s.server.id, "tracker").await;
    assert!(matches!(moved, Err(TokenError::Internal(_))), "{moved:?}");
    assert_eq!(s.token(&c).await.unwrap(), "access-0");
}

/// A step-up (docs/PROTOCOL.md §3): the server is asked for the scopes a tool needs; an
/// authorization URL that does not ask for them starts no flow; a provider that names no scope
/// in its token response granted what the URL asked for, and the connection records it.
#[tokio::test]
async fn scopes_a_tool_needs_are_asked_for_and_recorded() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    let admin = vec!["admin".to_owned()];
    s.provider.with(|r| r.url_scope = Some("read".into()));
    let refused = c
        .start(s.user.id, &s.session, &s.server, "tracker", &admin)
        .await;
    match refused {
        Err(ConnectError::Integration(message)) => {
            assert!(message.contains("does not ask for the scopes"), "{message}");
            assert!(message.contains("admin"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.h.count("SELECT COUNT(*) FROM oauth_flows").await, 0);
    let asked = s.provider.with(|r| r.calls.last().unwrap().1.clone());
    assert_eq!(asked["scopes"], json!(["admin"]));

    s.provider.with(|r| {
        r.url_scope = Some("read admin".into());
        r.no_scope_in_tokens = true;
    });
    let url = c
        .start(s.user.id, &s.session, &s.server, "tracker", &admin)
        .await
        .unwrap();
    let state = state_of(&url);
    c.finish(s.user.id, &s.session, callback(&state, Some("code")))
        .await
        .unwrap();
    assert_eq!(s.stored().await.scope.as_deref(), Some("read admin"));

    // Without extra scopes the request carries none.
    c.start(s.user.id, &s.session, &s.server, "tracker", &[])
        .await
        .unwrap();
    let asked = s.provider.with(|r| r.calls.last().unwrap().1.clone());
    assert!(asked.get("scopes").is_none(), "{asked}");
}
