//! Who may do what on the dashboard, in-process: members get 403 pages and their admin forms
//! change nothing, developers manage servers but not users, admins manage users, and every user
//! sees and revokes only their own MCP clients. Forms without or with a stale CSRF token change
//! nothing.

mod common;

use axum::http::StatusCode;
use common::dashboard::{admin, assert_forbidden, assert_redirect, servers, user};
use common::{Harness, NONE_CONFIG};
use gumstack_platform::store::{ClientKind, Grant, OAuthClient, Role, User, Uuid, now};

#[tokio::test]
async fn members_get_403_on_admin_pages_and_their_admin_posts_change_nothing() {
    let h = Harness::new().await;
    h.create_server(NONE_CONFIG, "greeter").await;
    h.platform
        .state
        .servers
        .set_env("greeter", "KEEP", &"original".to_owned().into())
        .await
        .unwrap();
    let (member, cookie, csrf) = user(&h, "member@example.com", Role::Member).await;

    for page in [
        "/new",
        "/servers/greeter/settings",
        "/servers/greeter/delete",
        "/users",
    ] {
        let reply = h.get(page, Some(&cookie)).await;
        assert_forbidden(&reply);
        assert!(reply.text.contains("Your role (member)"), "{page}");
    }
    // Members still see the servers and a server's overview, without the Settings tab.
    let overview = h.get("/servers/greeter", Some(&cookie)).await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(!overview.text.contains("/servers/greeter/settings"));
    let home = h.get("/", Some(&cookie)).await;
    assert!(!home.text.contains("href=\"/new\""), "no create link");
    assert!(!home.text.contains("href=\"/users\""), "no users link");

    let posts: [(&str, Vec<(&str, &str)>); 9] = [
        (
            "/new",
            vec![("config_yaml", NONE_CONFIG), ("command", "/bin/true")],
        ),
        ("/servers/greeter/settings", vec![("name", "Hijacked")]),
        (
            "/servers/greeter/env",
            vec![("name", "KEEP"), ("value", "evil")],
        ),
        ("/servers/greeter/env/KEEP/delete", vec![]),
        ("/servers/greeter/disable", vec![]),
        ("/servers/greeter/redeploy", vec![]),
        ("/servers/greeter/delete", vec![("confirm", "greeter")]),
        (
            "/users",
            vec![("email", "x@example.com"), ("role", "admin")],
        ),
        ("/users/{me}/role", vec![("role", "admin")]),
    ];
    let before_users = h.count("SELECT COUNT(*) FROM users").await;
    for (path, fields) in posts {
        let path = path.replace("{me}", &member.id.to_string());
        let mut pairs = vec![("csrf", csrf.as_str())];
        pairs.extend(fields);
        let reply = h.form(&path, Some(&cookie), &pairs, &[]).await;
        assert_forbidden(&reply);
    }
    let server = h.platform.state.servers.resolve("greeter").await.unwrap();
    assert_eq!(server.name, "Greeter");
    assert!(server.enabled);
    assert_eq!(server.deploy_generation, 1);
    assert_eq!(servers(&h).await, 1);
    assert_eq!(h.count("SELECT COUNT(*) FROM users").await, before_users);
    let me = h.platform.state.store.user_by_id(member.id).await.unwrap();
    assert_eq!(me.role, Role::Member);
    let env = h.platform.state.servers.list_env("greeter").await.unwrap();
    assert_eq!(env.len(), 1);

    // Developers manage the servers they own or maintain (not the admin's greeter until they
    // are made its maintainer), but not users.
    let (_, dev_cookie, _) = user(&h, "dev@example.com", Role::Developer).await;
    assert_forbidden(&h.get("/servers/greeter/settings", Some(&dev_cookie)).await);
    let greeter = h.platform.state.servers.resolve("greeter").await.unwrap();
    h.platform
        .state
        .servers
        .add_maintainer(&greeter, "dev@example.com", Some(h.admin.id))
        .await
        .unwrap();
    assert_eq!(
        h.get("/servers/greeter/settings", Some(&dev_cookie))
            .await
            .status,
        StatusCode::OK
    );
    assert_forbidden(&h.get("/users", Some(&dev_cookie)).await);
}

