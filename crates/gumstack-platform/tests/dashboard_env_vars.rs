//! A server's env vars on the dashboard, in-process: values that no page shows after saving,
//! and changes that prompt a redeploy.

mod common;

const ENV_SECRET: &str = "env-secret-value-7781";
const ENV_SECRET_2: &str = "env-replaced-value-9932";

use axum::http::StatusCode;
use common::dashboard::{admin, assert_forbidden, assert_redirect};
use common::{Harness, NONE_CONFIG};

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
