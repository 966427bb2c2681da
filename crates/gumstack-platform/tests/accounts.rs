//! Several accounts of one provider (SPEC §3), against a recording provider: each account is
//! its own connection, told apart by its nickname; one is the default; a tool asks for
//! another by nickname or label; each refreshes on its own; a user acts on their own accounts
//! only.

mod common;

use common::recording_provider::{ANN, Setup, settings};
use gumstack_platform::connections::provider::Operation;
use gumstack_platform::connections::{Connections, RenameError, TokenError};
use gumstack_platform::store::Role;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

const WORK: &str = "ann@work.example";

/// Connects Ann's default-named account, then her work account.
async fn two_accounts(s: &Setup, c: &Connections) {
    s.connect(c).await;
    s.provider.with(|r| r.nickname = Some(WORK.to_owned()));
    s.connect(c).await;
}

/// The token `account` (None: the default) gets, and the account it is of.
async fn token_of(s: &Setup, c: &Connections, account: Option<&str>) -> (String, String) {
    let got = c
        .account_token(s.user.id, s.server.id, "tracker", account)
        .await
        .unwrap();
    (got.access_token.expose_secret().to_owned(), got.account)
}

/// The connection id of the account `nickname`.
async fn id_of(s: &Setup, c: &Connections, nickname: &str) -> Uuid {
    c.views(s.user.id)
        .await
        .unwrap()
        .into_iter()
        .find(|v| v.nickname == nickname)
        .unwrap()
        .id
}

async fn default_nickname(s: &Setup, c: &Connections) -> String {
    let views = c.views(s.user.id).await.unwrap();
    let defaults: Vec<_> = views.iter().filter(|v| v.is_default).collect();
    assert_eq!(defaults.len(), 1, "{views:?}");
    defaults[0].nickname.clone()
}

#[tokio::test]
async fn a_second_account_is_kept_beside_the_first_which_stays_the_default() {
    let s = Setup::new(Some(3600)).await;
    let c = s.instance(settings());
    two_accounts(&s, &c).await;
    assert_eq!(s.h.count("SELECT COUNT(*) FROM connections").await, 2);
    assert_eq!(default_nickname(&s, &c).await, ANN);
    assert_eq!(
        token_of(&s, &c, None).await,
        ("access-0".into(), ANN.into())
    );
    assert_eq!(
        token_of(&s, &c, Some(WORK)).await,
        ("access-1".into(), WORK.into())
    );

    // Connecting the work account again replaces its tokens only.
    s.connect(&c).await;
    assert_eq!(s.h.count("SELECT COUNT(*) FROM connections").await, 2);
    assert_eq!(token_of(&s, &c, Some(WORK)).await.0, "access-2");
    assert_eq!(token_of(&s, &c, None).await.0, "access-0");
    assert_eq!(default_nickname(&s, &c).await, ANN);
}

#[tokio::test]
async fn the_default_can_be_changed_and_passes_on_when_it_is_disconnected() {
    let s = Setup::new(Some(3600)).await;
    let c = s.instance(settings());
    two_accounts(&s, &c).await;
    let (ann, work) = (id_of(&s, &c, ANN).await, id_of(&s, &c, WORK).await);

    assert!(c.set_default(s.user.id, s.server.id, work).await.unwrap());
    assert_eq!(default_nickname(&s, &c).await, WORK);
    assert_eq!(token_of(&s, &c, None).await.1, WORK);
    // Making the default the default again changes nothing.
    assert!(c.set_default(s.user.id, s.server.id, work).await.unwrap());
    assert_eq!(default_nickname(&s, &c).await, WORK);

    // The default is disconnected (revoked at the provider): the other account takes over.
    assert_eq!(
        c.disconnect(s.user.id, s.server.id, work).await.unwrap(),
        Some(true)
    );
    assert_eq!(s.provider.count(Operation::Revoke), 1);
    assert_eq!(default_nickname(&s, &c).await, ANN);
    assert_eq!(
        token_of(&s, &c, None).await,
        ("access-0".into(), ANN.into())
    );
    assert_eq!(
        c.disconnect(s.user.id, s.server.id, ann).await.unwrap(),
        Some(true)
    );
    assert!(matches!(s.token(&c).await, Err(TokenError::NotConnected)));
}

#[tokio::test]
async fn a_label_names_an_account_and_may_not_be_another_accounts_name() {
    let s = Setup::new(Some(3600)).await;
    let c = s.instance(settings());
    two_accounts(&s, &c).await;
    let (ann, work) = (id_of(&s, &c, ANN).await, id_of(&s, &c, WORK).await);

    c.rename(s.user.id, s.server.id, work, "  Work  ")
        .await
        .unwrap();
    assert_eq!(token_of(&s, &c, Some("Work")).await.1, WORK);
    // A nickname wins over another account's label; names are exact.
    assert_eq!(token_of(&s, &c, Some(ANN)).await.1, ANN);
    let unknown = c
        .account_token(s.user.id, s.server.id, "tracker", Some("work"))
        .await;
    match unknown {
        Err(TokenError::UnknownAccount { account, connected }) => {
            assert_eq!(account, "work");
            assert_eq!(connected, [ANN, "Work"]);
        }
        other => panic!("{other:?}"),
    }

    for (typed, refused) in [
        ("Work", "taken by the work account's label"),
        (WORK, "taken by the work account's nickname"),
    ] {
        let answer = c.rename(s.user.id, s.server.id, ann, typed).await;
        assert!(matches!(answer, Err(RenameError::Taken(_))), "{refused}");
    }
    for typed in ["x".repeat(65), "tab\there".to_owned()] {
        let answer = c.rename(s.user.id, s.server.id, ann, &typed).await;
        assert!(matches!(answer, Err(RenameError::Invalid)), "{typed:?}");
    }
    // Nothing refused was stored.
    let views = c.views(s.user.id).await.unwrap();
    let labels: Vec<_> = views.iter().map(|v| v.label.clone()).collect();
    assert_eq!(labels, [None, Some("Work".to_owned())]);

    // An empty label removes it.
    c.rename(s.user.id, s.server.id, work, "").await.unwrap();
    assert_eq!(c.views(s.user.id).await.unwrap()[1].label, None);
}

