//! The dashboard's server pages and forms, in-process: the list and its search, creating a
//! server (config errors with their position, the input kept), settings (what was typed kept,
//! the auth type never changed), and disabling, enabling and deleting only after confirmation.

mod common;

use axum::http::StatusCode;
use common::dashboard::{admin, assert_forbidden, assert_redirect, servers, user};
use common::{CRED_CONFIG, Harness, NONE_CONFIG};
use gumstack_platform::store::Role;

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