#[tokio::test]
async fn admins_add_users_change_roles_and_reset_passwords() {
    let h = Harness::new().await;
    let (cookie, csrf) = admin(&h).await;
    let page = h.get("/users", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains(&h.admin.email));
    for label in ["for=\"email\"", "for=\"role\"", "for=\"password\""] {
        assert!(page.text.contains(label), "{label}");
    }

    let users = || h.count("SELECT COUNT(*) FROM users");
    let before = users().await;
    let stale = h
        .form(
            "/users",
            Some(&cookie),
            &[
                ("csrf", "stale"),
                ("email", "ada@example.com"),
                ("role", "member"),
            ],
            &[],
        )
        .await;
    assert_forbidden(&stale);
    // A weak password: refused, the email and role kept, the password not echoed.
    let weak = h
        .form(
            "/users",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("email", "ada@example.com"),
                ("role", "developer"),
                ("password", "short-pw"),
            ],
            &[],
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(weak.text.contains("at least 12 characters"));
    assert!(weak.text.contains("value=\"ada@example.com\""));
    assert!(weak.text.contains("value=\"developer\" selected"));
    assert!(!weak.text.contains("short-pw"));
    let no_email = h
        .form(
            "/users",
            Some(&cookie),
            &[("csrf", &csrf), ("email", ""), ("role", "member")],
            &[],
        )
        .await;
    assert_eq!(no_email.status, StatusCode::BAD_REQUEST);
    assert_eq!(users().await, before);

    // A generated password is shown once.
    let created = h
        .form(
            "/users",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("email", "<b>ada</b>@example.com"),
                ("role", "member"),
                ("password", ""),
            ],
            &[],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert!(created.text.contains("shown only this once"));
    assert!(created.text.contains("&lt;b&gt;ada&lt;/b&gt;@example.com"));
    assert!(!created.text.contains("<b>ada</b>"));
    let marker = "<code class=\"secret\">";
    let start = created.text.find(marker).unwrap() + marker.len();
    let password = created.text[start..].split('<').next().unwrap().to_owned();
    let ada = h
        .platform
        .state
        .accounts
        .authenticate("<b>ada</b>@example.com", password.clone().into())
        .await
        .unwrap()
        .expect("the shown password works");
    assert!(
        !h.get("/users", Some(&cookie))
            .await
            .text
            .contains(&password)
    );
    // A password the admin sets.
    let set = h
        .form(
            "/users",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("email", "bob@example.com"),
                ("role", "developer"),
                ("password", "a long enough password"),
            ],
            &[],
        )
        .await;
    assert_eq!(set.status, StatusCode::CREATED);
    assert!(!set.text.contains("a long enough password"));
    let duplicate = h
        .form(
            "/users",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("email", "BOB@example.com"),
                ("role", "member"),
            ],
            &[],
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);

    // Roles.
    let promote = h
        .form(
            &format!("/users/{}/role", ada.id),
            Some(&cookie),
            &[("csrf", &csrf), ("role", "admin")],
            &[],
        )
        .await;
    assert_redirect(&promote, "/users?done=role");
    let bad_role = h
        .form(
            &format!("/users/{}/role", ada.id),
            Some(&cookie),
            &[("csrf", &csrf), ("role", "owner")],
            &[],
        )
        .await;
    assert_eq!(bad_role.status, StatusCode::BAD_REQUEST);
    let ada_now = h.platform.state.store.user_by_id(ada.id).await.unwrap();
    assert_eq!(ada_now.role, Role::Admin);
    // Demote ada again; then the first admin is the only one and cannot stop being admin.
    h.form(
        &format!("/users/{}/role", ada.id),
        Some(&cookie),
        &[("csrf", &csrf), ("role", "member")],
        &[],
    )
    .await;
    let last = h
        .form(
            &format!("/users/{}/role", h.admin.id),
            Some(&cookie),
            &[("csrf", &csrf), ("role", "member")],
            &[],
        )
        .await;
    assert_eq!(last.status, StatusCode::CONFLICT);
    assert!(last.text.contains("only admin"));
    let admin_now = h.platform.state.store.user_by_id(h.admin.id).await.unwrap();
    assert_eq!(admin_now.role, Role::Admin);

    // Password resets: generated (shown once) and set; the old password stops working.
    let (ada_cookie, _) = h.session_for(&ada).await;
    let reset = h
        .form(
            &format!("/users/{}/password", ada.id),
            Some(&cookie),
            &[("csrf", &csrf), ("password", "")],
            &[],
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    assert!(reset.text.contains("shown only this once"));
    assert!(
        h.platform
            .state
            .accounts
            .authenticate(&ada.email, password.into())
            .await
            .unwrap()
            .is_none()
    );
    let signed_out = h.get("/", Some(&ada_cookie)).await;
    assert_redirect(&signed_out, "/login");
    let weak_reset = h
        .form(
            &format!("/users/{}/password", ada.id),
            Some(&cookie),
            &[("csrf", &csrf), ("password", "short")],
            &[],
        )
        .await;
    assert_eq!(weak_reset.status, StatusCode::BAD_REQUEST);
    assert!(weak_reset.text.contains("at least 12"));
}

