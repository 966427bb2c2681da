//! Offboarding: an admin disables, re-enables and deletes accounts. Disabling ends sessions,
//! API tokens and MCP clients' grants at once (an access token gets 401 at the gateway right
//! after), refuses logins with a clear message, and revokes the account's connections at the
//! providers with a report; deleting also removes credentials and passes servers on. The last
//! admin is refused and an admin cannot offboard themselves; bad ids are 400/404.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::oauth::{public_client, refresh, tokens_as, with_greeter};
use common::recording_provider::{self, Setup};
use common::{CRED_CONFIG, Harness, Reply, dashboard};
use gumstack_platform::connections::provider::ProviderFailure;
use gumstack_platform::offboarding::Offboarding;
use gumstack_platform::store::{Role, User};
use serde_json::{Value, json};

async fn call_gateway(h: &Harness, token: &str) -> Reply {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    let req = Request::post("/mcp/greeter")
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(body))
        .unwrap();
    h.request(req).await
}

async fn disable(h: &Harness, user: &User) -> Reply {
    h.admin_api(
        Method::POST,
        &format!("/api/users/{}/disable", user.id),
        None,
    )
    .await
}

async fn login(h: &Harness, email: &str, password: &str) -> Reply {
    let page = h.get("/login", None).await;
    let cookie = page.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = cookie.split('=').nth(1).unwrap().to_owned();
    h.form(
        "/login",
        Some(&cookie),
        &[
            ("csrf", &csrf),
            ("email", email),
            ("password", password),
            ("next", "/"),
        ],
        &[],
    )
    .await
}

async fn member_with_password(h: &Harness, email: &str) -> (User, String) {
    let password = "a long enough password";
    let created = h
        .platform
        .state
        .accounts
        .create(email, Role::Member, Some(password.to_owned().into()))
        .await
        .unwrap();
    (created.user, password.to_owned())
}

#[tokio::test]
async fn disabling_ends_sessions_tokens_and_grants_at_once() {
    let h = with_greeter(Harness::new().await).await;
    let (bob, password) = member_with_password(&h, "bob@example.com").await;
    let bob_token = Harness::token_for(&h.platform, &bob).await;
    let (cookie, _) = h.session_for(&bob).await;
    let client = public_client(&h).await;
    let (access, refresh_token) = tokens_as(&h, &bob, &client).await;
    // Before: everything works (the gateway gets past authentication: 503, not running).
    assert_eq!(
        call_gateway(&h, &access).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        h.get("/connections", Some(&cookie)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        h.api(Method::GET, "/api/tokens", Some(&bob_token), None)
            .await
            .status,
        StatusCode::OK
    );
    // The admin's own things are not touched by bob's offboarding.
    let admin_client_tokens = tokens_as(&h, &h.admin, &client).await;

    let reply = disable(&h, &bob).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let report = reply.json();
    assert_eq!(report["action"], "disabled");
    assert_eq!(report["user"]["email"], "bob@example.com");
    // Two sessions: the test's, and the one the consent page was approved with.
    assert_eq!(report["ended"]["sessions"], 2, "{report}");
    assert_eq!(report["ended"]["api_tokens"], 1);
    assert_eq!(report["ended"]["mcp_grants"], 1);
    assert_eq!(report["connections"], json!([]));
    assert_eq!(report["failures"], 0);

    // Right after: the access token gets 401 at the gateway, the refresh token is refused,
    // the session is gone, the API token too.
    let gateway = call_gateway(&h, &access).await;
    assert_eq!(gateway.status, StatusCode::UNAUTHORIZED, "{}", gateway.text);
    let refreshed = refresh(&h, &client, &refresh_token).await;
    assert_eq!(refreshed.status, StatusCode::BAD_REQUEST);
    assert_eq!(refreshed.json()["error"], "invalid_grant");
    dashboard::assert_redirect(&h.get("/connections", Some(&cookie)).await, "/login");
    let api = h
        .api(Method::GET, "/api/tokens", Some(&bob_token), None)
        .await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    // The admin's grant works on.
    assert_eq!(
        call_gateway(&h, &admin_client_tokens.0).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );

    // Login is refused with a clear message (only with the right password); a wrong password
    // stays the usual answer.
    let refused = login(&h, "bob@example.com", &password).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert!(
        refused.text.contains("is disabled; ask an admin"),
        "{}",
        refused.text
    );
    assert!(
        refused
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("gumstack_session="))
    );
    let wrong = login(&h, "bob@example.com", "not the password at all").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.text.contains("email or password is wrong"));
    // No new token for a disabled account.
    assert!(
        h.platform
            .state
            .api_tokens
            .create(&bob, "again", None)
            .await
            .is_err()
    );
    let users = h.admin_api(Method::GET, "/api/users", None).await.json();
    let listed = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "bob@example.com")
        .unwrap()
        .clone();
    assert!(listed["disabled_at"].is_i64(), "{listed}");
}

