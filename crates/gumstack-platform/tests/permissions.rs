//! Permission groups through the JSON API: groups and members, what a group may do with a
//! server, and the gateway refusing a server to a group that may not use it — from the next
//! call, without a restart. (Per-tool decisions at the gateway are shown end to end with a
//! hosted server in `gumstackd`'s tests.)

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{Harness, NONE_CONFIG};
use gumstack_platform::oauth::tokens::issue_access_token;
use gumstack_platform::store::{Grant, Role, Uuid, now};
use serde_json::{Value, json};

async fn groups(h: &Harness) -> Vec<Value> {
    let reply = h.admin_api(Method::GET, "/api/groups", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json()["groups"].as_array().unwrap().clone()
}

async fn create_group(h: &Harness, name: &str) -> String {
    let reply = h
        .admin_api(Method::POST, "/api/groups", Some(json!({ "name": name })))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.json()["group"]["id"].as_str().unwrap().to_owned()
}

async fn group_of(h: &Harness, user: Uuid) -> Uuid {
    h.platform
        .state
        .store
        .user_by_id(user)
        .await
        .unwrap()
        .group_id
}

#[tokio::test]
async fn admins_create_rename_and_delete_groups_and_move_members() {
    let h = Harness::new().await;
    let initial = groups(&h).await;
    assert_eq!(initial.len(), 1);
    assert_eq!(initial[0]["default"], true);
    let default_id = initial[0]["id"].as_str().unwrap().to_owned();

    let support = create_group(&h, "  Support ").await;
    let (member, _) = h.user_with_token("m@example.com", Role::Member).await;
    let reply = h
        .admin_api(
            Method::PUT,
            &format!("/api/groups/{support}/members/{}", member.id),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    assert_eq!(group_of(&h, member.id).await.to_string(), support);

    let listed = groups(&h).await;
    let names: Vec<&str> = listed.iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Default", "Support"], "trimmed, default first");
    assert_eq!(listed[1]["members"], 1);

    let reply = h
        .admin_api(
            Method::PATCH,
            &format!("/api/groups/{support}"),
            Some(json!({ "name": "Helpdesk" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["group"]["name"], "Helpdesk");

    // Deleting a group moves its members to the default group.
    let reply = h
        .admin_api(Method::DELETE, &format!("/api/groups/{support}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    assert_eq!(group_of(&h, member.id).await.to_string(), default_id);
    assert_eq!(groups(&h).await.len(), 1);
}

#[tokio::test]
async fn bad_group_requests_get_clear_errors_and_change_nothing() {
    let h = Harness::new().await;
    let default_id = groups(&h).await[0]["id"].as_str().unwrap().to_owned();
    let ops = create_group(&h, "Ops").await;

    let reply = h
        .admin_api(Method::POST, "/api/groups", Some(json!({ "name": "ops" })))
        .await;
    // Names compare exactly; a different case is a different group name.
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let reply = h
        .admin_api(Method::POST, "/api/groups", Some(json!({ "name": "Ops" })))
        .await;
    reply.assert_error(StatusCode::CONFLICT, "group_name_taken", "`Ops`");
    for name in ["", "   ", &"x".repeat(101), "a\u{7}b"] {
        let reply = h
            .admin_api(Method::POST, "/api/groups", Some(json!({ "name": name })))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{name:?}: {}",
            reply.text
        );
    }
    let reply = h
        .admin_api(Method::DELETE, &format!("/api/groups/{default_id}"), None)
        .await;
    reply.assert_error(StatusCode::CONFLICT, "default_group", "cannot be deleted");

    let unknown = Uuid::new_v4();
    let reply = h
        .admin_api(Method::DELETE, &format!("/api/groups/{unknown}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
    let reply = h
        .admin_api(
            Method::PUT,
            &format!("/api/groups/{ops}/members/{unknown}"),
            None,
        )
        .await;
    reply.assert_error(StatusCode::NOT_FOUND, "not_found", "no user");
    let reply = h
        .admin_api(
            Method::PUT,
            &format!("/api/groups/not-a-uuid/members/{unknown}"),
            None,
        )
        .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_id", "not a group id");
    assert_eq!(groups(&h).await.len(), 3, "Default, Ops, ops");

    // Members and developers may not manage groups.
    for role in [Role::Member, Role::Developer] {
        let (_, token) = h
            .user_with_token(&format!("{}@example.com", role.as_str()), role)
            .await;
        let reply = h
            .api(
                Method::POST,
                "/api/groups",
                Some(&token),
                Some(json!({ "name": "Mine" })),
            )
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
        let reply = h
            .api(
                Method::DELETE,
                &format!("/api/groups/{ops}"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    }
    assert_eq!(groups(&h).await.len(), 3);
}

#[tokio::test]
async fn a_groups_access_to_a_server_is_read_and_replaced_whole() {
    let h = Harness::new().await;
    h.create_server(NONE_CONFIG, "alpha").await;
    let ops = create_group(&h, "Ops").await;
    let uri = format!("/api/groups/{ops}/servers/alpha");

    let reply = h.admin_api(Method::GET, &uri, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.json()["access"],
        json!({ "enabled": true, "default": "allow", "tools": {} }),
        "without a decision a group may use everything"
    );

    let wanted = json!({
        "enabled": true,
        "default": "deny",
        "tools": { "greet": "allow", "delete_everything": "deny" }
    });
    let reply = h.admin_api(Method::PUT, &uri, Some(wanted.clone())).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        h.admin_api(Method::GET, &uri, None).await.json()["access"],
        wanted
    );

    let narrower = json!({ "enabled": false, "default": "allow", "tools": {} });
    h.admin_api(Method::PUT, &uri, Some(narrower.clone())).await;
    assert_eq!(
        h.admin_api(Method::GET, &uri, None).await.json()["access"],
        narrower,
        "a PUT replaces the tools too"
    );

    // Bad input: nothing changes.
    for (body, status) in [
        (
            json!({ "enabled": true, "default": "maybe" }),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({ "enabled": true, "default": "allow", "tools": { "": "deny" } }),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({ "enabled": true, "default": "allow", "tools": { "two words": "deny" } }),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({ "enabled": true, "default": "allow", "extra": 1 }),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let reply = h.admin_api(Method::PUT, &uri, Some(body.clone())).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.text);
    }
    let reply = h
        .admin_api(
            Method::PUT,
            &format!("/api/groups/{ops}/servers/nope"),
            Some(narrower.clone()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
    let reply = h
        .admin_api(
            Method::PUT,
            &format!("/api/groups/{}/servers/alpha", Uuid::new_v4()),
            Some(narrower.clone()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
    assert_eq!(
        h.admin_api(Method::GET, &uri, None).await.json()["access"],
        narrower
    );
}

/// An access token for `user` on `slug`.
async fn token_on(h: &Harness, user: Uuid, slug: &str) -> String {
    let server = h.platform.state.servers.resolve(slug).await.unwrap();
    let grant = Grant {
        id: Uuid::new_v4(),
        user_id: user,
        client_id: "test-client".into(),
        server_id: server.id,
        resource: h.platform.state.urls.mcp_url(slug),
        scope: None,
        created_at: now(),
        revoked_at: None,
    };
    h.platform.state.store.insert_grant(&grant).await.unwrap();
    issue_access_token(
        &h.platform.state.keys,
        &h.platform.state.urls.base(),
        &grant,
        h.platform.state.clock.now(),
    )
}

async fn call(h: &Harness, slug: &str, token: &str) -> common::Reply {
    let req = Request::post(format!("/mcp/{slug}"))
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string(),
        ))
        .unwrap();
    h.request(req).await
}

#[tokio::test]
async fn a_server_disabled_for_a_group_is_refused_to_its_members_from_the_next_call() {
    let h = Harness::new().await;
    h.create_server(NONE_CONFIG, "alpha").await;
    let ops = create_group(&h, "Ops").await;
    let (member, _) = h.user_with_token("m@example.com", Role::Member).await;
    let (other, _) = h.user_with_token("o@example.com", Role::Member).await;
    h.admin_api(
        Method::PUT,
        &format!("/api/groups/{ops}/members/{}", member.id),
        None,
    )
    .await;
    let token = token_on(&h, member.id, "alpha").await;
    let other_token = token_on(&h, other.id, "alpha").await;

    // Allowed: the call passes the permission check (the harness runs no server process, so
    // it ends at "not running").
    let before = call(&h, "alpha", &token).await;
    assert_eq!(
        before.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        before.text
    );

    let disable = json!({ "enabled": false, "default": "allow", "tools": {} });
    h.admin_api(
        Method::PUT,
        &format!("/api/groups/{ops}/servers/alpha"),
        Some(disable),
    )
    .await;
    let refused = call(&h, "alpha", &token).await;
    refused.assert_error(
        StatusCode::FORBIDDEN,
        "forbidden",
        "your group may not use this server",
    );
    // Another group is not affected.
    assert_eq!(
        call(&h, "alpha", &other_token).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );

    // Moving the member out of the group applies at once too.
    let default_id = groups(&h).await[0]["id"].as_str().unwrap().to_owned();
    h.admin_api(
        Method::PUT,
        &format!("/api/groups/{default_id}/members/{}", member.id),
        None,
    )
    .await;
    assert_eq!(
        call(&h, "alpha", &token).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}
