//! The accounts of an `oauth` server on its Connections page (SPEC §3, §10): every account a
//! user connected to a provider, with Make default, Rename and Disconnect each; forms that
//! name an account of someone else, or none, change nothing.

mod common;

use axum::http::StatusCode;
use common::Harness;
use gumstack_platform::store::{Role, Server, User};
use uuid::Uuid;

const TRACKER: &str = "name: Tracker\nauth:\n  type: oauth\n  provider: tracker\n";
const AT: i64 = 1_800_000_000;

/// Stores an active connection of `user` to account `nickname`, created at `AT + age`.
async fn connect(h: &Harness, user: &User, server: &Server, nickname: &str, age: i64) -> Uuid {
    let connection = common::connection_row(user.id, server.id, "tracker", nickname, AT + age);
    let id = connection.id;
    h.platform
        .state
        .store
        .upsert_connection(&connection)
        .await
        .unwrap();
    id
}

/// (nickname, label, default) of the user's accounts, as stored.
async fn accounts(h: &Harness, user: &User) -> Vec<(String, Option<String>, bool)> {
    h.platform
        .state
        .store
        .user_connections(user.id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.nickname, c.label, c.is_default))
        .collect()
}

struct World {
    h: Harness,
    ann: User,
    cookie: String,
    csrf: String,
    personal: Uuid,
    work: Uuid,
}

impl World {
    async fn new() -> Self {
        let h = Harness::new().await;
        h.create_server(TRACKER, "tracker").await;
        let server = h
            .platform
            .state
            .store
            .server_by_slug("tracker")
            .await
            .unwrap();
        let (ann, _) = h.user_with_token("ann@example.com", Role::Member).await;
        let personal = connect(&h, &ann, &server, "ann@home.example", 0).await;
        let work = connect(&h, &ann, &server, "ann@work.example", 1).await;
        let (cookie, csrf) = h.session_for(&ann).await;
        Self {
            h,
            ann,
            cookie,
            csrf,
            personal,
            work,
        }
    }

    async fn post(&self, action: &str, fields: &[(&str, &str)]) -> common::Reply {
        let mut pairs = vec![("csrf", self.csrf.as_str())];
        pairs.extend_from_slice(fields);
        self.h
            .form(
                &format!("/connections/tracker/tracker/{action}"),
                Some(&self.cookie),
                &pairs,
                &[],
            )
            .await
    }

    async fn page(&self) -> String {
        let page = self.h.get("/connections/tracker", Some(&self.cookie)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        page.text
    }
}

#[tokio::test]
async fn the_page_lists_each_account_with_what_can_be_done_with_it() {
    let w = World::new().await;
    let page = w.page().await;
    assert!(page.contains("ann@home.example") && page.contains("ann@work.example"));
    assert_eq!(
        page.matches("<span class=\"badge\">default</span>").count(),
        1
    );
    // Make default is offered for the other account only.
    let make_default = format!(
        "action=\"/connections/tracker/tracker/default\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"account\" value=\"{}\">",
        w.csrf, w.work
    );
    assert!(page.contains(&make_default), "{page}");
    assert_eq!(
        page.matches("/connections/tracker/tracker/default").count(),
        1
    );
    assert_eq!(
        page.matches("/connections/tracker/tracker/rename").count(),
        2
    );
    assert_eq!(
        page.matches("/connections/tracker/tracker/disconnect")
            .count(),
        2
    );
    assert!(page.contains("Connect another tracker account"), "{page}");
}

#[tokio::test]
async fn make_default_rename_and_disconnect_act_on_the_named_account() {
    let w = World::new().await;
    let work = w.work.to_string();
    let personal = w.personal.to_string();

    let made = w.post("default", &[("account", &work)]).await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.text);
    let renamed = w
        .post("rename", &[("account", &work), ("label", "<i>Work</i>")])
        .await;
    assert_eq!(renamed.status, StatusCode::SEE_OTHER, "{}", renamed.text);
    assert_eq!(
        accounts(&w.h, &w.ann).await,
        [
            ("ann@work.example".into(), Some("<i>Work</i>".into()), true),
            ("ann@home.example".into(), None, false),
        ]
    );
    let page = w.page().await;
    assert!(page.contains("&lt;i&gt;Work&lt;/i&gt;"), "{page}");
    assert!(!page.contains("<i>Work</i>"));

    // The default goes: the other account becomes the default.
    let gone = w.post("disconnect", &[("account", &work)]).await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.text);
    assert_eq!(
        accounts(&w.h, &w.ann).await,
        [("ann@home.example".into(), None, true)]
    );
    let gone = w.post("disconnect", &[("account", &personal)]).await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.text);
    assert!(accounts(&w.h, &w.ann).await.is_empty());
    assert!(w.page().await.contains("Not connected."));
}

#[tokio::test]
async fn a_taken_or_invalid_label_is_refused_and_changes_nothing() {
    let w = World::new().await;
    let work = w.work.to_string();
    let long = "x".repeat(65);
    for (label, status, says) in [
        (
            "ann@home.example",
            StatusCode::CONFLICT,
            "already called ann@home.example",
        ),
        (
            long.as_str(),
            StatusCode::BAD_REQUEST,
            "at most 64 characters",
        ),
    ] {
        let refused = w
            .post("rename", &[("account", &work), ("label", label)])
            .await;
        assert_eq!(refused.status, status, "{label}: {}", refused.text);
        assert!(refused.text.contains(says), "{label}: {}", refused.text);
    }
    assert_eq!(
        accounts(&w.h, &w.ann).await,
        [
            ("ann@home.example".into(), None, true),
            ("ann@work.example".into(), None, false),
        ]
    );
}

#[tokio::test]
async fn forms_naming_someone_elses_account_or_none_change_nothing() {
    let w = World::new().await;
    let server =
        w.h.platform
            .state
            .store
            .server_by_slug("tracker")
            .await
            .unwrap();
    let (bob, _) = w.h.user_with_token("bob@example.com", Role::Member).await;
    let bobs = connect(&w.h, &bob, &server, "bob@example", 0)
        .await
        .to_string();
    let before = (accounts(&w.h, &w.ann).await, accounts(&w.h, &bob).await);

    for action in ["default", "rename", "disconnect"] {
        for account in [bobs.as_str(), "not-a-uuid", &Uuid::new_v4().to_string()] {
            let refused = w
                .post(action, &[("account", account), ("label", "mine")])
                .await;
            assert_eq!(refused.status, StatusCode::NOT_FOUND, "{action} {account}");
            assert!(refused.text.contains("no such account"), "{}", refused.text);
        }
    }
    for action in ["default", "rename"] {
        let refused = w.post(action, &[("label", "mine")]).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{action}");
    }
    // Without a CSRF token: refused before anything is looked at.
    let forged =
        w.h.form(
            "/connections/tracker/tracker/default",
            Some(&w.cookie),
            &[("account", &w.work.to_string())],
            &[],
        )
        .await;
    assert_ne!(forged.status, StatusCode::SEE_OTHER);
    assert_eq!(
        (accounts(&w.h, &w.ann).await, accounts(&w.h, &bob).await),
        before
    );
}
