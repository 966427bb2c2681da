//! What a tool asks of the credentials route for `oauth` servers (docs/PROTOCOL.md §3): one of
//! the user's accounts by name, and the provider scopes it needs. An account granted fewer is
//! sent to connect again for the union of the old and new scopes; a scope list that is not one
//! is refused; nothing is released for an account that is not the user's.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::calls::LongCall;
use common::fake_server::{FakeRuntime, WAIT};
use common::{CRED_CONFIG, Harness, Reply};
use gumstack_platform::store::{Role, User};
use gumstack_platform::vault::Aad;
use uuid::Uuid;

const TRACKER: &str = "name: Tracker\nauth:\n  type: oauth\n  provider: tracker\n";
const AT: i64 = 1_800_000_000;

/// `tracker` whose tool `wait` declares that it needs `admin`.
const ADMIN_TRACKER: &str = "name: Admin Tracker\nauth:\n  type: oauth\n  provider: tracker\ntools:\n  - name: wait\n    scopes: [admin]\n";

/// Stores `user`'s account `nickname` at `tracker`, granted `scope`, with `token`.
async fn connect(h: &Harness, user: &User, nickname: &str, scope: Option<&str>, token: &str) {
    connect_to(h, "tracker", user, nickname, scope, token).await;
}

/// [`connect`] to the server `slug`.
async fn connect_to(
    h: &Harness,
    slug: &str,
    user: &User,
    nickname: &str,
    scope: Option<&str>,
    token: &str,
) {
    let state = &h.platform.state;
    let server = state.servers.resolve(slug).await.unwrap();
    let id = Uuid::new_v4();
    let aad = Aad::new("connections", "access_token", &[user.id, server.id, id]);
    let mut connection = common::connection_row(user.id, server.id, "tracker", nickname, AT);
    connection.id = id;
    connection.access_ciphertext = state.vault.encrypt(token.as_bytes(), &aad);
    connection.scope = scope.map(str::to_owned);
    state.store.upsert_connection(&connection).await.unwrap();
}

struct World {
    h: Harness,
    fake: FakeRuntime,
    ann: User,
    token: String,
}

impl World {
    async fn new() -> Self {
        let fake = FakeRuntime::default();
        let h = Harness::build_with_runtime(Arc::new(fake.clone()), |_| {}).await;
        h.create_server(TRACKER, "tracker").await;
        h.create_server(CRED_CONFIG, "keys").await;
        h.deploy("tracker", 1).await;
        h.deploy("keys", 1).await;
        let (ann, _) = h.user_with_token("ann@example.com", Role::Member).await;
        let (_, token) = h.grant_on(ann.id, "tracker").await;
        connect(&h, &ann, "ann@home", Some("read,write"), "at-home").await;
        connect(&h, &ann, "ann@work", None, "at-work").await;
        Self {
            h,
            fake,
            ann,
            token,
        }
    }

    /// Asks for `query` from inside a call of Ann's to `slug` (with `token`, her access token
    /// for it).
    async fn ask(&self, slug: &str, token: &str, query: &str) -> Reply {
        let server = self.h.platform.state.servers.resolve(slug).await.unwrap();
        let server_token = self.fake.server_token(&server.id.to_string());
        let call = LongCall::start(&self.h, &self.fake, slug, token, WAIT).await;
        let reply = self
            .h
            .fetch_credentials_with(&server_token, &call.proof, query)
            .await;
        self.fake.open_gate();
        call.finish().await;
        reply
    }
}

#[tokio::test]
async fn enough_scopes_release_the_token_and_name_the_account() {
    let w = World::new().await;
    for query in ["", "scope=read", "scope=read%20write", "scope=write,read"] {
        let reply = w.ask("tracker", &w.token, query).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.text);
        assert_eq!(reply.json()["credentials"]["access_token"], "at-home");
        assert_eq!(reply.json()["account"], "ann@home");
    }
    // An account whose grant is unknown (the provider named none) is not held back.
    let reply = w
        .ask("tracker", &w.token, "account=ann%40work&scope=admin")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["credentials"]["access_token"], "at-work");
    assert_eq!(reply.json()["account"], "ann@work");
}