#[tokio::test]
async fn re_enabling_restores_login_but_not_what_was_ended() {
    let h = with_greeter(Harness::new().await).await;
    let (bob, password) = member_with_password(&h, "bob@example.com").await;
    let bob_token = Harness::token_for(&h.platform, &bob).await;
    let client = public_client(&h).await;
    let (access, _) = tokens_as(&h, &bob, &client).await;
    assert_eq!(disable(&h, &bob).await.status, StatusCode::OK);

    let reply = h
        .admin_api(Method::POST, &format!("/api/users/{}/enable", bob.id), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["user"]["disabled_at"], Value::Null);
    let login = login(&h, "bob@example.com", &password).await;
    assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.text);
    // Ended tokens and grants stay ended.
    assert_eq!(
        h.api(Method::GET, "/api/tokens", Some(&bob_token), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call_gateway(&h, &access).await.status,
        StatusCode::UNAUTHORIZED
    );
    // New ones work.
    let (fresh, _) = tokens_as(&h, &bob, &client).await;
    assert_eq!(
        call_gateway(&h, &fresh).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn the_last_admin_and_oneself_cannot_be_offboarded() {
    let h = Harness::new().await;
    let admin = h.admin.clone();
    let (second, second_token) = h.user_with_token("second@example.com", Role::Admin).await;

    // An admin cannot disable or delete themselves.
    let own = disable(&h, &admin).await;
    own.assert_error(
        StatusCode::CONFLICT,
        "own_account",
        "cannot disable your own account",
    );
    let own = h
        .admin_api(Method::DELETE, &format!("/api/users/{}", admin.id), None)
        .await;
    own.assert_error(
        StatusCode::CONFLICT,
        "own_account",
        "cannot delete your own account",
    );

    // The second admin disables the first; then the first is not the last... but the second
    // is: nobody can remove the last enabled admin (here: through the service, as the CLI).
    let reply = h
        .api(
            Method::POST,
            &format!("/api/users/{}/disable", admin.id),
            Some(&second_token),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let offboarding = &h.platform.state.offboarding;
    let err = offboarding.disable(second.id, None).await.unwrap_err();
    assert!(err.to_string().contains("only admin"), "{err}");
    let err = offboarding
        .delete(second.id, None, &admin)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("another enabled admin"), "{err}");
    let stored = h.platform.state.store.user_by_id(second.id).await.unwrap();
    assert!(!stored.is_disabled(), "nothing changed");
    assert_eq!(
        h.api(Method::GET, "/api/tokens", Some(&second_token), None)
            .await
            .status,
        StatusCode::OK,
        "its tokens live on"
    );
    // Demoting the last enabled admin is refused too (a disabled admin does not count).
    let demote = h
        .api(
            Method::PATCH,
            &format!("/api/users/{}", second.id),
            Some(&second_token),
            Some(json!({ "role": "member" })),
        )
        .await;
    demote.assert_error(StatusCode::CONFLICT, "last_admin", "only admin");
}

#[tokio::test]
async fn offboarding_needs_an_admin_and_a_real_user_id() {
    let h = Harness::new().await;
    let (bob, bob_token) = h.user_with_token("bob@example.com", Role::Developer).await;
    let (eve, _) = h.user_with_token("eve@example.com", Role::Member).await;
    for (method, path) in [
        (Method::POST, format!("/api/users/{}/disable", eve.id)),
        (Method::POST, format!("/api/users/{}/enable", eve.id)),
        (Method::DELETE, format!("/api/users/{}", eve.id)),
    ] {
        let reply = h.api(method.clone(), &path, Some(&bob_token), None).await;
        reply.assert_error(StatusCode::FORBIDDEN, "forbidden", "manage users");
        let malformed = path.replace(&eve.id.to_string(), "12345");
        let reply = h.admin_api(method.clone(), &malformed, None).await;
        reply.assert_error(StatusCode::BAD_REQUEST, "invalid_id", "not a user id");
        let unknown = path.replace(&eve.id.to_string(), &uuid::Uuid::new_v4().to_string());
        let reply = h.admin_api(method, &unknown, None).await;
        reply.assert_error(StatusCode::NOT_FOUND, "not_found", "no such user");
    }
    let _ = bob;
    assert_eq!(
        h.count("SELECT COUNT(*) FROM users WHERE disabled_at IS NOT NULL")
            .await,
        0
    );
    assert_eq!(h.count("SELECT COUNT(*) FROM users").await, 3);
}

#[tokio::test]
async fn deleting_removes_credentials_and_passes_servers_on() {
    let h = Harness::new().await;
    let (dev, dev_token) = h.user_with_token("dev@example.com", Role::Developer).await;
    let created = h
        .api(
            Method::POST,
            "/api/servers",
            Some(&dev_token),
            Some(json!({ "config_yaml": CRED_CONFIG, "slug": "keys", "runtime": { "command": "/bin/true" } })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let saved = h
        .api(
            Method::PUT,
            "/api/me/credentials/keys",
            Some(&dev_token),
            Some(json!({ "values": { "api_key": "sk-dev-secret" } })),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    let (cookie, csrf) = dashboard::admin(&h).await;

    // The dashboard asks for the email first.
    let confirm = h
        .get(&format!("/users/{}/delete", dev.id), Some(&cookie))
        .await;
    assert_eq!(confirm.status, StatusCode::OK);
    let wrong = h
        .form(
            &format!("/users/{}/delete", dev.id),
            Some(&cookie),
            &[("csrf", &csrf), ("confirm", "someone")],
            &[],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        h.count("SELECT COUNT(*) FROM users").await,
        2,
        "nothing deleted"
    );

    let page = h
        .form(
            &format!("/users/{}/delete", dev.id),
            Some(&cookie),
            &[("csrf", &csrf), ("confirm", "DEV@example.com")],
            &[],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("Account deleted"), "{}", page.text);
    assert!(page.text.contains("1 saved credentials"), "{}", page.text);
    assert!(page.text.contains("<code>keys</code>"), "{}", page.text);

    assert_eq!(h.count("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(h.count("SELECT COUNT(*) FROM credentials").await, 0);
    assert_eq!(
        h.count("SELECT COUNT(*) FROM api_tokens WHERE user_id <> (SELECT id FROM users)")
            .await,
        0
    );
    let owner: String = sqlx::query_scalar("SELECT owner_id FROM servers WHERE slug = 'keys'")
        .fetch_one(h.store.pool())
        .await
        .unwrap();
    assert_eq!(
        owner,
        h.admin.id.to_string(),
        "the server passed to the deleting admin"
    );
    assert_eq!(
        h.api(Method::GET, "/api/servers", Some(&dev_token), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let again = h
        .admin_api(Method::DELETE, &format!("/api/users/{}", dev.id), None)
        .await;
    again.assert_error(StatusCode::NOT_FOUND, "not_found", "no such user");
}

#[tokio::test]
async fn the_users_page_disables_and_enables_with_a_report() {
    let h = Harness::new().await;
    let (bob, _) = h.user_with_token("bob@example.com", Role::Member).await;
    let (cookie, csrf) = dashboard::admin(&h).await;
    let page = h
        .form(
            &format!("/users/{}/disable", bob.id),
            Some(&cookie),
            &[("csrf", &csrf)],
            &[],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("Account disabled"));
    assert!(page.text.contains("1 API tokens"), "{}", page.text);
    let users = h.get("/users", Some(&cookie)).await;
    assert!(users.text.contains("disabled"), "{}", users.text);
    let enabled = h
        .form(
            &format!("/users/{}/enable", bob.id),
            Some(&cookie),
            &[("csrf", &csrf)],
            &[],
        )
        .await;
    dashboard::assert_redirect(&enabled, "/users?done=enabled");
    // An admin cannot disable themselves from the page either.
    let own = h
        .form(
            &format!("/users/{}/disable", h.admin.id),
            Some(&cookie),
            &[("csrf", &csrf)],
            &[],
        )
        .await;
    assert_eq!(own.status, StatusCode::CONFLICT);
    assert!(
        own.text.contains("cannot disable your own account"),
        "{}",
        own.text
    );
    // A member cannot offboard anyone.
    let (_, member_cookie, member_csrf) =
        dashboard::user(&h, "mia@example.com", Role::Member).await;
    let refused = h
        .form(
            &format!("/users/{}/disable", bob.id),
            Some(&member_cookie),
            &[("csrf", &member_csrf)],
            &[],
        )
        .await;
    dashboard::assert_forbidden(&refused);
}

/// Connections are revoked at the provider; a failed revocation is reported and kept, and
/// disabling again retries it. (In-process with a recording provider; the end-to-end test
/// with a real provider is in the gumstackd crate.)
#[tokio::test]
async fn disabling_revokes_connections_and_reports_failures() {
    let mut setup = Setup::new(Some(3600)).await;
    let bob = setup
        .h
        .platform
        .state
        .accounts
        .create("bob@example.com", Role::Member, None)
        .await
        .unwrap()
        .user;
    setup.user = bob.clone();
    let connections = setup.instance(recording_provider::settings());
    setup.connect(&connections).await;
    let store = Arc::clone(&setup.h.platform.state.store);
    let offboarding = Offboarding::new(store, connections, setup.clock.clone());
    let count = || setup.h.count("SELECT COUNT(*) FROM connections");

    setup.provider.with(|r| {
        r.revoke_failure = Some(ProviderFailure::Transport {
            status: Some(503),
            retry_after: None,
            message: "provider down".into(),
        });
    });
    let report = offboarding
        .disable(bob.id, Some(setup.h.admin.id))
        .await
        .unwrap();
    assert_eq!(report.failures(), 1);
    let c = &report.connections[0];
    assert_eq!(c.server_slug, "tracker");
    assert_eq!(c.nickname, "<b>ann</b>@tracker");
    assert!(!c.deleted, "kept for another attempt");
    assert!(format!("{:?}", c.outcome).contains("provider down"));
    assert_eq!(count().await, 1);
    // The revoke call carried the refresh token too.
    let body = setup.provider.with(|r| r.calls.last().unwrap().1.clone());
    assert!(body["refresh_token"].is_string(), "{body}");

    // Disabling again retries: now revoked, and the tokens are gone.
    setup.provider.with(|r| r.revoke_failure = None);
    let report = offboarding
        .disable(bob.id, Some(setup.h.admin.id))
        .await
        .unwrap();
    assert_eq!(report.failures(), 0);
    assert!(report.connections[0].outcome.is_revoked());
    assert_eq!(
        report.ended.sessions + report.ended.api_tokens + report.ended.grants,
        0,
        "already ended"
    );
    assert_eq!(count().await, 0);
}
