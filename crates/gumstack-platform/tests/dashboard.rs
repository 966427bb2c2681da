//! The dashboard's pages and forms, in-process: what each role may do (checked on the server),
//! forms without or with a stale CSRF token changing nothing, required fields, errors that keep
//! what was typed (never secrets), escaping, and env var values that no page shows after saving.

mod common;

use axum::http::{StatusCode, header};
use common::{CRED_CONFIG, Harness, NONE_CONFIG, Reply};
use gumstack_platform::store::{ClientKind, Grant, OAuthClient, Role, User, Uuid, now};

const ENV_SECRET: &str = "env-secret-value-7781";
const ENV_SECRET_2: &str = "env-replaced-value-9932";

async fn servers(h: &Harness) -> i64 {
    h.count("SELECT COUNT(*) FROM servers").await
}

fn assert_redirect(reply: &Reply, to: &str) {
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);
    let location = reply.headers[header::LOCATION].to_str().unwrap();
    assert!(
        location.starts_with(to),
        "redirected to {location}, not {to}"
    );
}

fn assert_forbidden(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert!(
        reply.text.contains("Not allowed") || reply.text.contains("This form expired"),
        "a clear page: {}",
        reply.text
    );
    assert!(reply.text.contains("<h1>"), "an HTML page: {}", reply.text);
}

/// An admin session (cookie, csrf).
async fn admin(h: &Harness) -> (String, String) {
    h.session_for(&h.admin).await
}

async fn user(h: &Harness, email: &str, role: Role) -> (User, String, String) {
    let (user, _) = h.user_with_token(email, role).await;
    let (cookie, csrf) = h.session_for(&user).await;
    (user, cookie, csrf)
}

#[tokio::test]
async fn the_servers_list_searches_and_filters() {
    let h = Harness::new().await;
    h.create_server(NONE_CONFIG, "greeter").await;
    h.create_server(CRED_CONFIG, "keys").await;
    h.create_server("name: Old thing\nauth:\n  type: none\n", "old")
        .await;
    h.platform
        .state
        .servers
        .set_enabled("old", false)
        .await
        .unwrap();
    let (dev, cookie, csrf) = user(&h, "dev@example.com", Role::Developer).await;
    let config = "name: Dev Tools\nauth:\n  type: none\n";
    let created = h
        .form(
            "/new",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("config_yaml", config),
                ("command", "/bin/true"),
            ],
            &[],
        )
        .await;
    assert_redirect(&created, "/servers/dev-tools");
    let server = h.platform.state.servers.resolve("dev-tools").await.unwrap();
    assert_eq!(server.owner_id, Some(dev.id), "the creator owns it");

    let all = h.get("/", Some(&cookie)).await;
    assert_eq!(all.status, StatusCode::OK);
    for shown in ["Greeter", "Keys", "Dev Tools"] {
        assert!(all.text.contains(shown), "{shown} listed");
    }
    assert!(
        !all.text.contains("Old thing"),
        "disabled hidden by default"
    );
    let with_disabled = h.get("/?disabled=1", Some(&cookie)).await;
    assert!(with_disabled.text.contains("Old thing"));
    let searched = h.get("/?q=GREET", Some(&cookie)).await;
    assert!(searched.text.contains("Greeter") && !searched.text.contains("Dev Tools"));
    let mine = h.get("/?mine=1", Some(&cookie)).await;
    assert!(mine.text.contains("Dev Tools") && !mine.text.contains("Greeter"));
    let nothing = h.get("/?q=zzz", Some(&cookie)).await;
    assert!(nothing.text.contains("No server matches"));
    // The search box keeps what was typed, escaped.
    let hostile = h.get("/?q=%22%3E%3Cscript%3E", Some(&cookie)).await;
    assert!(!hostile.text.contains("\"><script>"));
    assert!(hostile.text.contains("&quot;&gt;&lt;script&gt;"));
}

