//! Every form a logged-in browser posts is refused before its handler runs when its CSRF token
//! is missing or not the session's: the 403 "This form expired" page, and nothing changes.

mod common;

use axum::http::StatusCode;
use common::{Harness, NONE_CONFIG};

/// Every form route of a logged-in user (the login form has its own double-submit check).
const FORMS: &[&str] = &[
    "/logout",
    "/new",
    "/servers/greeter/settings",
    "/servers/greeter/env",
    "/servers/greeter/env/GREETING/delete",
    "/servers/greeter/redeploy",
    "/servers/greeter/disable",
    "/servers/greeter/enable",
    "/servers/greeter/delete",
    "/clients/00000000-0000-0000-0000-000000000000/revoke",
    "/users",
    "/users/00000000-0000-0000-0000-000000000000/role",
    "/users/00000000-0000-0000-0000-000000000000/password",
    "/connections/greeter",
    "/connections/greeter/delete",
    "/connections/greeter/github/connect",
    "/connections/greeter/github/disconnect",
    "/oauth/authorize",
];

#[tokio::test]
async fn forms_without_the_sessions_token_are_refused_before_the_handler() {
    let h = Harness::new().await;
    h.create_server(NONE_CONFIG, "greeter").await;
    let (cookie, csrf) = h.session_for(&h.admin).await;
    let wrong = format!("{csrf}x");
    for path in FORMS {
        for token in [None, Some(""), Some(wrong.as_str())] {
            // Fields a handler would act on, were it reached.
            let mut pairs = vec![
                ("name", "Renamed"),
                ("email", "new@example.com"),
                ("role", "member"),
                ("confirm", "greeter"),
                ("decision", "approve"),
            ];
            if let Some(token) = token {
                pairs.push(("csrf", token));
            }
            let reply = h.form(path, Some(&cookie), &pairs, &[]).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path} {token:?}");
            assert!(
                reply.text.contains("This form expired"),
                "{path} {token:?}: {}",
                reply.text
            );
        }
    }
    // Nothing happened: the session lives, the server is there and enabled, no user was added.
    assert_eq!(h.get("/", Some(&cookie)).await.status, StatusCode::OK);
    let server = h.platform.state.servers.resolve("greeter").await.unwrap();
    assert!(server.enabled);
    assert_eq!(server.name, "Greeter");
    assert_eq!(h.count("SELECT COUNT(*) FROM users").await, 1);
}

#[tokio::test]
async fn without_a_session_a_form_goes_to_the_login_page() {
    let h = Harness::new().await;
    let reply = h.form("/users", None, &[("csrf", "anything")], &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.headers[axum::http::header::LOCATION], "/login");
}
