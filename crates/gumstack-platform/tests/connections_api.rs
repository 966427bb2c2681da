//! `GET /api/me/connections`: a user's own OAuth connection state over the JSON API — one
//! entry per provider of every enabled `oauth` server, never a token, never another user's.

mod common;

use axum::http::{Method, StatusCode};
use common::{CRED_CONFIG, Harness, NONE_CONFIG};
use gumstack_platform::store::{
    Connection, ConnectionStatus, FailureKind, Role, Server, Timestamp, User,
};
use serde_json::{Value, json};

const URI: &str = "/api/me/connections";
const TRACKER: &str = "name: Tracker\nauth:\n  type: oauth\n  provider: [tracker, mail]\n";
const WIKI: &str = "name: Wiki\nauth:\n  type: oauth\n  provider: [wiki, files]\n";
const CALENDAR: &str = "name: Calendar\nauth:\n  type: oauth\n  provider: calendar\n";
const ARCHIVE: &str = "name: Archive\nauth:\n  type: oauth\n  provider: archive\n";
const CONNECTED_AT: Timestamp = 1_800_000_000;
const PUBLIC: &str = "http://127.0.0.1:8080";

/// How a stored connection stands.
#[derive(Clone, Copy)]
enum Standing {
    Active,
    NeedsReauth,
    Failing(FailureKind),
}

async fn server(h: &Harness, slug: &str) -> Server {
    h.platform.state.store.server_by_slug(slug).await.unwrap()
}

/// Stores `user`'s connection to `provider` of `server` as the connect flow and the refresher
/// would leave it.
async fn connect(h: &Harness, user: &User, server: &Server, provider: &str, standing: Standing) {
    let (status, failure_kind, failure_message) = match standing {
        Standing::Active => (ConnectionStatus::Active, None, None),
        Standing::NeedsReauth => (
            ConnectionStatus::NeedsReauth,
            None,
            Some("the provider refused the grant (invalid_grant)".to_owned()),
        ),
        Standing::Failing(kind) => (
            ConnectionStatus::Active,
            Some(kind),
            Some(format!(
                "{provider} failed ({})",
                format!("{kind:?}").to_lowercase()
            )),
        ),
    };
    let nickname = format!("{}@{provider}", user.email.split('@').next().unwrap());
    let connection = Connection {
        refresh_ciphertext: Some(b"sealed refresh token".to_vec()),
        expires_at: Some(CONNECTED_AT + 3600),
        scope: Some("read".to_owned()),
        status,
        failure_kind,
        failure_message,
        ..common::connection_row(user.id, server.id, provider, &nickname, CONNECTED_AT)
    };
    h.platform
        .state
        .store
        .upsert_connection(&connection)
        .await
        .unwrap();
}

/// The entry of a provider with the default account `account`, if any (ids shown as `<id>`:
/// see [`ids_hidden`]).
fn entry(slug: &str, name: &str, provider: &str, state: &str, account: Option<&str>) -> Value {
    let nickname = account.map(|a| format!("{a}@{provider}"));
    let accounts: Vec<Value> = nickname
        .iter()
        .map(|nickname| {
            json!({
                "id": "<id>",
                "nickname": nickname,
                "label": null,
                "default": true,
                "state": state,
                "expires_at": CONNECTED_AT + 3600,
                "connected_at": CONNECTED_AT,
                "error": null,
            })
        })
        .collect();
    json!({
        "server": slug,
        "server_name": name,
        "provider": provider,
        "state": state,
        "nickname": nickname,
        "expires_at": account.map(|_| CONNECTED_AT + 3600),
        "connected_at": account.map(|_| CONNECTED_AT),
        "error": null,
        "connect_url": format!("{PUBLIC}/connections/{slug}"),
        "accounts": accounts,
    })
}

fn with_error(mut entry: Value, error: &str) -> Value {
    entry["error"] = json!(error);
    entry["accounts"][0]["error"] = json!(error);
    entry
}