#[tokio::test]
async fn creating_a_server_shows_config_errors_with_their_position_and_keeps_the_input() {
    let h = Harness::new().await;
    let (cookie, csrf) = admin(&h).await;
    let form = h.get("/new", Some(&cookie)).await;
    assert_eq!(form.status, StatusCode::OK);
    for label in ["for=\"config_yaml\"", "for=\"command\"", "for=\"slug\""] {
        assert!(form.text.contains(label), "labelled: {label}");
    }
    assert_eq!(form.text.matches("<h1>").count(), 1, "one h1");

    let broken = "name: Broken <b>bold</b>\nauth:\n  type: none\ncolour: blue\n";
    let before = servers(&h).await;
    // No CSRF token, then a stale one: refused, nothing created.
    let no_csrf = h
        .form(
            "/new",
            Some(&cookie),
            &[("config_yaml", NONE_CONFIG), ("command", "/bin/true")],
            &[],
        )
        .await;
    assert_forbidden(&no_csrf);
    let stale = h
        .form(
            "/new",
            Some(&cookie),
            &[
                ("csrf", "stale-token"),
                ("config_yaml", NONE_CONFIG),
                ("command", "/bin/true"),
            ],
            &[],
        )
        .await;
    assert_forbidden(&stale);
    // An unknown key: the error names the line and column; what was typed is kept (escaped).
    let refused = h
        .form(
            "/new",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("config_yaml", broken),
                ("command", "/srv/my server"),
                ("slug", "my-slug"),
            ],
            &[],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    assert!(
        refused.text.contains("line 4") && refused.text.contains("column"),
        "{}",
        refused.text
    );
    assert!(refused.text.contains("colour"), "names the key");
    assert!(refused.text.contains("role=\"alert\""));
    assert!(refused.text.contains("Broken &lt;b&gt;bold&lt;/b&gt;"));
    assert!(!refused.text.contains("<b>bold</b>"));
    assert!(refused.text.contains("value=\"/srv/my server\""));
    assert!(refused.text.contains("value=\"my-slug\""));
    assert!(refused.text.contains("aria-invalid=\"true\""));
    // Required fields: an empty command or config is refused.
    let no_command = h
        .form(
            "/new",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("config_yaml", NONE_CONFIG),
                ("command", " "),
            ],
            &[],
        )
        .await;
    assert_eq!(no_command.status, StatusCode::BAD_REQUEST);
    assert!(
        no_command.text.contains("runtime.command"),
        "{}",
        no_command.text
    );
    let no_config = h
        .form(
            "/new",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("config_yaml", ""),
                ("command", "/bin/true"),
            ],
            &[],
        )
        .await;
    assert_eq!(no_config.status, StatusCode::BAD_REQUEST);
    assert_eq!(servers(&h).await, before, "nothing was created");

    // A valid one, with a name full of markup.
    let hostile = "name: \"<script>alert(1)</script>\"\nauth:\n  type: none\n";
    let created = h
        .form(
            "/new",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("config_yaml", hostile),
                ("command", "/bin/true"),
                ("args", "--port\n\n  8080  \n"),
                ("slug", "hostile"),
            ],
            &[],
        )
        .await;
    assert_redirect(&created, "/servers/hostile");
    let server = h.platform.state.servers.resolve("hostile").await.unwrap();
    let runtime = server.runtime.unwrap();
    assert_eq!(runtime.args, ["--port", "8080"], "one argument per line");
    for page in ["/servers/hostile", "/servers/hostile/settings", "/"] {
        let reply = h.get(page, Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::OK, "{page}");
        assert!(!reply.text.contains("<script>"), "{page} escapes the name");
        assert!(
            reply.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
    }
    let overview = h.get("/servers/hostile", Some(&cookie)).await;
    assert!(overview.text.contains("http://127.0.0.1:8080/mcp/hostile"));
    assert!(overview.text.contains("Auth type"));
    // The same slug again: a conflict shown on the form.
    let again = h
        .form(
            "/new",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("config_yaml", hostile),
                ("command", "/bin/true"),
                ("slug", "hostile"),
            ],
            &[],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.text.contains("already exists"));
}

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

    // Developers manage servers but not users.
    let (_, dev_cookie, _) = user(&h, "dev@example.com", Role::Developer).await;
    assert_eq!(
        h.get("/servers/greeter/settings", Some(&dev_cookie))
            .await
            .status,
        StatusCode::OK
    );
    assert_forbidden(&h.get("/users", Some(&dev_cookie)).await);
}

