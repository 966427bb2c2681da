//! Who sees which server: admins and developers see every server (they administer them); a
//! member sees only the servers their group may use — in the servers list, on the server's
//! pages, on Connections and in the API. A hidden server answers exactly like an unknown one
//! (404), so a member cannot learn that it exists; a change of the group applies to the next
//! request.

mod common;

use axum::http::{Method, StatusCode};
use common::dashboard::user;
use common::{CRED_CONFIG, Harness, NONE_CONFIG, OAUTH_CONFIG};
use gumstack_platform::store::{Role, User};
use serde_json::json;

/// A group `name` holding `users`; returns its id.
async fn group_with(h: &Harness, name: &str, users: &[&User]) -> String {
    let reply = h
        .admin_api(Method::POST, "/api/groups", Some(json!({ "name": name })))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let id = reply.json()["group"]["id"].as_str().unwrap().to_owned();
    for user in users {
        let reply = h
            .admin_api(
                Method::PUT,
                &format!("/api/groups/{id}/members/{}", user.id),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    }
    id
}

async fn set_enabled(h: &Harness, group: &str, slug: &str, enabled: bool) {
    let reply = h
        .admin_api(
            Method::PUT,
            &format!("/api/groups/{group}/servers/{slug}"),
            Some(json!({ "enabled": enabled, "default": "allow", "tools": {} })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

/// The answer for `hidden`, with its slug replaced by `unknown`'s, equals the answer for
/// `unknown`: the same status and the same page or JSON.
fn assert_same_as_unknown(hidden: &common::Reply, unknown: &common::Reply, slugs: (&str, &str)) {
    assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{}", hidden.text);
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);
    assert_eq!(hidden.text.replace(slugs.0, slugs.1), unknown.text);
}

#[tokio::test]
async fn members_see_only_the_servers_their_group_may_use() {
    let h = Harness::new().await;
    h.create_server(NONE_CONFIG, "greeter").await;
    h.create_server(CRED_CONFIG, "keys").await;
    h.create_server(OAUTH_CONFIG, "linear").await;
    let (mia, mia_cookie, mia_csrf) = user(&h, "mia@example.com", Role::Member).await;
    let mia_token = Harness::token_for(&h.platform, &mia).await;
    let (_, other_cookie, _) = user(&h, "max@example.com", Role::Member).await;
    let (dev, dev_cookie, _) = user(&h, "dev@example.com", Role::Developer).await;
    let dev_token = Harness::token_for(&h.platform, &dev).await;
    let admin = h.admin.clone();
    let (admin_cookie, _) = h.session_for(&admin).await;
    let restricted = group_with(&h, "Restricted", &[&mia, &dev, &admin]).await;
    set_enabled(&h, &restricted, "keys", false).await;
    set_enabled(&h, &restricted, "linear", false).await;

    // The servers list.
    let list = h.get("/", Some(&mia_cookie)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.text.contains("Greeter"));
    assert!(!list.text.contains("Keys") && !list.text.contains("/servers/keys"));
    assert!(!list.text.contains("Linear") && !list.text.contains("/servers/linear"));
    assert!(list.text.contains("1 of 1 servers"), "{}", list.text);
    // A member of another group sees all three.
    let list = h.get("/", Some(&other_cookie)).await;
    for name in ["Greeter", "Keys", "Linear"] {
        assert!(list.text.contains(name), "{name}");
    }

    // The server's pages: exactly the unknown slug's answer.
    let hidden = h.get("/servers/keys", Some(&mia_cookie)).await;
    let unknown = h.get("/servers/nope", Some(&mia_cookie)).await;
    assert_same_as_unknown(&hidden, &unknown, ("keys", "nope"));
    let hidden = h.get("/connections/keys", Some(&mia_cookie)).await;
    let unknown = h.get("/connections/nope", Some(&mia_cookie)).await;
    assert_same_as_unknown(&hidden, &unknown, ("keys", "nope"));
    let hidden = h.get("/connections/linear", Some(&mia_cookie)).await;
    let unknown = h.get("/connections/nopeno", Some(&mia_cookie)).await;
    assert_same_as_unknown(&hidden, &unknown, ("linear", "nopeno"));
    // Forms on a hidden server: 404, nothing stored.
    let saved = h
        .form(
            "/connections/keys",
            Some(&mia_cookie),
            &[("csrf", &mia_csrf), ("api_key", "sk-hidden-1234")],
            &[],
        )
        .await;
    assert_eq!(saved.status, StatusCode::NOT_FOUND, "{}", saved.text);
    let connect = h
        .form(
            "/connections/linear/linear/connect",
            Some(&mia_cookie),
            &[("csrf", &mia_csrf)],
            &[],
        )
        .await;
    assert_eq!(connect.status, StatusCode::NOT_FOUND, "{}", connect.text);
    assert_eq!(h.count("SELECT COUNT(*) FROM credentials").await, 0);
    assert_eq!(h.count("SELECT COUNT(*) FROM oauth_flows").await, 0);

    // Connections: neither hidden server is offered.
    let connections = h.get("/connections", Some(&mia_cookie)).await;
    assert_eq!(connections.status, StatusCode::OK);
    assert!(!connections.text.contains("Keys") && !connections.text.contains("Linear"));
    assert!(
        connections
            .text
            .contains("No server asks for your accounts")
    );
    let connections = h.get("/connections", Some(&other_cookie)).await;
    assert!(connections.text.contains("Keys") && connections.text.contains("Linear"));

    // The API: the same 404 as an unknown server, and not in the connections list.
    let hidden = h
        .api(
            Method::GET,
            "/api/me/credentials/keys",
            Some(&mia_token),
            None,
        )
        .await;
    let unknown = h
        .api(
            Method::GET,
            "/api/me/credentials/nope",
            Some(&mia_token),
            None,
        )
        .await;
    assert_same_as_unknown(&hidden, &unknown, ("keys", "nope"));
    let put = h
        .api(
            Method::PUT,
            "/api/me/credentials/keys",
            Some(&mia_token),
            Some(json!({ "values": { "api_key": "sk-hidden-1234" } })),
        )
        .await;
    assert_eq!(put.status, StatusCode::NOT_FOUND, "{}", put.text);
    assert_eq!(h.count("SELECT COUNT(*) FROM credentials").await, 0);
    let listed = h
        .api(Method::GET, "/api/me/connections", Some(&mia_token), None)
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(listed.json()["connections"], json!([]));

    // Developers and admins in the same group see every server (they administer them).
    for (cookie, who) in [(&dev_cookie, "developer"), (&admin_cookie, "admin")] {
        let list = h.get("/", Some(cookie)).await;
        for name in ["Greeter", "Keys", "Linear"] {
            assert!(list.text.contains(name), "{who} sees {name}");
        }
        let page = h.get("/servers/keys", Some(cookie)).await;
        assert_eq!(page.status, StatusCode::OK, "{who}");
        let form = h.get("/connections/keys", Some(cookie)).await;
        assert_eq!(form.status, StatusCode::OK, "{who}");
    }
    let listed = h
        .api(Method::GET, "/api/servers", Some(&dev_token), None)
        .await;
    assert_eq!(listed.json()["servers"].as_array().unwrap().len(), 3);

    // The group may use the server again: the next page shows it, no restart.
    set_enabled(&h, &restricted, "keys", true).await;
    let list = h.get("/", Some(&mia_cookie)).await;
    assert!(list.text.contains("Keys"));
    let page = h.get("/servers/keys", Some(&mia_cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    let form = h
        .api(
            Method::GET,
            "/api/me/credentials/keys",
            Some(&mia_token),
            None,
        )
        .await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text);
}

#[tokio::test]
async fn moving_a_member_to_a_group_hides_its_disabled_servers_at_once() {
    let h = Harness::new().await;
    h.create_server(CRED_CONFIG, "keys").await;
    let (mia, mia_cookie, _) = user(&h, "mia@example.com", Role::Member).await;
    let locked = group_with(&h, "Locked", &[]).await;
    set_enabled(&h, &locked, "keys", false).await;
    assert_eq!(
        h.get("/servers/keys", Some(&mia_cookie)).await.status,
        StatusCode::OK
    );
    let reply = h
        .admin_api(
            Method::PUT,
            &format!("/api/groups/{locked}/members/{}", mia.id),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    assert_eq!(
        h.get("/servers/keys", Some(&mia_cookie)).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(!h.get("/", Some(&mia_cookie)).await.text.contains("Keys"));
}
