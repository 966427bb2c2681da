//! The JSON API: servers, env vars and users, each with its bad inputs (a clear error and no
//! change in the store).

mod common;

use axum::http::{Method, StatusCode};
use common::{CRED_CONFIG, Harness, NONE_CONFIG, OAUTH_CONFIG};
use gumstack_platform::servers::env_var_aad;
use gumstack_platform::store::{Role, Uuid};
use serde_json::json;

#[tokio::test]
async fn requests_without_a_valid_admin_token_are_refused() {
    let h = Harness::new().await;
    let body = json!({ "config_yaml": NONE_CONFIG });
    let none = h
        .api(Method::POST, "/api/servers", None, Some(body.clone()))
        .await;
    none.assert_error(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "Authorization: Bearer",
    );
    let wrong = h
        .api(
            Method::POST,
            "/api/servers",
            Some("gsk_not-a-real-token"),
            Some(body.clone()),
        )
        .await;
    wrong.assert_error(StatusCode::UNAUTHORIZED, "unauthenticated", "Bearer");
    let not_ours = h
        .api(Method::GET, "/api/servers", Some("Basic abc"), None)
        .await;
    assert_eq!(not_ours.status, StatusCode::UNAUTHORIZED);

    let (_, member) = h.user_with_token("member@example.com", Role::Member).await;
    let forbidden = h
        .api(Method::POST, "/api/servers", Some(&member), Some(body))
        .await;
    forbidden.assert_error(StatusCode::FORBIDDEN, "forbidden", "member");
    let users = h.api(Method::GET, "/api/users", Some(&member), None).await;
    users.assert_error(StatusCode::FORBIDDEN, "forbidden", "manage users");
    assert_eq!(h.count("SELECT COUNT(*) FROM servers").await, 0);
}

#[tokio::test]
async fn servers_are_created_listed_and_found_by_slug_or_id() {
    let h = Harness::new().await;
    let created = h.create_server(NONE_CONFIG, "greeter").await;
    assert_eq!(created["slug"], "greeter");
    assert_eq!(created["name"], "Greeter");
    assert_eq!(created["auth_type"], "none");
    assert_eq!(created["mcp_url"], "http://127.0.0.1:8080/mcp/greeter");
    let id = created["id"].as_str().unwrap();
    assert!(Uuid::parse_str(id).is_ok());

    let by_slug = h
        .admin_api(Method::GET, "/api/servers/greeter", None)
        .await
        .json();
    let by_id = h
        .admin_api(Method::GET, &format!("/api/servers/{id}"), None)
        .await
        .json();
    assert_eq!(by_slug["id"], by_id["id"]);

    // A second server with the same name gets a derived slug; an explicit taken slug is a conflict.
    let again = h
        .admin_api(
            Method::POST,
            "/api/servers",
            Some(json!({ "config_yaml": NONE_CONFIG })),
        )
        .await;
    assert_eq!(again.json()["slug"], "greeter-2");
    let taken = h
        .admin_api(
            Method::POST,
            "/api/servers",
            Some(json!({ "config_yaml": NONE_CONFIG, "slug": "greeter" })),
        )
        .await;
    taken.assert_error(StatusCode::CONFLICT, "slug_taken", "greeter");

    let list = h.admin_api(Method::GET, "/api/servers", None).await.json();
    assert_eq!(list["servers"].as_array().unwrap().len(), 2);
    let missing = h.admin_api(Method::GET, "/api/servers/nope", None).await;
    missing.assert_error(StatusCode::NOT_FOUND, "not_found", "nope");
}