#[tokio::test]
async fn env_var_values_are_write_only_and_changes_prompt_a_redeploy() {
    let h = Harness::new().await;
    h.create_server(NONE_CONFIG, "greeter").await;
    let (cookie, csrf) = admin(&h).await;

    let settings = h.get("/servers/greeter/settings", Some(&cookie)).await;
    assert_eq!(settings.status, StatusCode::OK);
    assert!(
        settings.text.contains("cannot change after creation"),
        "read-only auth type with its reason"
    );
    assert_eq!(settings.text.matches("<h1>").count(), 1);

    // Forged or stale forms store nothing.
    let forged = h
        .form(
            "/servers/greeter/env",
            Some(&cookie),
            &[("name", "API_KEY"), ("value", ENV_SECRET)],
            &[],
        )
        .await;
    assert_forbidden(&forged);
    let stale = h
        .form(
            "/servers/greeter/env",
            Some(&cookie),
            &[("csrf", "old"), ("name", "API_KEY"), ("value", ENV_SECRET)],
            &[],
        )
        .await;
    assert_forbidden(&stale);
    assert_eq!(h.count("SELECT COUNT(*) FROM env_vars").await, 0);

    // A reserved name: a clear error, the name kept, the value not echoed.
    let reserved = h
        .form(
            "/servers/greeter/env",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("name", "GUMSTACK_TOKEN"),
                ("value", ENV_SECRET),
            ],
            &[],
        )
        .await;
    assert_eq!(reserved.status, StatusCode::BAD_REQUEST);
    assert!(reserved.text.contains("reserved"), "{}", reserved.text);
    assert!(reserved.text.contains("value=\"GUMSTACK_TOKEN\""));
    assert!(!reserved.text.contains(ENV_SECRET));
    // A value is required.
    let empty = h
        .form(
            "/servers/greeter/env",
            Some(&cookie),
            &[("csrf", &csrf), ("name", "API_KEY"), ("value", "")],
            &[],
        )
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert_eq!(h.count("SELECT COUNT(*) FROM env_vars").await, 0);

    // Saved, then replaced.
    let saved = h
        .form(
            "/servers/greeter/env",
            Some(&cookie),
            &[("csrf", &csrf), ("name", "API_KEY"), ("value", ENV_SECRET)],
            &[],
        )
        .await;
    assert_redirect(&saved, "/servers/greeter/settings?done=env");
    let after = h
        .get("/servers/greeter/settings?done=env", Some(&cookie))
        .await;
    assert!(after.text.contains("API_KEY"));
    assert!(after.text.contains("next deployment"));
    assert!(after.text.contains("Redeploy now"), "a redeploy prompt");
    let replaced = h
        .form(
            "/servers/greeter/env",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("name", "API_KEY"),
                ("value", ENV_SECRET_2),
            ],
            &[],
        )
        .await;
    assert_redirect(&replaced, "/servers/greeter/settings?done=env");
    assert_eq!(h.count("SELECT COUNT(*) FROM env_vars").await, 1);

    // No page shows either value, nor does the API.
    for page in [
        "/servers/greeter/settings",
        "/servers/greeter/settings?done=env",
        "/servers/greeter",
        "/",
        "/?disabled=1",
        "/connections",
        "/clients",
        "/users",
    ] {
        let reply = h.get(page, Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::OK, "{page}");
        for secret in [ENV_SECRET, ENV_SECRET_2] {
            assert!(!reply.text.contains(secret), "{page} shows an env value");
        }
    }
    let api = h
        .admin_api(axum::http::Method::GET, "/api/servers/greeter/env", None)
        .await;
    assert!(!api.text.contains(ENV_SECRET_2));

    // The redeploy button asks for a new deployment.
    let redeploy = h
        .form(
            "/servers/greeter/redeploy",
            Some(&cookie),
            &[("csrf", &csrf)],
            &[],
        )
        .await;
    assert_redirect(&redeploy, "/servers/greeter/settings?done=redeploy");
    let server = h.platform.state.servers.resolve("greeter").await.unwrap();
    assert_eq!(server.deploy_generation, 2);

    // Removing needs the token too.
    let remove_forged = h
        .form(
            "/servers/greeter/env/API_KEY/delete",
            Some(&cookie),
            &[],
            &[],
        )
        .await;
    assert_forbidden(&remove_forged);
    assert_eq!(h.count("SELECT COUNT(*) FROM env_vars").await, 1);
    let removed = h
        .form(
            "/servers/greeter/env/API_KEY/delete",
            Some(&cookie),
            &[("csrf", &csrf)],
            &[],
        )
        .await;
    assert_redirect(&removed, "/servers/greeter/settings?done=env-removed");
    assert_eq!(h.count("SELECT COUNT(*) FROM env_vars").await, 0);
}