/// The reply with every account's id replaced by `<id>`, after checking it is a UUID.
fn ids_hidden(mut reply: Value) -> Value {
    for entry in reply["connections"].as_array_mut().unwrap() {
        for account in entry["accounts"].as_array_mut().unwrap() {
            let id = account["id"].as_str().unwrap();
            assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
            account["id"] = json!("<id>");
        }
    }
    reply
}

#[tokio::test]
async fn each_provider_of_each_oauth_server_shows_the_callers_state() {
    let h = Harness::new().await;
    for (config, slug) in [
        (TRACKER, "tracker"),
        (WIKI, "wiki"),
        (CALENDAR, "calendar"),
        (ARCHIVE, "archive"),
        (CRED_CONFIG, "keys"),
        (NONE_CONFIG, "greeter"),
    ] {
        h.create_server(config, slug).await;
    }
    let (ann, token) = h.user_with_token("ann@example.com", Role::Member).await;
    let (tracker, wiki, archive) = (
        server(&h, "tracker").await,
        server(&h, "wiki").await,
        server(&h, "archive").await,
    );
    connect(&h, &ann, &tracker, "tracker", Standing::Active).await;
    connect(&h, &ann, &tracker, "mail", Standing::NeedsReauth).await;
    connect(
        &h,
        &ann,
        &wiki,
        "wiki",
        Standing::Failing(FailureKind::Integration),
    )
    .await;
    connect(
        &h,
        &ann,
        &wiki,
        "files",
        Standing::Failing(FailureKind::Transient),
    )
    .await;
    // A disabled server is left out, as on the Connections page.
    connect(&h, &ann, &archive, "archive", Standing::Active).await;
    let disabled = h
        .admin_api(Method::POST, "/api/servers/archive/disable", None)
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.text);

    let reply = h.api(Method::GET, URI, Some(&token), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    // Servers by name; providers in the order the config declares them.
    assert_eq!(
        ids_hidden(reply.json()),
        json!({ "connections": [
            entry("calendar", "Calendar", "calendar", "not_connected", None),
            entry("tracker", "Tracker", "tracker", "connected", Some("ann")),
            with_error(
                entry("tracker", "Tracker", "mail", "needs_reauth", Some("ann")),
                "the provider refused the grant (invalid_grant)",
            ),
            with_error(
                entry("wiki", "Wiki", "wiki", "integration_error", Some("ann")),
                "wiki failed (integration)",
            ),
            // A transient failure is retried by the platform: still connected.
            entry("wiki", "Wiki", "files", "connected", Some("ann")),
        ]})
    );
    assert!(!reply.text.contains("sealed"), "{}", reply.text);
}

#[tokio::test]
async fn another_users_connections_are_not_visible() {
    let h = Harness::new().await;
    h.create_server(CALENDAR, "calendar").await;
    let calendar = server(&h, "calendar").await;
    let (_ann, ann_token) = h.user_with_token("ann@example.com", Role::Member).await;
    let (bob, bob_token) = h.user_with_token("bob@example.com", Role::Member).await;
    connect(&h, &bob, &calendar, "calendar", Standing::Active).await;

    let anns = h.api(Method::GET, URI, Some(&ann_token), None).await;
    assert_eq!(
        ids_hidden(anns.json()),
        json!({ "connections": [
            entry("calendar", "Calendar", "calendar", "not_connected", None),
        ]})
    );
    assert!(!anns.text.contains("bob"), "{}", anns.text);

    let bobs = h.api(Method::GET, URI, Some(&bob_token), None).await;
    assert_eq!(
        ids_hidden(bobs.json()),
        json!({ "connections": [
            entry("calendar", "Calendar", "calendar", "connected", Some("bob")),
        ]})
    );
}

#[tokio::test]
async fn callers_without_a_valid_token_get_401() {
    let h = Harness::new().await;
    h.create_server(CALENDAR, "calendar").await;
    for token in [None, Some("gsk_not-a-token"), Some("not-even-the-prefix")] {
        let reply = h.api(Method::GET, URI, token, None).await;
        reply.assert_error(StatusCode::UNAUTHORIZED, "unauthenticated", "");
    }
}
