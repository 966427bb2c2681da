//! The audit trail (issue 12, item 4): every admin and developer action of the API and the
//! dashboard is recorded with its actor, target and client address; nothing is recorded for
//! refused actions; env var values never reach a record; any change to a stored record, and
//! records cut off the end, are found by the verifier; only admins read it (page, CSV, API).

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::dashboard::{admin, assert_forbidden, user};
use common::{Harness, NONE_CONFIG, Reply};
use gumstack_platform::store::{ClientKind, Grant, OAuthClient, Role, now};
use serde_json::{Value, json};
use uuid::Uuid;

/// The client address every request of these tests comes from (behind a trusted proxy).
const CLIENT: &str = "198.51.100.7";
const ENV_VALUE: &str = "env-value-that-must-never-be-audited-93f1";

/// A JSON API call from [`CLIENT`].
async fn api(h: &Harness, method: Method, uri: &str, token: &str, body: Option<Value>) -> Reply {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header("x-forwarded-for", CLIENT);
    let req = match body {
        Some(body) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => req.body(Body::empty()),
    };
    h.request(req.unwrap()).await
}

/// A dashboard form from [`CLIENT`].
async fn form(h: &Harness, uri: &str, cookie: &str, pairs: &[(&str, &str)]) -> Reply {
    h.form(uri, Some(cookie), pairs, &[("x-forwarded-for", CLIENT)])
        .await
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    action: String,
    actor: String,
    actor_id: Option<String>,
    target_kind: String,
    target: String,
    details: Value,
    source: Option<String>,
}

async fn rows(h: &Harness) -> Vec<Row> {
    use sqlx::Row as _;
    sqlx::query(
        "SELECT action, actor_label, actor_id, target_kind, target_label, details, source
         FROM audit_log ORDER BY seq",
    )
    .fetch_all(h.store.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| Row {
        action: r.get("action"),
        actor: r.get("actor_label"),
        actor_id: r.get("actor_id"),
        target_kind: r.get("target_kind"),
        target: r.get("target_label"),
        details: serde_json::from_str(r.get("details")).unwrap(),
        source: r.get("source"),
    })
    .collect()
}

/// Every column of every record as text (to grep for secrets).
async fn dump(h: &Harness) -> String {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT seq || '|' || at || '|' || COALESCE(actor_id, '') || '|' || actor_label || '|' ||
                action || '|' || target_kind || '|' || COALESCE(target_id, '') || '|' ||
                target_label || '|' || details || '|' || COALESCE(source, '')
         FROM audit_log ORDER BY seq",
    )
    .fetch_all(h.store.pool())
    .await
    .unwrap();
    rows.into_iter()
        .map(|(r,)| r)
        .collect::<Vec<_>>()
        .join("\n")
}

fn actions(rows: &[Row]) -> Vec<&str> {
    rows.iter().map(|r| r.action.as_str()).collect()
}

async fn assert_intact(h: &Harness) {
    let verification = h.platform.state.audit.verify().await.unwrap();
    assert_eq!(verification.broken, None);
}