#[tokio::test]
async fn settings_keep_what_was_typed_and_never_change_the_auth_type() {
    let h = Harness::new().await;
    h.create_server(CRED_CONFIG, "keys").await;
    let (cookie, csrf) = admin(&h).await;
    let empty_name = h
        .form(
            "/servers/keys/settings",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("name", "  "),
                ("description", "typed <em>description</em>"),
                ("icon", ""),
            ],
            &[],
        )
        .await;
    assert_eq!(empty_name.status, StatusCode::BAD_REQUEST);
    assert!(empty_name.text.contains("name must not be empty"));
    assert!(
        empty_name
            .text
            .contains("typed &lt;em&gt;description&lt;/em&gt;")
    );
    let server = h.platform.state.servers.resolve("keys").await.unwrap();
    assert_eq!(server.name, "Keys", "nothing changed");

    // A form that smuggles an auth type changes nothing about it.
    let saved = h
        .form(
            "/servers/keys/settings",
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("name", "Keys <i>v2</i>"),
                ("description", "New"),
                ("icon", "data:image/png;base64,AAAA"),
                ("auth_type", "none"),
            ],
            &[],
        )
        .await;
    assert_redirect(&saved, "/servers/keys/settings?done=saved");
    let server = h.platform.state.servers.resolve("keys").await.unwrap();
    assert_eq!(server.name, "Keys <i>v2</i>");
    assert_eq!(server.icon.as_deref(), Some("data:image/png;base64,AAAA"));
    assert_eq!(server.auth_type.as_str(), "cred");
    let overview = h.get("/servers/keys", Some(&cookie)).await;
    assert!(overview.text.contains("Keys &lt;i&gt;v2&lt;/i&gt;"));
    assert!(overview.text.contains("img class=\"icon\""));
    // Clearing the icon.
    h.form(
        "/servers/keys/settings",
        Some(&cookie),
        &[("csrf", &csrf), ("name", "Keys"), ("icon", " ")],
        &[],
    )
    .await;
    let server = h.platform.state.servers.resolve("keys").await.unwrap();
    assert_eq!(server.icon, None);
}

