//! How errors reach people and scripts: a page route answers an HTML page (never JSON), and a
//! refused write names what is taken without the database's own text.

mod common;

use axum::http::{Method, StatusCode, header};
use common::{CRED_CONFIG, Harness, OAUTH_CONFIG, Reply};
use gumstack_platform::store::Role;
use serde_json::json;

fn assert_html_error(reply: &Reply, status: StatusCode, fragment: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    let content_type = reply
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("text/html"),
        "a page route answered {content_type}: {}",
        reply.text
    );
    assert!(!reply.text.contains("{\"error\""), "{}", reply.text);
    assert!(reply.text.contains(fragment), "{}", reply.text);
}

#[tokio::test]
async fn connection_pages_answer_errors_as_pages() {
    let h = Harness::new().await;
    h.create_server(CRED_CONFIG, "keys").await;
    h.create_server(OAUTH_CONFIG, "linear").await;
    let (member, _) = h.user_with_token("member@example.com", Role::Member).await;
    let (cookie, csrf) = h.session_for(&member).await;

    let page = h.get("/connections/no-such-server", Some(&cookie)).await;
    assert_html_error(&page, StatusCode::NOT_FOUND, "no server");
    let save = h
        .form(
            "/connections/no-such-server",
            Some(&cookie),
            &[("csrf", &csrf), ("api_key", "x")],
            &[],
        )
        .await;
    assert_html_error(&save, StatusCode::NOT_FOUND, "no server");
    let connect = h
        .form(
            "/connections/no-such-server/linear/connect",
            Some(&cookie),
            &[("csrf", &csrf)],
            &[],
        )
        .await;
    assert_html_error(&connect, StatusCode::NOT_FOUND, "no server");
    let disconnect = h
        .form(
            "/connections/no-such-server/linear/disconnect",
            Some(&cookie),
            &[("csrf", &csrf)],
            &[],
        )
        .await;
    assert_html_error(&disconnect, StatusCode::NOT_FOUND, "no server");
}

#[tokio::test]
async fn connecting_a_provider_the_server_does_not_declare_is_a_404() {
    let h = Harness::new().await;
    h.create_server(OAUTH_CONFIG, "linear").await;
    let (member, _) = h.user_with_token("member@example.com", Role::Member).await;
    let (cookie, csrf) = h.session_for(&member).await;
    for provider in ["evil", "..%2F..%2Finternal", "LINEAR"] {
        let reply = h
            .form(
                &format!("/connections/linear/{provider}/connect"),
                Some(&cookie),
                &[("csrf", &csrf)],
                &[],
            )
            .await;
        assert_html_error(&reply, StatusCode::NOT_FOUND, "has no provider named");
        assert!(
            !reply.text.contains("developer has to fix"),
            "{}",
            reply.text
        );
    }
    assert_eq!(h.count("SELECT COUNT(*) FROM oauth_flows").await, 0);
}

#[tokio::test]
async fn a_taken_email_or_slug_is_named_without_database_text() {
    let h = Harness::new().await;
    h.create_server(CRED_CONFIG, "keys").await;

    let again = h
        .admin_api(
            Method::POST,
            "/api/servers",
            Some(json!({
                "config_yaml": CRED_CONFIG,
                "slug": "keys",
                "runtime": { "command": "/bin/true" }
            })),
        )
        .await;
    again.assert_error(
        StatusCode::CONFLICT,
        "slug_taken",
        "slug `keys` already exists",
    );

    let body = json!({ "email": "ada@example.com", "role": "member" });
    let first = h
        .admin_api(Method::POST, "/api/users", Some(body.clone()))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let twice = h.admin_api(Method::POST, "/api/users", Some(body)).await;
    twice.assert_error(StatusCode::CONFLICT, "email_taken", "ada@example.com");

    for reply in [&again, &twice] {
        for driver_text in [
            "UNIQUE",
            "constraint",
            "sqlite",
            "servers.slug",
            "users.email",
        ] {
            assert!(
                !reply.text.contains(driver_text),
                "a client saw `{driver_text}`: {}",
                reply.text
            );
        }
    }
    assert_eq!(
        h.count("SELECT COUNT(*) FROM users WHERE email = 'ada@example.com'")
            .await,
        1
    );
}

#[tokio::test]
async fn unknown_paths_are_a_404_in_the_form_of_their_neighbours() {
    let h = Harness::new().await;
    let page = h.get("/no/such/page", None).await;
    assert_html_error(
        &page,
        StatusCode::NOT_FOUND,
        "there is no page at this address",
    );
    assert!(
        page.headers.contains_key(header::CONTENT_SECURITY_POLICY),
        "the error page carries the security headers"
    );
    for path in [
        "/api/nope",
        "/oauth/nope",
        "/internal/v9/x",
        "/.well-known/nope",
    ] {
        let reply = h.admin_api(Method::GET, path, None).await;
        reply.assert_error(StatusCode::NOT_FOUND, "not_found", "no route serves");
    }
}