#[tokio::test]
async fn each_account_refreshes_on_its_own() {
    let s = Setup::new(Some(600)).await;
    let c = s.instance(settings());
    two_accounts(&s, &c).await;
    s.clock.advance(590);
    assert_eq!(token_of(&s, &c, None).await.0, "access-2");
    assert_eq!(s.provider.refreshes(), ["refresh-0"]);
    assert_eq!(token_of(&s, &c, Some(WORK)).await.0, "access-3");
    assert_eq!(s.provider.refreshes(), ["refresh-0", "refresh-1"]);

    // A token reported as rejected expires its own account only.
    let reported = c
        .report_invalid(
            s.user.id,
            s.server.id,
            "tracker",
            &SecretString::from("access-3"),
        )
        .await
        .unwrap();
    assert!(reported);
    assert_eq!(token_of(&s, &c, None).await.0, "access-2");
    assert_eq!(token_of(&s, &c, Some(WORK)).await.0, "access-4");
    assert_eq!(
        s.provider.refreshes(),
        ["refresh-0", "refresh-1", "refresh-3"]
    );
}

#[tokio::test]
async fn nobody_acts_on_another_users_account() {
    let s = Setup::new(Some(3600)).await;
    let c = s.instance(settings());
    two_accounts(&s, &c).await;
    let work = id_of(&s, &c, WORK).await;
    let (mallory, _) =
        s.h.user_with_token("mallory@example.com", Role::Member)
            .await;

    assert_eq!(
        c.disconnect(mallory.id, s.server.id, work).await.unwrap(),
        None
    );
    assert!(!c.set_default(mallory.id, s.server.id, work).await.unwrap());
    let renamed = c.rename(mallory.id, s.server.id, work, "mine").await;
    assert!(matches!(renamed, Err(RenameError::NotFound)));
    // Nor through Ann's accounts' names.
    let asked = c
        .account_token(mallory.id, s.server.id, "tracker", Some(WORK))
        .await;
    assert!(matches!(asked, Err(TokenError::NotConnected)), "{asked:?}");

    assert_eq!(s.provider.count(Operation::Revoke), 0);
    assert_eq!(default_nickname(&s, &c).await, ANN);
    assert_eq!(c.views(s.user.id).await.unwrap()[1].label, None);
}

#[tokio::test]
async fn the_same_subject_is_the_same_account_even_renamed_and_another_may_not_take_its_name() {
    let s = Setup::new(Some(3600)).await;
    let c = s.instance(settings());
    s.provider.with(|r| r.subject = Some("sub-ann".into()));
    s.connect(&c).await;
    let first = id_of(&s, &c, ANN).await;
    c.rename(s.user.id, s.server.id, first, "Mine")
        .await
        .unwrap();
    s.provider.with(|r| {
        r.nickname = Some(WORK.into());
        r.subject = Some("sub-work".into());
    });
    s.connect(&c).await;

    // Ann renamed her account at the provider: the same subject, a new name.
    s.provider.with(|r| {
        r.nickname = Some("ann@renamed.example".into());
        r.subject = Some("sub-ann".into());
    });
    s.connect(&c).await;
    let views = c.views(s.user.id).await.unwrap();
    let names: Vec<_> = views
        .iter()
        .map(|v| (v.nickname.as_str(), v.label.as_deref(), v.is_default))
        .collect();
    assert_eq!(
        names,
        [
            ("ann@renamed.example", Some("Mine"), true),
            (WORK, None, false)
        ]
    );
    assert_eq!(
        token_of(&s, &c, None).await,
        ("access-2".into(), "ann@renamed.example".into())
    );

    // Another account (another subject) going by the work account's name connects nothing.
    s.provider.with(|r| {
        r.nickname = Some(WORK.into());
        r.subject = Some("sub-impostor".into());
    });
    let state = s.start(&c, &s.user, &s.session).await;
    let refused = c
        .finish(
            s.user.id,
            &s.session,
            common::recording_provider::callback(&state, Some("code")),
        )
        .await;
    match refused {
        Err(gumstack_platform::connections::CallbackError::ExchangeFailed { message, .. }) => {
            assert!(
                message.contains("also called ann@work.example"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(token_of(&s, &c, Some(WORK)).await.0, "access-1");
    assert_eq!(s.h.count("SELECT COUNT(*) FROM connections").await, 2);
}