#[tokio::test]
async fn servers_are_disabled_enabled_and_deleted_only_after_confirmation() {
    let h = Harness::new().await;
    h.create_server(NONE_CONFIG, "greeter").await;
    let (cookie, csrf) = admin(&h).await;
    let disabled = h
        .form(
            "/servers/greeter/disable",
            Some(&cookie),
            &[("csrf", &csrf)],
            &[],
        )
        .await;
    assert_redirect(&disabled, "/servers/greeter/settings?done=disabled");
    assert!(
        !h.platform
            .state
            .servers
            .resolve("greeter")
            .await
            .unwrap()
            .enabled
    );
    let settings = h.get("/servers/greeter/settings", Some(&cookie)).await;
    assert!(settings.text.contains("Enable server"));
    h.form(
        "/servers/greeter/enable",
        Some(&cookie),
        &[("csrf", &csrf)],
        &[],
    )
    .await;
    assert!(
        h.platform
            .state
            .servers
            .resolve("greeter")
            .await
            .unwrap()
            .enabled
    );

    let confirm = h.get("/servers/greeter/delete", Some(&cookie)).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.text.contains("cannot be undone"));
    assert!(confirm.text.contains("for=\"confirm\""));
    // Without the typed slug, or with a stale token: still there.
    let unconfirmed = h
        .form(
            "/servers/greeter/delete",
            Some(&cookie),
            &[("csrf", &csrf), ("confirm", "greter")],
            &[],
        )
        .await;
    assert_eq!(unconfirmed.status, StatusCode::BAD_REQUEST);
    assert!(
        unconfirmed.text.contains("value=\"greter\""),
        "typed text kept"
    );
    let stale = h
        .form(
            "/servers/greeter/delete",
            Some(&cookie),
            &[("csrf", "stale"), ("confirm", "greeter")],
            &[],
        )
        .await;
    assert_forbidden(&stale);
    assert_eq!(servers(&h).await, 1);
    let deleted = h
        .form(
            "/servers/greeter/delete",
            Some(&cookie),
            &[("csrf", &csrf), ("confirm", "greeter")],
            &[],
        )
        .await;
    assert_redirect(&deleted, "/?done=deleted");
    assert_eq!(servers(&h).await, 0);
    let gone = h.get("/servers/greeter", Some(&cookie)).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert!(
        gone.text.contains("<h1>Not found</h1>"),
        "an error page: {}",
        gone.text
    );
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
    let foreign = h
        .form(
            &format!("/clients/{alices}/revoke"),
            Some(&bob_cookie),
            &[("csrf", &bob_csrf)],
            &[],
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    let forged = h
        .form(
            &format!("/clients/{alices}/revoke"),
            Some(&alice_cookie),
            &[],
            &[],
        )
        .await;
    assert_forbidden(&forged);
    let stale = h
        .form(
            &format!("/clients/{alices}/revoke"),
            Some(&alice_cookie),
            &[("csrf", &bob_csrf)],
            &[],
        )
        .await;
    assert_forbidden(&stale);
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

#[tokio::test]
async fn every_dashboard_page_has_one_h1_labelled_inputs_and_a_skip_link() {
    let h = Harness::new().await;
    h.create_server(CRED_CONFIG, "keys").await;
    h.platform
        .state
        .servers
        .set_env("keys", "API_BASE", &"https://x".to_owned().into())
        .await
        .unwrap();
    let (cookie, _) = admin(&h).await;
    for page in [
        "/",
        "/new",
        "/servers/keys",
        "/servers/keys/settings",
        "/servers/keys/delete",
        "/users",
        "/clients",
    ] {
        let reply = h.get(page, Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::OK, "{page}");
        let text = &reply.text;
        assert_eq!(text.matches("<h1").count(), 1, "{page}: one h1");
        assert!(text.contains("href=\"#main\""), "{page}: skip link");
        assert!(text.contains("name=\"viewport\""), "{page}");
        // Every visible input has a label pointing at its id.
        for input in text
            .split("<input ")
            .skip(1)
            .chain(text.split("<textarea ").skip(1))
            .chain(text.split("<select ").skip(1))
        {
            let tag = input.split('>').next().unwrap();
            if tag.contains("type=\"hidden\"") || tag.contains("type=\"submit\"") {
                continue;
            }
            let id = tag
                .split("id=\"")
                .nth(1)
                .and_then(|v| v.split('"').next())
                .unwrap_or_else(|| panic!("{page}: an input without id: {tag}"));
            assert!(
                text.contains(&format!("for=\"{id}\"")),
                "{page}: no label for {id}"
            );
        }
        // Headings do not skip a level.
        let mut last = 1;
        for part in text.split("<h").skip(1) {
            if let Some(level) = part.chars().next().and_then(|c| c.to_digit(10)) {
                assert!(level <= last + 1, "{page}: h{level} after h{last}");
                last = level;
            }
        }
    }
}
