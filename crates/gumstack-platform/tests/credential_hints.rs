//! A saved credential's hint follows the server's current config.yaml, whatever it declared
//! when the value was saved: a field that becomes secret shows at most its last two
//! characters; a secret that becomes plain stays hidden until it is saved again.

mod common;

use axum::http::{Method, StatusCode};
use common::Harness;
use gumstack_platform::store::Role;
use serde_json::{Value, json};

fn config(api_key_secret: bool, region_secret: bool) -> String {
    format!(
        "name: Keys\nauth:\n  type: cred\n  credentials:\n    - name: api_key\n      label: API key\n      secret: {api_key_secret}\n    - name: region\n      label: Region\n      secret: {region_secret}\n      required: false\n"
    )
}

const KEY: &str = "sk-live-abcdef123434";
const REGION: &str = "eu-central-long-region-77";

async fn redeclare(h: &Harness, api_key_secret: bool, region_secret: bool) {
    let reply = h
        .admin_api(
            Method::PATCH,
            "/api/servers/keys",
            Some(json!({ "config_yaml": config(api_key_secret, region_secret) })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

/// The hints the API shows, by field name.
async fn api_hints(h: &Harness, token: &str) -> Value {
    let reply = h
        .api(Method::GET, "/api/me/credentials/keys", Some(token), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let mut hints = serde_json::Map::new();
    for field in reply.json()["fields"].as_array().unwrap() {
        hints.insert(
            field["name"].as_str().unwrap().to_owned(),
            field["hint"].clone(),
        );
    }
    Value::Object(hints)
}

#[tokio::test]
async fn hints_follow_the_current_declaration_of_each_field() {
    let h = Harness::new().await;
    h.create_server(&config(true, false), "keys").await;
    let (member, token) = h.user_with_token("ann@example.com", Role::Member).await;
    let (cookie, csrf) = h.session_for(&member).await;
    let saved = h
        .form(
            "/connections/keys",
            Some(&cookie),
            &[("csrf", &csrf), ("api_key", KEY), ("region", REGION)],
            &[],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    assert_eq!(
        api_hints(&h, &token).await,
        json!({ "api_key": "set · ends in ••34", "region": REGION })
    );

    // The plain field becomes secret: its value is no longer in view, on the form or the API.
    // The secret becomes plain: it stays hidden, since it was saved as a secret.
    redeclare(&h, false, true).await;
    assert_eq!(
        api_hints(&h, &token).await,
        json!({ "api_key": "set · ends in ••34", "region": "set · ends in ••77" })
    );
    let form = h.get("/connections/keys", Some(&cookie)).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(!form.text.contains(REGION), "{}", form.text);
    assert!(!form.text.contains(KEY), "{}", form.text);

    // Saved again under the new declaration: the now plain field shows its value.
    let again = h
        .form(
            "/connections/keys",
            Some(&cookie),
            &[("csrf", &csrf), ("api_key", KEY)],
            &[],
        )
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.text);
    assert_eq!(
        api_hints(&h, &token).await,
        json!({ "api_key": KEY, "region": "set · ends in ••77" })
    );

    // And back: the field that was plain when saved is a secret again.
    redeclare(&h, true, true).await;
    let hints = api_hints(&h, &token).await;
    assert_eq!(hints["api_key"], "set · ends in ••34");
    let form = h.get("/connections/keys", Some(&cookie)).await;
    assert!(!form.text.contains(KEY), "{}", form.text);
}

#[tokio::test]
async fn rows_saved_before_hints_followed_the_config_are_read_the_same_way() {
    let h = Harness::new().await;
    h.create_server(&config(true, false), "keys").await;
    let (member, token) = h.user_with_token("ann@example.com", Role::Member).await;
    let (cookie, csrf) = h.session_for(&member).await;
    h.form(
        "/connections/keys",
        Some(&cookie),
        &[("csrf", &csrf), ("api_key", KEY), ("region", REGION)],
        &[],
    )
    .await;
    // The shape older versions stored: the hint strings as computed at save time.
    let legacy = json!({ "api_key": "set · ends in ••34", "region": REGION }).to_string();
    sqlx::query("UPDATE credentials SET hints_json = ?")
        .bind(legacy)
        .execute(h.store.pool())
        .await
        .unwrap();
    redeclare(&h, false, true).await;
    assert_eq!(
        api_hints(&h, &token).await,
        json!({ "api_key": "set · ends in ••34", "region": "set · ends in ••77" })
    );
}