#[tokio::test]
async fn a_missing_scope_sends_the_user_to_connect_again_for_the_union() {
    let w = World::new().await;
    let reply = w.ask("tracker", &w.token, "scope=read%20admin").await;
    reply.assert_error(StatusCode::CONFLICT, "credentials_required", "(admin)");
    assert_eq!(
        reply.json()["error"]["connect_url"],
        "http://127.0.0.1:8080/connections/tracker?provider=tracker&scope=read+write+admin"
    );
    assert!(!reply.text.contains("at-home"), "{}", reply.text);
}

#[tokio::test]
async fn an_account_the_user_has_not_connected_is_named_with_those_they_have() {
    let w = World::new().await;
    // Bob's account is not Ann's to ask for.
    let (bob, _) = w.h.user_with_token("bob@example.com", Role::Member).await;
    connect(&w.h, &bob, "bob@work", None, "at-bob").await;
    let reply = w.ask("tracker", &w.token, "account=bob%40work").await;
    reply.assert_error(
        StatusCode::CONFLICT,
        "credentials_required",
        "yours are: ann@home, ann@work",
    );
    assert!(!reply.text.contains("at-bob"), "{}", reply.text);
}

#[tokio::test]
async fn a_scope_list_that_is_not_one_or_a_scope_for_a_cred_server_is_refused() {
    let w = World::new().await;
    for query in ["scope=a%22b", "scope=caf%C3%A9", "scope=back%5Cslash"] {
        let reply = w.ask("tracker", &w.token, query).await;
        reply.assert_error(StatusCode::BAD_REQUEST, "invalid_request", "is not a scope");
        assert!(!reply.text.contains("at-home"), "{}", reply.text);
    }
    let (_, keys_token) = w.h.grant_on(w.ann.id, "keys").await;
    for query in ["scope=read", "account=ann%40home"] {
        let reply = w.ask("keys", &keys_token, query).await;
        reply.assert_error(
            StatusCode::BAD_REQUEST,
            "not_supported",
            "oauth servers only",
        );
    }
}

#[tokio::test]
async fn scopes_config_yaml_declares_for_the_tool_are_needed_without_the_tool_asking() {
    let w = World::new().await;
    w.h.create_server(ADMIN_TRACKER, "admin-tracker").await;
    w.h.deploy("admin-tracker", 1).await;
    let (_, token) = w.h.grant_on(w.ann.id, "admin-tracker").await;
    connect_to(
        &w.h,
        "admin-tracker",
        &w.ann,
        "ann@home",
        Some("read"),
        "at-admin",
    )
    .await;

    // The call of `wait` asks for nothing itself; config.yaml says it needs `admin`.
    let reply = w.ask("admin-tracker", &token, "").await;
    reply.assert_error(StatusCode::CONFLICT, "credentials_required", "(admin)");
    assert_eq!(
        reply.json()["error"]["connect_url"],
        "http://127.0.0.1:8080/connections/admin-tracker?provider=tracker&scope=read+admin"
    );
    assert!(!reply.text.contains("at-admin"), "{}", reply.text);
    // With the tool's own scopes as well: the union.
    let reply = w.ask("admin-tracker", &token, "scope=write").await;
    assert_eq!(
        reply.json()["error"]["connect_url"],
        "http://127.0.0.1:8080/connections/admin-tracker?provider=tracker&scope=read+admin+write"
    );

    // Once the account has it, the token is released.
    connect_to(
        &w.h,
        "admin-tracker",
        &w.ann,
        "ann@home",
        Some("read admin"),
        "at-admin-2",
    )
    .await;
    let reply = w.ask("admin-tracker", &token, "").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["credentials"]["access_token"], "at-admin-2");
}