async fn grant(h: &Harness, user: &gumstack_platform::store::User, server: &str) -> Uuid {
    let client_id = format!("client-{}", Uuid::new_v4());
    let store = &h.platform.state.store;
    store
        .upsert_oauth_client(&OAuthClient {
            client_id: client_id.clone(),
            kind: ClientKind::Dynamic,
            client_name: Some("Claude".into()),
            redirect_uris: vec!["http://127.0.0.1:9/callback".into()],
            auth_method: "none".into(),
            secret_hash: None,
            metadata_json: "{}".into(),
            created_at: now(),
            expires_at: now() + 3600,
        })
        .await
        .unwrap();
    let server = h.platform.state.servers.resolve(server).await.unwrap();
    let id = Uuid::new_v4();
    store
        .insert_grant(&Grant {
            id,
            user_id: user.id,
            client_id,
            server_id: server.id,
            resource: h.platform.state.urls.mcp_url(&server.slug),
            scope: None,
            created_at: now(),
            revoked_at: None,
        })
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn every_api_action_is_recorded_with_its_actor_target_and_address() {
    let h = Harness::behind_trusted_proxy().await;
    let t = h.admin_token.clone();
    let ok = |reply: &Reply| assert!(reply.status.is_success(), "{}", reply.text);

    let server = json!({ "config_yaml": NONE_CONFIG, "slug": "greeter", "runtime": { "command": "/bin/true" } });
    ok(&api(&h, Method::POST, "/api/servers", &t, Some(server)).await);
    ok(&api(
        &h,
        Method::PATCH,
        "/api/servers/greeter",
        &t,
        Some(json!({ "name": "Hello" })),
    )
    .await);
    ok(&api(&h, Method::POST, "/api/servers/greeter/disable", &t, None).await);
    ok(&api(&h, Method::POST, "/api/servers/greeter/enable", &t, None).await);
    ok(&api(
        &h,
        Method::PUT,
        "/api/servers/greeter/env/API_KEY",
        &t,
        Some(json!({ "value": ENV_VALUE })),
    )
    .await);
    ok(&api(
        &h,
        Method::DELETE,
        "/api/servers/greeter/env/API_KEY",
        &t,
        None,
    )
    .await);
    ok(&api(&h, Method::POST, "/api/servers/greeter/redeploy", &t, None).await);
    let created = api(
        &h,
        Method::POST,
        "/api/users",
        &t,
        Some(json!({ "email": "bob@example.com", "role": "member" })),
    )
    .await;
    ok(&created);
    let bob = created.json()["user"]["id"].as_str().unwrap().to_owned();
    ok(&api(
        &h,
        Method::PATCH,
        &format!("/api/users/{bob}"),
        &t,
        Some(json!({ "role": "developer" })),
    )
    .await);
    let group = api(
        &h,
        Method::POST,
        "/api/groups",
        &t,
        Some(json!({ "name": "Support" })),
    )
    .await;
    ok(&group);
    let group = group.json()["group"]["id"].as_str().unwrap().to_owned();
    ok(&api(
        &h,
        Method::PATCH,
        &format!("/api/groups/{group}"),
        &t,
        Some(json!({ "name": "Helpdesk" })),
    )
    .await);
    ok(&api(
        &h,
        Method::PUT,
        &format!("/api/groups/{group}/members/{bob}"),
        &t,
        None,
    )
    .await);
    let access = json!({ "enabled": true, "default": "allow", "tools": { "wipe": "deny" } });
    ok(&api(
        &h,
        Method::PUT,
        &format!("/api/groups/{group}/servers/greeter"),
        &t,
        Some(access),
    )
    .await);
    let bob_user = h
        .platform
        .state
        .store
        .user_by_email("bob@example.com")
        .await
        .unwrap();
    let bobs_token = h
        .platform
        .state
        .api_tokens
        .create(&bob_user, "bob's script", None)
        .await
        .unwrap();
    ok(&api(
        &h,
        Method::DELETE,
        &format!("/api/tokens/{}", bobs_token.record.id),
        &t,
        None,
    )
    .await);
    ok(&api(
        &h,
        Method::POST,
        &format!("/api/users/{bob}/disable"),
        &t,
        None,
    )
    .await);
    ok(&api(
        &h,
        Method::POST,
        &format!("/api/users/{bob}/enable"),
        &t,
        None,
    )
    .await);
    ok(&api(&h, Method::DELETE, &format!("/api/users/{bob}"), &t, None).await);
    ok(&api(
        &h,
        Method::DELETE,
        &format!("/api/groups/{group}"),
        &t,
        None,
    )
    .await);
    ok(&api(&h, Method::DELETE, "/api/servers/greeter", &t, None).await);

    let rows = rows(&h).await;
    assert_eq!(
        actions(&rows),
        [
            "server.created",
            "server.updated",
            "server.disabled",
            "server.enabled",
            "env_var.set",
            "env_var.deleted",
            "server.redeployed",
            "user.created",
            "user.role_changed",
            "group.created",
            "group.renamed",
            "user.group_changed",
            "group.access_changed",
            "api_token.revoked",
            "user.disabled",
            "user.enabled",
            "user.deleted",
            "group.deleted",
            "server.deleted",
        ]
    );
    for row in &rows {
        assert_eq!(row.actor, "admin@gumstack.local", "{row:?}");
        assert_eq!(
            row.actor_id.as_deref(),
            Some(h.admin.id.to_string().as_str())
        );
        assert_eq!(row.source.as_deref(), Some(CLIENT), "{row:?}");
    }
    let find = |action: &str| rows.iter().find(|r| r.action == action).unwrap().clone();
    assert_eq!(
        (
            find("server.created").target_kind.as_str(),
            find("server.created").target.as_str()
        ),
        ("server", "greeter")
    );
    assert_eq!(find("server.updated").details["fields"], json!(["name"]));
    assert_eq!(find("env_var.set").details["name"], "API_KEY");
    assert_eq!(find("env_var.deleted").details["name"], "API_KEY");
    assert_eq!(find("user.role_changed").target, "bob@example.com");
    assert_eq!(find("user.role_changed").details["role"], "developer");
    assert_eq!(find("group.renamed").target, "Helpdesk");
    assert_eq!(find("group.renamed").details["from"], "Support");
    assert_eq!(find("user.group_changed").details["group"], "Helpdesk");
    let access = find("group.access_changed");
    assert_eq!(access.details["server"], "greeter");
    assert_eq!(access.details["tools"], json!({ "wipe": "deny" }));
    assert_eq!(find("api_token.revoked").target, "bob's script");
    assert_eq!(
        find("api_token.revoked").details["owner"],
        "bob@example.com"
    );
    // A deleted user's records stay, with the email they had.
    assert_eq!(find("user.deleted").target, "bob@example.com");

    let everything = dump(&h).await;
    assert!(
        !everything.contains(ENV_VALUE),
        "an env value reached the audit trail"
    );
    assert_intact(&h).await;
}

#[tokio::test]
async fn every_dashboard_action_is_recorded_with_its_actor_target_and_address() {
    let h = Harness::behind_trusted_proxy().await;
    let (cookie, csrf) = admin(&h).await;
    let c = csrf.as_str();
    let see_other = |reply: &Reply| {
        assert!(
            reply.status == StatusCode::SEE_OTHER || reply.status.is_success(),
            "{} {}",
            reply.status,
            reply.text
        );
    };
    see_other(
        &form(
            &h,
            "/new",
            &cookie,
            &[
                ("csrf", c),
                ("config_yaml", NONE_CONFIG),
                ("command", "/bin/true"),
                ("args", ""),
                ("working_dir", ""),
                ("slug", "greeter"),
            ],
        )
        .await,
    );
    see_other(
        &form(
            &h,
            "/servers/greeter/settings",
            &cookie,
            &[
                ("csrf", c),
                ("name", "Hello"),
                ("description", "d"),
                ("icon", ""),
            ],
        )
        .await,
    );
    see_other(
        &form(
            &h,
            "/servers/greeter/env",
            &cookie,
            &[("csrf", c), ("name", "API_KEY"), ("value", ENV_VALUE)],
        )
        .await,
    );
    see_other(
        &form(
            &h,
            "/servers/greeter/env/API_KEY/delete",
            &cookie,
            &[("csrf", c)],
        )
        .await,
    );
    see_other(&form(&h, "/servers/greeter/redeploy", &cookie, &[("csrf", c)]).await);
    see_other(&form(&h, "/servers/greeter/disable", &cookie, &[("csrf", c)]).await);
    see_other(&form(&h, "/servers/greeter/enable", &cookie, &[("csrf", c)]).await);
    see_other(
        &form(
            &h,
            "/users",
            &cookie,
            &[
                ("csrf", c),
                ("email", "carol@example.com"),
                ("role", "member"),
                ("password", ""),
            ],
        )
        .await,
    );
    let carol = h
        .platform
        .state
        .store
        .user_by_email("carol@example.com")
        .await
        .unwrap();
    see_other(
        &form(
            &h,
            &format!("/users/{}/role", carol.id),
            &cookie,
            &[("csrf", c), ("role", "developer")],
        )
        .await,
    );
    see_other(
        &form(
            &h,
            &format!("/users/{}/password", carol.id),
            &cookie,
            &[("csrf", c), ("password", "")],
        )
        .await,
    );
    see_other(&form(&h, "/groups", &cookie, &[("csrf", c), ("name", "Support")]).await);
    let groups = h.platform.state.store.list_groups().await.unwrap();
    let group = groups
        .iter()
        .find(|g| g.group.name == "Support")
        .unwrap()
        .group
        .id;
    see_other(
        &form(
            &h,
            &format!("/groups/{group}/rename"),
            &cookie,
            &[("csrf", c), ("name", "Helpdesk")],
        )
        .await,
    );
    see_other(
        &form(
            &h,
            &format!("/groups/{group}/members"),
            &cookie,
            &[("csrf", c), ("user", &carol.id.to_string())],
        )
        .await,
    );
    see_other(
        &form(
            &h,
            &format!("/groups/{group}/servers/greeter"),
            &cookie,
            &[
                ("csrf", c),
                ("enabled", "on"),
                ("default", "allow"),
                ("tools", "wipe"),
            ],
        )
        .await,
    );
    see_other(
        &form(
            &h,
            "/tokens",
            &cookie,
            &[("csrf", c), ("name", "deploy script"), ("days", "")],
        )
        .await,
    );
    let token = h
        .platform
        .state
        .api_tokens
        .list(Some(h.admin.id))
        .await
        .unwrap();
    let token = token.iter().find(|t| t.name == "deploy script").unwrap().id;
    see_other(
        &form(
            &h,
            &format!("/tokens/{token}/revoke"),
            &cookie,
            &[("csrf", c)],
        )
        .await,
    );
    let grant = grant(&h, &h.admin, "greeter").await;
    see_other(
        &form(
            &h,
            &format!("/clients/{grant}/revoke"),
            &cookie,
            &[("csrf", c)],
        )
        .await,
    );
    see_other(
        &form(
            &h,
            &format!("/users/{}/disable", carol.id),
            &cookie,
            &[("csrf", c)],
        )
        .await,
    );
    see_other(
        &form(
            &h,
            &format!("/users/{}/enable", carol.id),
            &cookie,
            &[("csrf", c)],
        )
        .await,
    );
    see_other(
        &form(
            &h,
            &format!("/users/{}/delete", carol.id),
            &cookie,
            &[("csrf", c), ("confirm", "carol@example.com")],
        )
        .await,
    );
    see_other(
        &form(
            &h,
            &format!("/groups/{group}/delete"),
            &cookie,
            &[("csrf", c)],
        )
        .await,
    );
    see_other(
        &form(
            &h,
            "/servers/greeter/delete",
            &cookie,
            &[("csrf", c), ("confirm", "greeter")],
        )
        .await,
    );

    let rows = rows(&h).await;
    assert_eq!(
        actions(&rows),
        [
            "server.created",
            "server.updated",
            "env_var.set",
            "env_var.deleted",
            "server.redeployed",
            "server.disabled",
            "server.enabled",
            "user.created",
            "user.role_changed",
            "user.password_reset",
            "group.created",
            "group.renamed",
            "user.group_changed",
            "group.access_changed",
            "api_token.created",
            "api_token.revoked",
            "client.revoked",
            "user.disabled",
            "user.enabled",
            "user.deleted",
            "group.deleted",
            "server.deleted",
        ]
    );
    for row in &rows {
        assert_eq!(row.actor, "admin@gumstack.local", "{row:?}");
        assert_eq!(row.source.as_deref(), Some(CLIENT), "{row:?}");
    }
    let client = rows.iter().find(|r| r.action == "client.revoked").unwrap();
    assert_eq!(client.target_kind, "client");
    assert!(client.target.starts_with("client-"), "{client:?}");
    let password = rows
        .iter()
        .find(|r| r.action == "user.password_reset")
        .unwrap();
    assert_eq!(password.target, "carol@example.com");
    assert_eq!(password.details, json!({ "generated": true }));
    assert!(!dump(&h).await.contains(ENV_VALUE));
    assert_intact(&h).await;
}

#[tokio::test]
async fn a_refused_or_invalid_action_records_nothing() {
    let h = Harness::behind_trusted_proxy().await;
    h.create_server(NONE_CONFIG, "greeter").await;
    let before = rows(&h).await.len();
    let t = h.admin_token.clone();
    // Invalid input.
    let bad = api(
        &h,
        Method::PUT,
        "/api/servers/greeter/env/1BAD",
        &t,
        Some(json!({ "value": "x" })),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    let bad = api(
        &h,
        Method::POST,
        "/api/users",
        &t,
        Some(json!({ "email": "not an email", "role": "member" })),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    let missing = api(&h, Method::POST, "/api/servers/nope/disable", &t, None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // A member may not.
    let (_, member_token) = h.user_with_token("mia@example.com", Role::Member).await;
    let refused = api(
        &h,
        Method::POST,
        "/api/servers/greeter/disable",
        &member_token,
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let (_, cookie, csrf) = user(&h, "max@example.com", Role::Member).await;
    assert_forbidden(&form(&h, "/servers/greeter/disable", &cookie, &[("csrf", &csrf)]).await);
    // A forged form (no CSRF token).
    let (admin_cookie, _) = admin(&h).await;
    let forged = form(&h, "/servers/greeter/disable", &admin_cookie, &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(rows(&h).await.len(), before);
}

#[tokio::test]
async fn only_admins_read_the_audit_trail() {
    let h = Harness::new().await;
    h.create_server(NONE_CONFIG, "greeter").await;
    for role in [Role::Member, Role::Developer] {
        let email = format!("{}@example.com", role.as_str());
        let (_, token) = h.user_with_token(&email, role).await;
        let (cookie, _) = h
            .session_for(&h.platform.state.store.user_by_email(&email).await.unwrap())
            .await;
        let page = h.get("/audit", Some(&cookie)).await;
        assert_forbidden(&page);
        assert!(!page.text.contains("server.created"));
        let csv = h.get("/audit.csv", Some(&cookie)).await;
        assert_forbidden(&csv);
        assert!(!csv.text.contains("greeter"));
        let json = h.api(Method::GET, "/api/audit", Some(&token), None).await;
        json.assert_error(StatusCode::FORBIDDEN, "forbidden", "audit");
        // No link to the page in their navigation.
        let home = h.get("/", Some(&cookie)).await;
        assert!(!home.text.contains("href=\"/audit\""), "{role:?}");
    }
    assert_eq!(h.get("/audit", None).await.status, StatusCode::SEE_OTHER);
    h.api(Method::GET, "/api/audit", None, None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthenticated", "");

    let (cookie, _) = admin(&h).await;
    let page = h.get("/audit", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("server.created") && page.text.contains("greeter"));
    assert!(page.text.contains("href=\"/audit\""));
    let json = h.admin_api(Method::GET, "/api/audit", None).await;
    assert_eq!(json.status, StatusCode::OK, "{}", json.text);
    assert_eq!(json.json()["records"][0]["action"], "server.created");
}

#[tokio::test]
async fn filters_and_pages_and_bad_filters_get_a_clear_400() {
    let h = Harness::new().await;
    for slug in ["one", "two", "three"] {
        h.create_server(NONE_CONFIG, slug).await;
    }
    h.admin_api(Method::POST, "/api/servers/two/disable", None)
        .await;

    // Keyset pages of 2, newest first.
    let first = h
        .admin_api(Method::GET, "/api/audit?limit=2", None)
        .await
        .json();
    let labels = |page: &Value| -> Vec<String> {
        page["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r["action"].as_str().unwrap(),
                    r["target"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(
        labels(&first),
        ["server.disabled two", "server.created three"]
    );
    let next = first["next_before"].as_i64().unwrap();
    let second = h
        .admin_api(
            Method::GET,
            &format!("/api/audit?limit=2&before={next}"),
            None,
        )
        .await
        .json();
    assert_eq!(
        labels(&second),
        ["server.created two", "server.created one"]
    );
    assert!(second["next_before"].is_null());

    let only = h
        .admin_api(
            Method::GET,
            "/api/audit?action=server.disabled&target=server&actor=admin%40gumstack.local",
            None,
        )
        .await
        .json();
    assert_eq!(labels(&only), ["server.disabled two"]);
    let by_id = h
        .admin_api(
            Method::GET,
            &format!("/api/audit?actor={}", h.admin.id),
            None,
        )
        .await
        .json();
    assert_eq!(by_id["records"].as_array().unwrap().len(), 4);
    let nobody = h
        .admin_api(Method::GET, "/api/audit?actor=cli%20(operator)", None)
        .await
        .json();
    assert!(nobody["records"].as_array().unwrap().is_empty());
    let today = time::OffsetDateTime::now_utc().date();
    let range = h
        .admin_api(
            Method::GET,
            &format!("/api/audit?from={today}&to={today}"),
            None,
        )
        .await
        .json();
    assert_eq!(range["records"].as_array().unwrap().len(), 4);
    let past = h
        .admin_api(Method::GET, "/api/audit?to=2020-01-01", None)
        .await
        .json();
    assert!(past["records"].as_array().unwrap().is_empty());

    for (query, fragment) in [
        ("action=server.exploded", "unknown action"),
        ("target=planet", "unknown target kind"),
        ("from=yesterday", "not a date"),
        ("from=2026-02-01&to=2026-01-01", "ends before it starts"),
        ("limit=0", "1 to 500"),
        ("before=abc", "not a record number"),
    ] {
        h.admin_api(Method::GET, &format!("/api/audit?{query}"), None)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_filter", fragment);
    }
    let (cookie, _) = admin(&h).await;
    let page = h.get("/audit?action=server.exploded", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.text.contains("unknown action"), "{}", page.text);
    let csv = h.get("/audit.csv?from=yesterday", Some(&cookie)).await;
    assert_eq!(csv.status, StatusCode::BAD_REQUEST);

    // The page pages too, and keeps the filters in its links.
    let page = h
        .get("/audit?action=server.created&limit=2", Some(&cookie))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Older records"), "{}", page.text);
    assert!(
        page.text.contains("/audit.csv?action=server.created"),
        "{}",
        page.text
    );
}

#[tokio::test]
async fn the_csv_export_has_every_row_and_neutralises_formulas() {
    let h = Harness::new().await;
    h.create_server(NONE_CONFIG, "greeter").await;
    for name in [
        "=HYPERLINK(\"http://evil\",\"x\")",
        "+1+2",
        "-3",
        "@SUM(A1)",
        "plain, \"quoted\"",
    ] {
        let reply = h
            .admin_api(Method::POST, "/api/groups", Some(json!({ "name": name })))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    }
    let (cookie, _) = admin(&h).await;
    let csv = h.get("/audit.csv", Some(&cookie)).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        csv.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("audit.csv")
    );
    let lines: Vec<&str> = csv.text.lines().collect();
    assert!(
        lines[0].starts_with("seq,time,actor,actor_id,action"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 1 + 6, "{}", csv.text);
    assert!(
        csv.text
            .contains(",\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\","),
        "{}",
        csv.text
    );
    assert!(csv.text.contains(",'+1+2,"));
    assert!(csv.text.contains(",'-3,"));
    assert!(csv.text.contains(",'@SUM(A1),"));
    assert!(csv.text.contains(",\"plain, \"\"quoted\"\"\","));
    assert!(csv.text.contains("server.created"));
    // No cell starts with a formula character.
    for line in &lines[1..] {
        for cell in line.split(',') {
            let cell = cell.trim_start_matches('"');
            assert!(!cell.starts_with(['=', '+', '@']), "{line}");
        }
    }
    // Filters apply to the export.
    let only = h
        .get("/audit.csv?action=server.created", Some(&cookie))
        .await;
    assert_eq!(only.text.lines().count(), 2, "{}", only.text);
}

#[tokio::test]
async fn the_log_is_append_only_in_the_database() {
    let h = Harness::new().await;
    h.create_server(NONE_CONFIG, "greeter").await;
    let pool = h.store.pool();
    let update = sqlx::query("UPDATE audit_log SET actor_label = 'someone else'")
        .execute(pool)
        .await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = sqlx::query("DELETE FROM audit_log").execute(pool).await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    assert_intact(&h).await;
}

/// Changes one column of one row behind the triggers' back (as someone with the file would).
async fn tamper(h: &Harness, sql: &str) {
    let pool = h.store.pool();
    sqlx::query("DROP TRIGGER IF EXISTS audit_log_no_update")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("DROP TRIGGER IF EXISTS audit_log_no_delete")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(sql).execute(pool).await.unwrap();
}

#[tokio::test]
async fn any_altered_column_of_any_row_is_found_and_named() {
    let h = Harness::new().await;
    for slug in ["one", "two", "three", "four"] {
        h.create_server(NONE_CONFIG, slug).await;
    }
    assert_intact(&h).await;
    let columns = [
        ("at", "at + 1"),
        ("actor_id", "'00000000-0000-0000-0000-000000000000'"),
        ("actor_label", "'someone@else'"),
        ("action", "'server.deleted'"),
        ("target_kind", "'user'"),
        ("target_id", "'x'"),
        ("target_label", "'other'"),
        ("details", "'{}'"),
        ("source", "'203.0.113.1'"),
        (
            "prev_hash",
            "(CASE WHEN substr(prev_hash, 1, 2) = 'ff' THEN '00' ELSE 'ff' END) || substr(prev_hash, 3)",
        ),
        (
            "hash",
            "(CASE WHEN substr(hash, 1, 2) = 'ff' THEN '00' ELSE 'ff' END) || substr(hash, 3)",
        ),
    ];
    for row in [1, 3, 4] {
        for (column, value) in columns {
            let original: (Option<String>,) = sqlx::query_as(&format!(
                "SELECT CAST({column} AS TEXT) FROM audit_log WHERE seq = ?"
            ))
            .bind(row)
            .fetch_one(h.store.pool())
            .await
            .unwrap();
            tamper(
                &h,
                &format!("UPDATE audit_log SET {column} = {value} WHERE seq = {row}"),
            )
            .await;
            let broken = h
                .platform
                .state
                .audit
                .verify()
                .await
                .unwrap()
                .broken
                .unwrap();
            assert_eq!(broken.seq, Some(row), "{column} of record {row}: {broken}");
            let restore = if column == "at" {
                format!("UPDATE audit_log SET at = at - 1 WHERE seq = {row}")
            } else {
                format!("UPDATE audit_log SET {column} = ? WHERE seq = {row}")
            };
            sqlx::query(&restore)
                .bind(original.0)
                .execute(h.store.pool())
                .await
                .unwrap();
            assert_intact(&h).await;
        }
    }
    // A renumbered record is named by the number it now has.
    tamper(&h, "UPDATE audit_log SET seq = 40 WHERE seq = 2").await;
    let broken = h
        .platform
        .state
        .audit
        .verify()
        .await
        .unwrap()
        .broken
        .unwrap();
    assert_eq!(broken.seq, Some(40), "{broken}");
}

#[tokio::test]
async fn records_cut_off_the_end_or_the_middle_are_found() {
    let h = Harness::new().await;
    for slug in ["one", "two", "three"] {
        h.create_server(NONE_CONFIG, slug).await;
    }
    tamper(&h, "DELETE FROM audit_log WHERE seq = 2").await;
    let broken = h
        .platform
        .state
        .audit
        .verify()
        .await
        .unwrap()
        .broken
        .unwrap();
    assert_eq!(broken.seq, Some(3), "{broken}");
    assert!(broken.reason.contains("record 2 was expected"), "{broken}");

    let h = Harness::new().await;
    for slug in ["one", "two", "three"] {
        h.create_server(NONE_CONFIG, slug).await;
    }
    tamper(&h, "DELETE FROM audit_log WHERE seq = 3").await;
    let verification = h.platform.state.audit.verify().await.unwrap();
    assert_eq!(verification.records, 2);
    let broken = verification.broken.unwrap();
    assert_eq!(broken.seq, Some(3), "{broken}");
    assert!(broken.reason.contains("head counts 3"), "{broken}");
    // Moving the head back too is found by its MAC (the attacker does not have the key).
    tamper(
        &h,
        "UPDATE audit_head SET count = 2, last_hash = (SELECT hash FROM audit_log WHERE seq = 2)",
    )
    .await;
    let broken = h
        .platform
        .state
        .audit
        .verify()
        .await
        .unwrap()
        .broken
        .unwrap();
    assert_eq!(broken.seq, None, "{broken}");
}

#[tokio::test]
async fn concurrent_appends_keep_one_chain() {
    let h = Harness::new().await;
    let trail = h.platform.state.audit.clone();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let trail = trail.clone();
        tasks.push(tokio::spawn(async move {
            let event = gumstack_platform::audit::AuditEvent::new(
                gumstack_platform::audit::AuditAction::ServerRedeployed,
                gumstack_platform::audit::Target::new(
                    gumstack_platform::audit::TargetKind::Server,
                    i,
                    format!("s{i}"),
                ),
            );
            trail
                .record(&gumstack_platform::audit::Actor::Operator, None, event)
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let verification = trail.verify().await.unwrap();
    assert_eq!((verification.records, verification.broken), (20, None));
}

#[tokio::test]
async fn maintainers_added_and_removed_are_recorded() {
    let h = Harness::behind_trusted_proxy().await;
    h.create_server(NONE_CONFIG, "greeter").await;
    let (dev, _) = h.user_with_token("dev@example.com", Role::Developer).await;
    let t = h.admin_token.clone();
    let added = api(
        &h,
        Method::POST,
        "/api/servers/greeter/maintainers",
        &t,
        Some(json!({ "email": "dev@example.com" })),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let removed = api(
        &h,
        Method::DELETE,
        &format!("/api/servers/greeter/maintainers/{}", dev.id),
        &t,
        None,
    )
    .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.text);
    // Removing again fails and records nothing.
    let again = api(
        &h,
        Method::DELETE,
        &format!("/api/servers/greeter/maintainers/{}", dev.id),
        &t,
        None,
    )
    .await;
    assert!(again.status.is_client_error());
    let rows = rows(&h).await;
    assert_eq!(
        actions(&rows),
        [
            "server.created",
            "server.maintainer_added",
            "server.maintainer_removed"
        ]
    );
    for row in &rows[1..] {
        assert_eq!(row.target, "greeter");
        assert_eq!(row.details["maintainer"], "dev@example.com");
        assert_eq!(row.source.as_deref(), Some(CLIENT));
    }
}