#[tokio::test]
async fn invalid_config_yaml_is_refused_naming_field_and_line() {
    let h = Harness::new().await;
    let cases = [
        (
            "name: X\nauth:\n  type: none\n  colour: red\n",
            "auth.colour",
            "line 4",
        ),
        ("name: X\nauth:\n  type: bogus\n", "auth.type", "line 3"),
        (
            "name: X\nauth:\n  type: cred\n  credentials:\n    - name: k\n      secret: \"yes\"\n",
            "auth.credentials[0].secret",
            "line 6",
        ),
        (
            "name: X\nauth:\n  type: cred\n  credentials:\n    - name: Bad-Name\n",
            "auth.credentials[0].name",
            "line 5",
        ),
        (
            "name: X\nauth:\n  type: cred\n  credentials:\n    - name: k\n    - name: k\n",
            "auth.credentials[1].name",
            "line 6",
        ),
        ("name: [unclosed\n", "invalid YAML", "line "),
    ];
    for (yaml, field, line) in cases {
        let reply = h
            .admin_api(
                Method::POST,
                "/api/servers",
                Some(json!({ "config_yaml": yaml })),
            )
            .await;
        reply.assert_error(StatusCode::BAD_REQUEST, "invalid_config", field);
        reply.assert_error(StatusCode::BAD_REQUEST, "invalid_config", line);
    }
    let long_name = format!("name: {}\nauth:\n  type: none\n", "x".repeat(101));
    let reply = h
        .admin_api(
            Method::POST,
            "/api/servers",
            Some(json!({ "config_yaml": long_name })),
        )
        .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_config", "name");
    let unknown_field = h
        .admin_api(
            Method::POST,
            "/api/servers",
            Some(json!({ "config_yaml": NONE_CONFIG, "auth": "none" })),
        )
        .await;
    unknown_field.assert_error(
        StatusCode::BAD_REQUEST,
        "invalid_json",
        "unknown field `auth`",
    );
    let empty_command = h
        .admin_api(
            Method::POST,
            "/api/servers",
            Some(json!({ "config_yaml": NONE_CONFIG, "runtime": { "command": " " } })),
        )
        .await;
    empty_command.assert_error(
        StatusCode::BAD_REQUEST,
        "invalid_runtime",
        "runtime.command",
    );
    assert_eq!(h.count("SELECT COUNT(*) FROM servers").await, 0);
}

#[tokio::test]
async fn the_auth_type_can_never_change() {
    let h = Harness::new().await;
    let created = h.create_server(CRED_CONFIG, "keys").await;
    let before = h
        .admin_api(Method::GET, "/api/servers/keys", None)
        .await
        .json();

    let by_field = h
        .admin_api(
            Method::PATCH,
            "/api/servers/keys",
            Some(json!({ "auth_type": "oauth", "name": "Renamed" })),
        )
        .await;
    by_field.assert_error(StatusCode::CONFLICT, "auth_type_immutable", "cannot change");
    let by_config = h
        .admin_api(
            Method::PATCH,
            "/api/servers/keys",
            Some(json!({ "config_yaml": OAUTH_CONFIG, "description": "changed" })),
        )
        .await;
    by_config.assert_error(StatusCode::CONFLICT, "auth_type_immutable", "`cred`");

    let after = h
        .admin_api(Method::GET, "/api/servers/keys", None)
        .await
        .json();
    assert_eq!(before, after, "nothing changed");

    // The database refuses too, for anything that writes the table directly.
    let direct = sqlx::query("UPDATE servers SET auth_type = 'none' WHERE id = ?")
        .bind(created["id"].as_str().unwrap())
        .execute(h.store.pool())
        .await;
    assert!(
        direct
            .unwrap_err()
            .to_string()
            .contains("auth_type_immutable")
    );

    // Same auth type, other fields: fine.
    let ok = h
        .admin_api(
            Method::PATCH,
            "/api/servers/keys",
            Some(json!({ "auth_type": "cred", "name": "Key store" })),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.json()["name"], "Key store");
}