async fn grant(h: &Harness, user: &User, client_name: &str, server: &str) -> Uuid {
    let client_id = format!("client-{}", Uuid::new_v4());
    h.platform
        .state
        .store
        .upsert_oauth_client(&OAuthClient {
            client_id: client_id.clone(),
            kind: ClientKind::Dynamic,
            client_name: Some(client_name.to_owned()),
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
    h.platform
        .state
        .store
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

async fn revoked(h: &Harness, id: Uuid) -> bool {
    let (grant, _) = h.platform.state.store.grant_with_user(id).await.unwrap();
    grant.revoked_at.is_some()
}

#[tokio::test]
async fn users_see_and_revoke_their_own_mcp_clients_only() {
    let h = Harness::new().await;
    h.create_server(NONE_CONFIG, "greeter").await;
    let (alice, alice_cookie, alice_csrf) = user(&h, "alice@example.com", Role::Member).await;
    let (bob, bob_cookie, bob_csrf) = user(&h, "bob@example.com", Role::Member).await;
    let alices = grant(&h, &alice, "Claude <script>x</script>", "greeter").await;
    let bobs = grant(&h, &bob, "Bob's Cursor", "greeter").await;

    let page = h.get("/clients", Some(&alice_cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Claude &lt;script&gt;x&lt;/script&gt;"));
    assert!(!page.text.contains("<script>"));
    assert!(page.text.contains("Greeter"));
    assert!(!page.text.contains("Bob&#39;s Cursor") && !page.text.contains("Bob's Cursor"));

    // Bob cannot revoke Alice's grant; forged and stale forms change nothing.
    let revoke_alices = format!("/clients/{alices}/revoke");
    for (case, cookie, csrf, refused) in [
        (
            "foreign",
            &bob_cookie,
            Some(&bob_csrf),
            StatusCode::NOT_FOUND,
        ),
        ("forged", &alice_cookie, None, StatusCode::FORBIDDEN),
        (
            "stale",
            &alice_cookie,
            Some(&bob_csrf),
            StatusCode::FORBIDDEN,
        ),
    ] {
        let fields: Vec<(&str, &str)> = csrf
            .map(|csrf| ("csrf", csrf.as_str()))
            .into_iter()
            .collect();
        let reply = h.form(&revoke_alices, Some(cookie), &fields, &[]).await;
        assert_eq!(reply.status, refused, "{case}: {}", reply.text);
        if refused == StatusCode::FORBIDDEN {
            assert_forbidden(&reply);
        }
    }
    assert!(!revoked(&h, alices).await);

    let done = h
        .form(
            &format!("/clients/{alices}/revoke"),
            Some(&alice_cookie),
            &[("csrf", &alice_csrf)],
            &[],
        )
        .await;
    assert_redirect(&done, "/clients?done=revoked");
    assert!(revoked(&h, alices).await);
    assert!(!revoked(&h, bobs).await);
    let after = h.get("/clients", Some(&alice_cookie)).await;
    assert!(after.text.contains("No client has access"));
}
