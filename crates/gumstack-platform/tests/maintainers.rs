//! Who may manage a server: admins every server, developers those they own or maintain,
//! members none. A developer who may not manage a server is refused on every route that
//! changes it, in the dashboard and the API, and nothing changes; once its owner makes them a
//! maintainer they may, and a removal applies to their next request.

mod common;

use axum::http::{Method, StatusCode};
use common::dashboard::{assert_forbidden, assert_redirect, user};
use common::{Harness, NONE_CONFIG};
use gumstack_platform::store::{Role, User};
use serde_json::{Value, json};

/// A server created by `token`'s user (who owns it), with one env var.
async fn server_of(h: &Harness, token: &str, slug: &str) {
    let reply = h
        .api(
            Method::POST,
            "/api/servers",
            Some(token),
            Some(json!({ "config_yaml": NONE_CONFIG, "slug": slug, "runtime": { "command": "/bin/true" } })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let reply = h
        .api(
            Method::PUT,
            &format!("/api/servers/{slug}/env/GREETING"),
            Some(token),
            Some(json!({ "value": "hello-from-the-owner" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
}

/// The stored server row and its env vars, as a string to compare before and after.
async fn snapshot(h: &Harness, slug: &str) -> String {
    let row: (String, String, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT name, description, enabled, deploy_generation, updated_at,
                (SELECT COUNT(*) FROM env_vars e WHERE e.server_id = s.id)
         FROM servers s WHERE slug = ?",
    )
    .bind(slug)
    .fetch_one(h.store.pool())
    .await
    .unwrap_or_else(|e| panic!("server {slug} is gone: {e}"));
    let env: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT e.name, e.value_ciphertext FROM env_vars e JOIN servers s ON s.id = e.server_id
         WHERE s.slug = ? ORDER BY e.name",
    )
    .bind(slug)
    .fetch_all(h.store.pool())
    .await
    .unwrap();
    format!("{row:?} {env:?}")
}

/// Every API call that changes a server or reads what only its managers read.
fn api_actions(slug: &str) -> Vec<(Method, String, Option<Value>)> {
    let base = format!("/api/servers/{slug}");
    vec![
        (
            Method::PATCH,
            base.clone(),
            Some(json!({ "name": "Taken over" })),
        ),
        (
            Method::PUT,
            format!("{base}/env/GREETING"),
            Some(json!({ "value": "overwritten" })),
        ),
        (
            Method::PUT,
            format!("{base}/env/NEW_ONE"),
            Some(json!({ "value": "added" })),
        ),
        (Method::DELETE, format!("{base}/env/GREETING"), None),
        (Method::GET, format!("{base}/env"), None),
        (Method::GET, format!("{base}/deployments"), None),
        (Method::POST, format!("{base}/redeploy"), None),
        (Method::POST, format!("{base}/disable"), None),
        (Method::POST, format!("{base}/enable"), None),
        (Method::GET, format!("{base}/maintainers"), None),
        (Method::DELETE, base, None),
    ]
}

/// A dashboard request: method, path and the form's fields besides the CSRF token.
type PageAction = (&'static str, String, Vec<(&'static str, &'static str)>);

/// Every dashboard page or form of a server's management.
fn dashboard_actions(slug: &str) -> Vec<PageAction> {
    let base = format!("/servers/{slug}");
    vec![
        ("GET", format!("{base}/settings"), vec![]),
        (
            "POST",
            format!("{base}/settings"),
            vec![("name", "Taken over"), ("description", "mine now")],
        ),
        (
            "POST",
            format!("{base}/env"),
            vec![("name", "GREETING"), ("value", "overwritten")],
        ),
        ("POST", format!("{base}/env/GREETING/delete"), vec![]),
        ("POST", format!("{base}/redeploy"), vec![]),
        ("POST", format!("{base}/disable"), vec![]),
        ("POST", format!("{base}/enable"), vec![]),
        ("GET", format!("{base}/delete"), vec![]),
        ("POST", format!("{base}/delete"), vec![("confirm", "owned")]),
        (
            "POST",
            format!("{base}/maintainers"),
            vec![("email", "bob@example.com")],
        ),
    ]
}

async fn dashboard(
    h: &Harness,
    cookie: &str,
    csrf: &str,
    method: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> common::Reply {
    if method == "GET" {
        return h.get(path, Some(cookie)).await;
    }
    let mut pairs = vec![("csrf", csrf)];
    pairs.extend_from_slice(fields);
    h.form(path, Some(cookie), &pairs, &[]).await
}

async fn add_maintainer(h: &Harness, token: &str, slug: &str, email: &str) -> common::Reply {
    h.api(
        Method::POST,
        &format!("/api/servers/{slug}/maintainers"),
        Some(token),
        Some(json!({ "email": email })),
    )
    .await
}

async fn maintainer_rows(h: &Harness) -> i64 {
    h.count("SELECT COUNT(*) FROM server_maintainers").await
}

#[tokio::test]
async fn a_developer_cannot_change_another_developers_server_until_made_maintainer() {
    let h = Harness::new().await;
    let (_, alice_token) = h
        .user_with_token("alice@example.com", Role::Developer)
        .await;
    let (bob, bob_token) = h.user_with_token("bob@example.com", Role::Developer).await;
    let (bob_cookie, bob_csrf) = h.session_for(&bob).await;
    server_of(&h, &alice_token, "owned").await;
    let before = snapshot(&h, "owned").await;

    // Refused on every route, through the API and the dashboard; nothing changes.
    for (method, path, body) in api_actions("owned") {
        let reply = h.api(method.clone(), &path, Some(&bob_token), body).await;
        reply.assert_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "may not manage server `owned`",
        );
        assert_eq!(snapshot(&h, "owned").await, before, "{method} {path}");
    }
    for (method, path, fields) in dashboard_actions("owned") {
        let reply = dashboard(&h, &bob_cookie, &bob_csrf, method, &path, &fields).await;
        assert_forbidden(&reply);
        assert!(
            reply.text.contains("unless you own it"),
            "{method} {path}: {}",
            reply.text
        );
        assert_eq!(snapshot(&h, "owned").await, before, "{method} {path}");
    }
    assert_eq!(maintainer_rows(&h).await, 0);
    // Bob still sees the server, without a Settings tab.
    let overview = h.get("/servers/owned", Some(&bob_cookie)).await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(!overview.text.contains("/servers/owned/settings"));
    let listed = h
        .api(Method::GET, "/api/servers", Some(&bob_token), None)
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.json()["servers"].as_array().unwrap().len(), 1);
    let shown = h
        .api(Method::GET, "/api/servers/owned", Some(&bob_token), None)
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.text);

    // Alice makes Bob a maintainer: now he may.
    let added = add_maintainer(&h, &alice_token, "owned", "  BOB@example.com ").await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    assert_eq!(added.json()["email"], "bob@example.com");
    assert_eq!(added.json()["role"], "developer");
    let renamed = h
        .api(
            Method::PATCH,
            "/api/servers/owned",
            Some(&bob_token),
            Some(json!({ "name": "Bob's now" })),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    let env = h
        .api(
            Method::PUT,
            "/api/servers/owned/env/BOBS",
            Some(&bob_token),
            Some(json!({ "value": "set-by-bob" })),
        )
        .await;
    assert_eq!(env.status, StatusCode::CREATED, "{}", env.text);
    let redeploy = h
        .api(
            Method::POST,
            "/api/servers/owned/redeploy",
            Some(&bob_token),
            None,
        )
        .await;
    assert_eq!(redeploy.status, StatusCode::ACCEPTED, "{}", redeploy.text);
    let settings = h.get("/servers/owned/settings", Some(&bob_cookie)).await;
    assert_eq!(settings.status, StatusCode::OK, "{}", settings.text);
    assert!(settings.text.contains("bob@example.com"), "listed");
    assert!(
        settings.text.contains("Only the owner and admins"),
        "a maintainer does not choose maintainers"
    );
    let saved = h
        .form(
            "/servers/owned/settings",
            Some(&bob_cookie),
            &[("csrf", &bob_csrf), ("name", "Bob's via the form")],
            &[],
        )
        .await;
    assert_redirect(&saved, "/servers/owned/settings?done=saved");
    let overview = h.get("/servers/owned", Some(&bob_cookie)).await;
    assert!(overview.text.contains("/servers/owned/settings"));

    // Removed: the next request is refused again.
    let removed = h
        .api(
            Method::DELETE,
            &format!("/api/servers/owned/maintainers/{}", bob.id),
            Some(&alice_token),
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.text);
    let before = snapshot(&h, "owned").await;
    let refused = h
        .api(
            Method::POST,
            "/api/servers/owned/disable",
            Some(&bob_token),
            None,
        )
        .await;
    refused.assert_error(StatusCode::FORBIDDEN, "forbidden", "may not manage");
    let refused = h
        .form(
            "/servers/owned/disable",
            Some(&bob_cookie),
            &[("csrf", &bob_csrf)],
            &[],
        )
        .await;
    assert_forbidden(&refused);
    assert_eq!(snapshot(&h, "owned").await, before);
}

#[tokio::test]
async fn the_owner_and_admins_choose_maintainers_and_nobody_else() {
    let h = Harness::new().await;
    let (alice, alice_token) = h
        .user_with_token("alice@example.com", Role::Developer)
        .await;
    let (bob, bob_token) = h.user_with_token("bob@example.com", Role::Developer).await;
    let (_, carol_token) = h
        .user_with_token("carol@example.com", Role::Developer)
        .await;
    let (_, mia_token) = h.user_with_token("mia@example.com", Role::Member).await;
    server_of(&h, &alice_token, "owned").await;
    assert_eq!(
        add_maintainer(&h, &alice_token, "owned", "bob@example.com")
            .await
            .status,
        StatusCode::CREATED
    );

    // A maintainer, another developer and a member may not change the list.
    for (token, message) in [
        (&bob_token, "may not choose the maintainers"),
        (&carol_token, "may not manage server"),
        (&mia_token, "may not manage servers"),
    ] {
        let reply = add_maintainer(&h, token, "owned", "carol@example.com").await;
        reply.assert_error(StatusCode::FORBIDDEN, "forbidden", message);
        let reply = h
            .api(
                Method::DELETE,
                &format!("/api/servers/owned/maintainers/{}", bob.id),
                Some(token),
                None,
            )
            .await;
        reply.assert_error(StatusCode::FORBIDDEN, "forbidden", message);
    }
    assert_eq!(maintainer_rows(&h).await, 1, "only Bob");

    // Who cannot be a maintainer, each with a clear error; nothing stored.
    for (email, status, code, fragment) in [
        (
            "mia@example.com",
            StatusCode::BAD_REQUEST,
            "not_a_developer",
            "is a member",
        ),
        (
            "nobody@example.com",
            StatusCode::BAD_REQUEST,
            "unknown_user",
            "no account has the email",
        ),
        (
            "",
            StatusCode::BAD_REQUEST,
            "invalid_email",
            "enter the email",
        ),
        (
            "alice@example.com",
            StatusCode::BAD_REQUEST,
            "already_owner",
            "owns this server",
        ),
        (
            "bob@example.com",
            StatusCode::CONFLICT,
            "already_maintainer",
            "already a maintainer",
        ),
    ] {
        let reply = add_maintainer(&h, &alice_token, "owned", email).await;
        reply.assert_error(status, code, fragment);
    }
    assert_eq!(maintainer_rows(&h).await, 1);
    let extra = h
        .api(
            Method::POST,
            "/api/servers/owned/maintainers",
            Some(&alice_token),
            Some(json!({ "email": "carol@example.com", "role": "admin" })),
        )
        .await;
    assert_eq!(extra.status, StatusCode::BAD_REQUEST, "{}", extra.text);
    let unknown_server = add_maintainer(&h, &alice_token, "nope", "carol@example.com").await;
    assert_eq!(unknown_server.status, StatusCode::NOT_FOUND);

    // The list, for the server's managers.
    let list = h
        .api(
            Method::GET,
            "/api/servers/owned/maintainers",
            Some(&bob_token),
            None,
        )
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let list = list.json();
    assert_eq!(list["owner"]["email"], "alice@example.com");
    assert_eq!(list["maintainers"][0]["email"], "bob@example.com");
    assert_eq!(
        list["maintainers"][0]["added_by"],
        alice.id.to_string().as_str()
    );

    // Removing: someone who is not a maintainer is a 404, a malformed id a 400.
    for (id, status) in [
        (uuid::Uuid::new_v4().to_string(), StatusCode::NOT_FOUND),
        (alice.id.to_string(), StatusCode::NOT_FOUND),
        ("12345".to_owned(), StatusCode::BAD_REQUEST),
    ] {
        let reply = h
            .api(
                Method::DELETE,
                &format!("/api/servers/owned/maintainers/{id}"),
                Some(&alice_token),
                None,
            )
            .await;
        assert_eq!(reply.status, status, "{id}: {}", reply.text);
    }
    assert_eq!(maintainer_rows(&h).await, 1);

    // An admin chooses the maintainers of any server.
    let by_admin = add_maintainer(&h, &h.admin_token, "owned", "carol@example.com").await;
    assert_eq!(by_admin.status, StatusCode::CREATED, "{}", by_admin.text);
    let reply = h
        .admin_api(
            Method::DELETE,
            &format!("/api/servers/owned/maintainers/{}", bob.id),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    let emails: Vec<String> = sqlx::query_scalar(
        "SELECT u.email FROM server_maintainers m JOIN users u ON u.id = m.user_id",
    )
    .fetch_all(h.store.pool())
    .await
    .unwrap();
    assert_eq!(emails, ["carol@example.com"]);
}

#[tokio::test]
async fn the_settings_page_adds_and_removes_maintainers() {
    let h = Harness::new().await;
    let (alice, alice_cookie, alice_csrf) = user(&h, "alice@example.com", Role::Developer).await;
    let (bob, bob_cookie, bob_csrf) = user(&h, "bob@example.com", Role::Developer).await;
    user(&h, "mia@example.com", Role::Member).await;
    let alice_token = Harness::token_for(&h.platform, &alice).await;
    server_of(&h, &alice_token, "owned").await;

    let settings = h.get("/servers/owned/settings", Some(&alice_cookie)).await;
    assert_eq!(settings.status, StatusCode::OK);
    assert!(
        settings
            .text
            .contains("<h2 id=\"maintainers\">Maintainers</h2>")
    );
    assert!(
        settings
            .text
            .contains("Owner: <strong>alice@example.com</strong>")
    );
    assert!(settings.text.contains("for=\"maintainer-email\""));

    // Without the CSRF token: refused, nothing stored.
    let forged = h
        .form(
            "/servers/owned/maintainers",
            Some(&alice_cookie),
            &[("email", "bob@example.com")],
            &[],
        )
        .await;
    assert_forbidden(&forged);
    assert_eq!(maintainer_rows(&h).await, 0);

    // A member: the page again, the email kept, the reason said.
    let member = h
        .form(
            "/servers/owned/maintainers",
            Some(&alice_cookie),
            &[("csrf", &alice_csrf), ("email", "mia@example.com")],
            &[],
        )
        .await;
    assert_eq!(member.status, StatusCode::BAD_REQUEST, "{}", member.text);
    assert!(member.text.contains("is a member"), "{}", member.text);
    assert!(member.text.contains("value=\"mia@example.com\""));
    assert!(member.text.contains("aria-invalid=\"true\""));
    assert_eq!(maintainer_rows(&h).await, 0);

    let added = h
        .form(
            "/servers/owned/maintainers",
            Some(&alice_cookie),
            &[("csrf", &alice_csrf), ("email", "bob@example.com")],
            &[],
        )
        .await;
    assert_redirect(
        &added,
        "/servers/owned/settings?done=maintainer-added#maintainers",
    );
    let settings = h
        .get(
            "/servers/owned/settings?done=maintainer-added",
            Some(&alice_cookie),
        )
        .await;
    assert!(settings.text.contains("Maintainer added."));
    assert!(settings.text.contains("<td>bob@example.com</td>"));
    let remove_path = format!("/servers/owned/maintainers/{}/remove", bob.id);
    assert!(settings.text.contains(&remove_path));

    // Bob manages the server but may not remove himself or others from the list.
    let refused = h
        .form(&remove_path, Some(&bob_cookie), &[("csrf", &bob_csrf)], &[])
        .await;
    assert_forbidden(&refused);
    assert!(
        refused.text.contains("choose this server"),
        "{}",
        refused.text
    );
    assert_eq!(maintainer_rows(&h).await, 1);

    let removed = h
        .form(
            &remove_path,
            Some(&alice_cookie),
            &[("csrf", &alice_csrf)],
            &[],
        )
        .await;
    assert_redirect(&removed, "/servers/owned/settings?done=maintainer-removed");
    assert_eq!(maintainer_rows(&h).await, 0);
    let gone = h.get("/servers/owned/settings", Some(&bob_cookie)).await;
    assert_forbidden(&gone);
    let again = h
        .form(
            &remove_path,
            Some(&alice_cookie),
            &[("csrf", &alice_csrf)],
            &[],
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn maintainers_lose_the_right_with_their_role_and_their_rows_with_their_account() {
    let h = Harness::new().await;
    let (_, alice_token) = h
        .user_with_token("alice@example.com", Role::Developer)
        .await;
    let (bob, bob_cookie, _) = user(&h, "bob@example.com", Role::Developer).await;
    server_of(&h, &alice_token, "owned").await;
    add_maintainer(&h, &alice_token, "owned", "bob@example.com").await;
    let ok = h.get("/servers/owned/settings", Some(&bob_cookie)).await;
    assert_eq!(ok.status, StatusCode::OK);

    // Demoted to member: manages nothing, though the row stays (and says so).
    h.platform
        .state
        .accounts
        .set_role(bob.id, Role::Member)
        .await
        .unwrap();
    let refused = h.get("/servers/owned/settings", Some(&bob_cookie)).await;
    assert_forbidden(&refused);
    let (admin_cookie, _) = h.session_for(&h.admin).await;
    let settings = h.get("/servers/owned/settings", Some(&admin_cookie)).await;
    assert!(settings.text.contains("manages nothing while a member"));

    // Deleting the account deletes its maintainer rows.
    let bob: User = h.platform.state.store.user_by_id(bob.id).await.unwrap();
    h.platform
        .state
        .offboarding
        .delete(bob.id, Some(h.admin.id), &h.admin)
        .await
        .unwrap();
    assert_eq!(maintainer_rows(&h).await, 0);
}

#[tokio::test]
async fn a_deleted_owners_server_passes_to_the_admin_with_its_maintainers() {
    let h = Harness::new().await;
    let (alice, alice_token) = h
        .user_with_token("alice@example.com", Role::Developer)
        .await;
    let (_, bob_token) = h.user_with_token("bob@example.com", Role::Developer).await;
    server_of(&h, &alice_token, "owned").await;
    add_maintainer(&h, &alice_token, "owned", "bob@example.com").await;
    h.platform
        .state
        .offboarding
        .delete(alice.id, Some(h.admin.id), &h.admin)
        .await
        .unwrap();
    let server = h.platform.state.servers.resolve("owned").await.unwrap();
    assert_eq!(server.owner_id, Some(h.admin.id));
    let reply = h
        .api(
            Method::POST,
            "/api/servers/owned/redeploy",
            Some(&bob_token),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    let list = h
        .admin_api(Method::GET, "/api/servers/owned/maintainers", None)
        .await
        .json();
    assert_eq!(list["owner"]["email"], h.admin.email.as_str());
    assert_eq!(list["maintainers"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn developers_still_create_servers_and_own_them() {
    let h = Harness::new().await;
    let (dev, dev_cookie, dev_csrf) = user(&h, "dev@example.com", Role::Developer).await;
    let created = h
        .form(
            "/new",
            Some(&dev_cookie),
            &[
                ("csrf", &dev_csrf),
                ("config_yaml", NONE_CONFIG),
                ("command", "/bin/true"),
                ("slug", "mine"),
            ],
            &[],
        )
        .await;
    assert_redirect(&created, "/servers/mine");
    let server = h.platform.state.servers.resolve("mine").await.unwrap();
    assert_eq!(server.owner_id, Some(dev.id));
    let settings = h.get("/servers/mine/settings", Some(&dev_cookie)).await;
    assert_eq!(settings.status, StatusCode::OK);
    assert!(settings.text.contains("Add a maintainer"));
    // An admin manages it too.
    let (admin_cookie, admin_csrf) = h.session_for(&h.admin).await;
    let disabled = h
        .form(
            "/servers/mine/disable",
            Some(&admin_cookie),
            &[("csrf", &admin_csrf)],
            &[],
        )
        .await;
    assert_redirect(&disabled, "/servers/mine/settings?done=disabled");
}

#[tokio::test]
async fn why_a_deployment_failed_is_shown_to_the_servers_managers_only() {
    use gumstack_platform::store::{Deployment, DeploymentStatus, now};
    let h = Harness::new().await;
    let (alice, alice_token) = h
        .user_with_token("alice@example.com", Role::Developer)
        .await;
    let (bob, bob_token) = h.user_with_token("bob@example.com", Role::Developer).await;
    server_of(&h, &alice_token, "owned").await;
    let server = h.platform.state.servers.resolve("owned").await.unwrap();
    let at = now();
    h.platform
        .state
        .store
        .insert_deployment(
            &Deployment {
                id: uuid::Uuid::new_v4(),
                server_id: server.id,
                generation: 1,
                status: DeploymentStatus::Failed,
                address: None,
                error: Some("exited with status 3: missing ALICE_ONLY_DETAIL".to_owned()),
                created_at: at,
                updated_at: at,
            },
            b"not-a-real-token-hash",
        )
        .await
        .unwrap();
    let (alice_cookie, _) = h.session_for(&alice).await;
    let (bob_cookie, _) = h.session_for(&bob).await;
    let owner_view = h.get("/servers/owned", Some(&alice_cookie)).await;
    assert!(owner_view.text.contains("ALICE_ONLY_DETAIL"));
    let other_view = h.get("/servers/owned", Some(&bob_cookie)).await;
    assert_eq!(other_view.status, StatusCode::OK);
    assert!(other_view.text.contains("failed"), "the status is public");
    assert!(!other_view.text.contains("ALICE_ONLY_DETAIL"));
    let api = h
        .api(
            Method::GET,
            "/api/servers/owned/deployments",
            Some(&bob_token),
            None,
        )
        .await;
    api.assert_error(StatusCode::FORBIDDEN, "forbidden", "may not manage");
    assert!(!api.text.contains("ALICE_ONLY_DETAIL"));
    let api = h
        .api(
            Method::GET,
            "/api/servers/owned/deployments",
            Some(&alice_token),
            None,
        )
        .await;
    assert!(api.text.contains("ALICE_ONLY_DETAIL"), "{}", api.text);
}

#[tokio::test]
async fn a_maintainer_reads_the_calls_of_the_server_while_they_maintain_it() {
    let h = Harness::new().await;
    let (alice, alice_token) = h
        .user_with_token("alice@example.com", Role::Developer)
        .await;
    let (bob, bob_token) = h.user_with_token("bob@example.com", Role::Developer).await;
    server_of(&h, &alice_token, "owned").await;
    let server = h.platform.state.servers.resolve("owned").await.unwrap();
    // A call of Alice's to her server, as the activity writer stores it.
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO activity (server_id, user_id, client_id, tool, status, started_at, \
         duration_us, input, input_truncated, output, output_truncated, error) \
         VALUES (?, ?, 'client-1', 'lookup', 'success', ?, 1000, '{\"q\":\"alice-input\"}', 0, \
         '{\"content\":[]}', 0, NULL) RETURNING id",
    )
    .bind(server.id.to_string())
    .bind(alice.id.to_string())
    .bind(h.platform.state.clock.now() * 1000 - 60_000)
    .fetch_one(h.store.pool())
    .await
    .unwrap();
    let uri = format!("/api/activity/{id}");
    let read = |token: String| {
        let uri = uri.clone();
        let h = &h;
        async move { h.api(Method::GET, &uri, Some(&token), None).await }
    };
    assert_eq!(read(bob_token.clone()).await.status, StatusCode::NOT_FOUND);
    add_maintainer(&h, &alice_token, "owned", "bob@example.com").await;
    let call = read(bob_token.clone()).await;
    assert_eq!(call.status, StatusCode::OK, "{}", call.text);
    assert!(call.text.contains("alice-input"));
    h.platform
        .state
        .servers
        .remove_maintainer(&server, bob.id, Some(alice.id))
        .await
        .unwrap();
    assert_eq!(read(bob_token).await.status, StatusCode::NOT_FOUND);
}