#[tokio::test]
async fn env_vars_are_validated_sealed_and_write_only() {
    let h = Harness::new().await;
    h.create_server(NONE_CONFIG, "greeter").await;
    let set = async |name: &str, value: &str| {
        let uri = format!("/api/servers/greeter/env/{name}");
        h.admin_api(Method::PUT, &uri, Some(json!({ "value": value })))
            .await
    };
    assert_eq!(
        set("GREETING", "Bonjour-7f3a").await.status,
        StatusCode::CREATED
    );
    assert_eq!(set("GREETING", "Hola-7f3a").await.status, StatusCode::OK);

    for (name, code, fragment) in [
        ("GUMSTACK_TOKEN", "reserved_env_name", "GUMSTACK_"),
        ("gumloop_backend_url", "reserved_env_name", "GUMLOOP_"),
        ("GumStack_x", "reserved_env_name", "in any case"),
        ("PORT", "reserved_env_name", "sets PORT itself"),
        ("environment", "reserved_env_name", "ENVIRONMENT"),
        ("1ABC", "invalid_env_name", "[A-Za-z_]"),
        ("A-B", "invalid_env_name", "letters, digits and underscores"),
    ] {
        set(name, "x")
            .await
            .assert_error(StatusCode::BAD_REQUEST, code, fragment);
    }
    let nul = set("OK_NAME", "a\u{0}b").await;
    nul.assert_error(StatusCode::BAD_REQUEST, "invalid_env_value", "NUL");

    let list = h
        .admin_api(Method::GET, "/api/servers/greeter/env", None)
        .await;
    assert!(
        !list.text.contains("7f3a"),
        "values are never returned: {}",
        list.text
    );
    let listed = list.json();
    let names: Vec<&str> = listed["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["GREETING"], "refused names changed nothing");

    // At rest the value is a vault ciphertext, not the plaintext.
    let stored: Vec<u8> = sqlx::query_scalar("SELECT value_ciphertext FROM env_vars")
        .fetch_one(h.store.pool())
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains("Hola"));
    assert_eq!(stored[0], 1, "format version");

    let deleted = h
        .admin_api(Method::DELETE, "/api/servers/greeter/env/GREETING", None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let again = h
        .admin_api(Method::DELETE, "/api/servers/greeter/env/GREETING", None)
        .await;
    again.assert_error(StatusCode::NOT_FOUND, "not_found", "GREETING");
}

#[tokio::test]
async fn a_ciphertext_copied_to_another_row_does_not_decrypt_and_never_deploys() {
    let h = Harness::new().await;
    let a = h.create_server(NONE_CONFIG, "alpha").await;
    let b = h.create_server(NONE_CONFIG, "beta").await;
    for slug in ["alpha", "beta"] {
        let uri = format!("/api/servers/{slug}/env/GREETING");
        let value = format!("secret-of-{slug}");
        h.admin_api(Method::PUT, &uri, Some(json!({ "value": value })))
            .await;
    }
    // An attacker with write access to the database moves alpha's sealed value into beta's row.
    sqlx::query(
        "UPDATE env_vars SET value_ciphertext =
            (SELECT value_ciphertext FROM env_vars WHERE server_id = ?) WHERE server_id = ?",
    )
    .bind(a["id"].as_str().unwrap())
    .bind(b["id"].as_str().unwrap())
    .execute(h.store.pool())
    .await
    .unwrap();

    let (b_id, row_id, ciphertext): (String, String, Vec<u8>) =
        sqlx::query_as("SELECT server_id, id, value_ciphertext FROM env_vars WHERE server_id = ?")
            .bind(b["id"].as_str().unwrap())
            .fetch_one(h.store.pool())
            .await
            .unwrap();
    let aad = env_var_aad(
        Uuid::parse_str(&b_id).unwrap(),
        Uuid::parse_str(&row_id).unwrap(),
    );
    let err = h
        .platform
        .state
        .vault
        .decrypt(&ciphertext, &aad)
        .unwrap_err();
    assert!(err.to_string().contains("belongs to another row"), "{err}");

    // The deployment of beta fails with that reason, and alpha's secret appears nowhere.
    h.admin_api(Method::POST, "/api/servers/alpha/disable", None)
        .await;
    h.platform
        .state
        .supervisor
        .clone()
        .reconcile()
        .await
        .unwrap();
    let mut failed = None;
    for _ in 0..200 {
        let list = h
            .admin_api(Method::GET, "/api/servers/beta/deployments", None)
            .await
            .json();
        if list["deployments"][0]["status"] == "failed" {
            failed = Some(list["deployments"][0].clone());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let failed = failed.expect("beta's deployment fails");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("GREETING could not be decrypted"), "{error}");
    assert!(!error.contains("secret-of-alpha"));
    assert!(
        h.platform
            .state
            .supervisor
            .live(Uuid::parse_str(b["id"].as_str().unwrap()).unwrap())
            .is_none()
    );
}

#[tokio::test]
async fn servers_can_be_disabled_enabled_and_deleted_with_what_they_own() {
    let h = Harness::new().await;
    h.create_server(NONE_CONFIG, "greeter").await;
    h.admin_api(
        Method::PUT,
        "/api/servers/greeter/env/A",
        Some(json!({ "value": "1" })),
    )
    .await;
    let disabled = h
        .admin_api(Method::POST, "/api/servers/greeter/disable", None)
        .await
        .json();
    assert_eq!(disabled["enabled"], false);
    let enabled = h
        .admin_api(Method::POST, "/api/servers/greeter/enable", None)
        .await
        .json();
    assert_eq!(enabled["enabled"], true);
    let redeploy = h
        .admin_api(Method::POST, "/api/servers/greeter/redeploy", None)
        .await;
    assert_eq!(redeploy.status, StatusCode::ACCEPTED);
    assert_eq!(redeploy.json()["deploy_generation"], 2);

    let deleted = h
        .admin_api(Method::DELETE, "/api/servers/greeter", None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(h.count("SELECT COUNT(*) FROM servers").await, 0);
    assert_eq!(h.count("SELECT COUNT(*) FROM env_vars").await, 0);
    let gone = h
        .admin_api(Method::DELETE, "/api/servers/greeter", None)
        .await;
    gone.assert_error(StatusCode::NOT_FOUND, "not_found", "greeter");
}

#[tokio::test]
async fn admins_add_users_and_bad_input_changes_nothing() {
    let h = Harness::new().await;
    let created = h
        .admin_api(
            Method::POST,
            "/api/users",
            Some(json!({ "email": "Dev@Example.com", "role": "developer" })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let json = created.json();
    assert_eq!(json["user"]["email"], "dev@example.com");
    assert_eq!(json["user"]["role"], "developer");
    assert!(json["generated_password"].as_str().unwrap().len() >= 20);
    assert!(
        !created.text.contains("argon2"),
        "no password hash in responses"
    );

    let dup = h
        .admin_api(
            Method::POST,
            "/api/users",
            Some(json!({ "email": "dev@example.com", "role": "member" })),
        )
        .await;
    dup.assert_error(StatusCode::CONFLICT, "email_taken", "dev@example.com");
    let bad_role = h
        .admin_api(
            Method::POST,
            "/api/users",
            Some(json!({ "email": "x@example.com", "role": "root" })),
        )
        .await;
    bad_role.assert_error(StatusCode::BAD_REQUEST, "invalid_json", "role");
    let bad_email = h
        .admin_api(
            Method::POST,
            "/api/users",
            Some(json!({ "email": "nope", "role": "member" })),
        )
        .await;
    bad_email.assert_error(StatusCode::BAD_REQUEST, "invalid_email", "name@example.com");
    assert_eq!(h.count("SELECT COUNT(*) FROM users").await, 2);
}

#[tokio::test]
async fn a_servers_own_limits_are_kept_and_bad_ones_refused() {
    let h = Harness::new().await;
    h.create_server(NONE_CONFIG, "greeter").await;
    let runtime =
        json!({ "command": "/srv/greeter", "limits": { "memory_mib": 512, "open_files": 256 } });
    let reply = h
        .admin_api(
            Method::PATCH,
            "/api/servers/greeter",
            Some(json!({ "runtime": runtime })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json());
    let before = h
        .admin_api(Method::GET, "/api/servers/greeter", None)
        .await
        .json();
    assert_eq!(
        before["runtime"]["limits"],
        json!({ "memory_mib": 512, "open_files": 256 })
    );

    for (limits, message) in [
        (
            json!({ "memory_mib": 1 }),
            "runtime.limits.memory_mib must be between 64",
        ),
        (
            json!({ "open_files": 0 }),
            "runtime.limits.open_files must be between 64",
        ),
        (
            json!({ "processes": 1_000_000 }),
            "runtime.limits.processes must be between 16",
        ),
    ] {
        let reply = h
            .admin_api(
                Method::PATCH,
                "/api/servers/greeter",
                Some(json!({ "runtime": { "command": "/srv/other", "limits": limits } })),
            )
            .await;
        reply.assert_error(StatusCode::BAD_REQUEST, "invalid_runtime", message);
    }
    let unknown = h
        .admin_api(
            Method::PATCH,
            "/api/servers/greeter",
            Some(json!({ "runtime": { "command": "/srv/other", "limits": { "cpu": 2 } } })),
        )
        .await;
    unknown.assert_error(
        StatusCode::BAD_REQUEST,
        "invalid_json",
        "unknown field `cpu`",
    );
    // Nothing of the refused changes was kept.
    let after = h
        .admin_api(Method::GET, "/api/servers/greeter", None)
        .await
        .json();
    assert_eq!(before, after);
}
