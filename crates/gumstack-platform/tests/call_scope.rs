//! Credentials are released for a call only while it is in flight (docs/PROTOCOL.md §3):
//! through the real gateway to stand-in server processes (`common::fake_server`) that hold a
//! call open, an identity kept by a server fetches its user's credentials during its call
//! (also while a streamed answer is still open) and nothing once the call ended, nothing of
//! another user, nothing with another server's token, and nothing the moment its MCP client
//! is revoked, its user disabled or its server disabled.

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use common::calls::{CallProof, LongCall, tool_call};
use common::fake_server::{FakeRuntime, STREAM, WAIT};
use common::{CRED_CONFIG, Harness, Reply};
use gumstack_platform::PlatformOptions;
use gumstack_platform::clock::{Clock as _, ManualClock};
use gumstack_platform::oauth::tokens::mint_identity;
use gumstack_platform::store::{Role, User};
use gumstack_protocol::claims::{IDENTITY_REUSE_SECONDS, IDENTITY_SECONDS};
use serde_json::{Value, json};

const VAULT_CONFIG: &str = "name: Vault\nauth:\n  type: cred\n  credentials:\n    - name: api_key\n      label: API key\n      secret: true\n";

/// A platform whose servers are stand-ins, with the `cred` server `keys` live.
async fn setup(configure: impl FnOnce(&mut PlatformOptions)) -> (Harness, FakeRuntime) {
    let fake = FakeRuntime::default();
    let h = Harness::build_with_runtime(Arc::new(fake.clone()), configure).await;
    h.create_server(CRED_CONFIG, "keys").await;
    h.deploy("keys", 1).await;
    (h, fake)
}

/// A member who saved `secret` as their `api_key` on `slug`, with an access token for it.
async fn member(h: &Harness, email: &str, slug: &str, secret: &str) -> (User, String) {
    let (user, _) = h.user_with_token(email, Role::Member).await;
    save(h, &user, slug, secret).await;
    let (_, token) = h.grant_on(user.id, slug).await;
    (user, token)
}

async fn save(h: &Harness, user: &User, slug: &str, secret: &str) {
    let (cookie, csrf) = h.session_for(user).await;
    let saved = h
        .form(
            &format!("/connections/{slug}"),
            Some(&cookie),
            &[("csrf", &csrf), ("api_key", secret)],
            &[],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
}

/// The server token of `slug`'s live deployment, as its process has it.
async fn server_token(h: &Harness, fake: &FakeRuntime, slug: &str) -> String {
    let server = h.platform.state.servers.resolve(slug).await.unwrap();
    fake.server_token(&server.id.to_string())
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// An admin disables `user` through the API.
async fn disable(h: &Harness, user: &User) {
    let disabled = h
        .admin_api(
            Method::POST,
            &format!("/api/users/{}/disable", user.id),
            None,
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.text);
}

fn assert_released(reply: &Reply, secret: &str) {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["credentials"]["api_key"], secret);
}

fn assert_refused(reply: &Reply, code: &str, fragment: &str, secrets: &[&str]) {
    reply.assert_error(StatusCode::UNAUTHORIZED, code, fragment);
    for secret in secrets {
        assert!(!reply.text.contains(secret), "{}", reply.text);
    }
}

const ALICE: &str = "sk-alice-1111111111";
const BOB: &str = "sk-bob-2222222222";
const CAROL: &str = "sk-carol-3333333333";

#[tokio::test]
async fn an_identity_fetches_only_while_its_call_is_in_flight_with_the_log_on_or_off() {
    for log in [true, false] {
        let (h, fake) = setup(|options| options.activity.enabled = log).await;
        let (_, token) = member(&h, "alice@example.com", "keys", ALICE).await;
        let server_token = server_token(&h, &fake, "keys").await;

        let call = LongCall::start(&h, &fake, "keys", &token, WAIT).await;
        let identity = call.proof.clone();
        let during = h.fetch_credentials(&server_token, &identity).await;
        assert_released(&during, ALICE);
        // Fetched again during the same call: still the call's.
        assert_released(&h.fetch_credentials(&server_token, &identity).await, ALICE);

        fake.open_gate();
        let answer = call.finish().await;
        assert!(answer.contains("called wait"), "{answer}");

        // The call is over: the identity, still unexpired, fetches nothing, and can't report.
        let after = h.fetch_credentials(&server_token, &identity).await;
        assert_refused(&after, "invalid_identity", "is over", &[ALICE]);
        let report = h.report_invalid(&server_token, &identity).await;
        assert_refused(&report, "invalid_identity", "is over", &[ALICE]);
        assert!(h.platform.state.activity.in_flight().is_empty());
    }
}

#[tokio::test]
async fn a_streamed_call_fetches_until_its_stream_ends() {
    let (h, fake) = setup(|_| {}).await;
    let (_, token) = member(&h, "alice@example.com", "keys", ALICE).await;
    let server_token = server_token(&h, &fake, "keys").await;

    let mut call = LongCall::start(&h, &fake, "keys", &token, STREAM).await;
    let first = call.next_chunk().await;
    assert!(first.contains("notifications/progress"), "{first}");
    // The stream is open, the answer not sent yet: the call is in flight.
    assert_released(
        &h.fetch_credentials(&server_token, &call.proof).await,
        ALICE,
    );
    let identity = call.proof.clone();
    fake.open_gate();
    let rest = call.finish().await;
    assert!(rest.contains("streamed"), "{rest}");
    assert_refused(
        &h.fetch_credentials(&server_token, &identity).await,
        "invalid_identity",
        "is over",
        &[ALICE],
    );
}

#[tokio::test]
async fn one_users_identity_never_fetches_anothers_credentials() {
    let (h, fake) = setup(|_| {}).await;
    let (alice, alice_token) = member(&h, "alice@example.com", "keys", ALICE).await;
    let (_, bob_token) = member(&h, "bob@example.com", "keys", BOB).await;
    let server_token = server_token(&h, &fake, "keys").await;
    let server = h.platform.state.servers.resolve("keys").await.unwrap();

    let alices = LongCall::start(&h, &fake, "keys", &alice_token, WAIT).await;
    let bobs = LongCall::start(&h, &fake, "keys", &bob_token, WAIT).await;
    assert_released(
        &h.fetch_credentials(&server_token, &alices.proof).await,
        ALICE,
    );
    assert_released(&h.fetch_credentials(&server_token, &bobs.proof).await, BOB);

    // Alice's identity naming Bob's call (as a server that mixed up, or forged, the call's id
    // would send), or an identity of Alice through another MCP client naming her own call:
    // refused.
    let state = &h.platform.state;
    let through_another_client = mint_identity(
        &state.keys,
        &state.urls.base(),
        server.id,
        &alice,
        "another-client",
        state.clock.now(),
    );
    for crossed in [
        CallProof {
            call: bobs.proof.call.clone(),
            ..alices.proof.clone()
        },
        CallProof {
            identity: through_another_client,
            ..alices.proof.clone()
        },
    ] {
        let reply = h.fetch_credentials(&server_token, &crossed).await;
        assert_refused(
            &reply,
            "invalid_identity",
            "not this identity's user's call",
            &[ALICE, BOB],
        );
    }

    // Alice's call ends while Bob's goes on: her identity gets nothing, his still works.
    let alice_identity = alices.proof.clone();
    fake.open_gate();
    alices.finish().await;
    assert_refused(
        &h.fetch_credentials(&server_token, &alice_identity).await,
        "invalid_identity",
        "is over",
        &[ALICE, BOB],
    );
    bobs.finish().await;
}

#[tokio::test]
async fn an_identity_of_one_server_is_refused_with_another_servers_token() {
    let (h, fake) = setup(|_| {}).await;
    h.create_server(VAULT_CONFIG, "vault").await;
    h.deploy("vault", 1).await;
    let (alice, token) = member(&h, "alice@example.com", "keys", ALICE).await;
    save(&h, &alice, "vault", CAROL).await;
    let keys_token = server_token(&h, &fake, "keys").await;
    let vault_token = server_token(&h, &fake, "vault").await;
    let vault = h.platform.state.servers.resolve("vault").await.unwrap();

    let call = LongCall::start(&h, &fake, "keys", &token, WAIT).await;
    // The identity of a call to `keys`, presented by `vault`.
    assert_refused(
        &h.fetch_credentials(&vault_token, &call.proof).await,
        "invalid_identity",
        "audience",
        &[ALICE, CAROL],
    );
    // An identity for `vault` naming the live call to `keys`.
    let state = &h.platform.state;
    let moved = CallProof {
        identity: mint_identity(
            &state.keys,
            &state.urls.base(),
            vault.id,
            &alice,
            "test-client",
            state.clock.now(),
        ),
        ..call.proof.clone()
    };
    assert_refused(
        &h.fetch_credentials(&vault_token, &moved).await,
        "invalid_identity",
        "not this identity's user's call to this deployment",
        &[ALICE, CAROL],
    );
    assert_released(&h.fetch_credentials(&keys_token, &call.proof).await, ALICE);
    fake.open_gate();
    call.finish().await;
}

#[tokio::test]
async fn revoking_the_client_or_disabling_the_user_or_the_server_refuses_at_once() {
    let (h, fake) = setup(|_| {}).await;
    h.create_server(VAULT_CONFIG, "vault").await;
    h.deploy("vault", 1).await;
    let (alice, _) = h.user_with_token("alice@example.com", Role::Member).await;
    save(&h, &alice, "keys", ALICE).await;
    let (alice_grant, alice_token) = h.grant_on(alice.id, "keys").await;
    let (bob, bob_token) = member(&h, "bob@example.com", "keys", BOB).await;
    let (_, carol_token) = member(&h, "carol@example.com", "vault", CAROL).await;
    let keys_token = server_token(&h, &fake, "keys").await;
    let vault_token = server_token(&h, &fake, "vault").await;

    let alices = LongCall::start(&h, &fake, "keys", &alice_token, WAIT).await;
    let bobs = LongCall::start(&h, &fake, "keys", &bob_token, WAIT).await;
    let carols = LongCall::start(&h, &fake, "vault", &carol_token, WAIT).await;
    assert_released(
        &h.fetch_credentials(&keys_token, &alices.proof).await,
        ALICE,
    );
    assert_released(&h.fetch_credentials(&keys_token, &bobs.proof).await, BOB);
    assert_released(
        &h.fetch_credentials(&vault_token, &carols.proof).await,
        CAROL,
    );

    // Alice revokes the MCP client on her Clients page, her call still running.
    let (cookie, csrf) = h.session_for(&alice).await;
    let revoked = h
        .form(
            &format!("/clients/{}/revoke", alice_grant.id),
            Some(&cookie),
            &[("csrf", &csrf)],
            &[],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{}", revoked.text);
    assert_refused(
        &h.fetch_credentials(&keys_token, &alices.proof).await,
        "invalid_identity",
        "MCP client of this call was revoked",
        &[ALICE],
    );
    // The other calls are untouched.
    assert_released(&h.fetch_credentials(&keys_token, &bobs.proof).await, BOB);

    // An admin disables Bob.
    disable(&h, &bob).await;
    assert_refused(
        &h.fetch_credentials(&keys_token, &bobs.proof).await,
        "invalid_identity",
        "the user of this call is disabled",
        &[BOB],
    );

    // An admin disables the server `vault`, its process still running.
    let disabled = h
        .admin_api(Method::POST, "/api/servers/vault/disable", None)
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.text);
    assert_refused(
        &h.fetch_credentials(&vault_token, &carols.proof).await,
        "invalid_server_token",
        "the server is disabled",
        &[CAROL],
    );
    // The invalid-token report is refused the same way.
    assert_refused(
        &h.report_invalid(&vault_token, &carols.proof).await,
        "invalid_server_token",
        "the server is disabled",
        &[CAROL],
    );

    fake.open_gate();
    for call in [alices, bobs, carols] {
        call.finish().await;
    }
}

#[tokio::test]
async fn bad_identities_get_a_clear_error_and_change_nothing() {
    let (h, fake) = setup(|_| {}).await;
    let (alice, token) = member(&h, "alice@example.com", "keys", ALICE).await;
    let server_token = server_token(&h, &fake, "keys").await;
    let server = h.platform.state.servers.resolve("keys").await.unwrap();
    let call = LongCall::start(&h, &fake, "keys", &token, WAIT).await;
    let state = &h.platform.state;

    // Alice's own identity, signed by the platform, naming a call that was never forwarded,
    // or naming no call at all.
    let identity = mint_identity(
        &state.keys,
        &state.urls.base(),
        server.id,
        &alice,
        "test-client",
        state.clock.now(),
    );
    assert_refused(
        &h.fetch_credentials(&server_token, &CallProof::new(&identity, "made-up"))
            .await,
        "invalid_identity",
        "is over or was never forwarded",
        &[ALICE],
    );
    let no_call = CallProof {
        identity,
        call: None,
    };
    assert_refused(
        &h.fetch_credentials(&server_token, &no_call).await,
        "invalid_identity",
        "send the Gumstack-Call header",
        &[ALICE],
    );
    let not_a_jwt = CallProof {
        identity: "not-a-jwt".to_owned(),
        ..call.proof.clone()
    };
    assert_refused(
        &h.fetch_credentials(&server_token, &not_a_jwt).await,
        "invalid_identity",
        "was refused",
        &[ALICE],
    );
    assert_refused(
        &h.fetch_credentials("gst_forged", &call.proof).await,
        "invalid_server_token",
        "running deployment",
        &[ALICE],
    );
    // None of it disturbed the call in flight.
    assert_released(
        &h.fetch_credentials(&server_token, &call.proof).await,
        ALICE,
    );
    fake.open_gate();
    call.finish().await;
    assert!(state.activity.in_flight().is_empty());
}

#[tokio::test]
async fn a_call_to_one_deployment_is_refused_with_the_next_deployments_token() {
    let (h, fake) = setup(|_| {}).await;
    let (_, token) = member(&h, "alice@example.com", "keys", ALICE).await;
    let first_token = server_token(&h, &fake, "keys").await;
    let call = LongCall::start(&h, &fake, "keys", &token, WAIT).await;
    assert_released(&h.fetch_credentials(&first_token, &call.proof).await, ALICE);

    // A redeploy goes live while the call is still served by the first process.
    let redeployed = h
        .admin_api(Method::POST, "/api/servers/keys/redeploy", None)
        .await;
    assert_eq!(
        redeployed.status,
        StatusCode::ACCEPTED,
        "{}",
        redeployed.text
    );
    h.deploy("keys", 2).await;
    let second_token = server_token(&h, &fake, "keys").await;
    assert_ne!(first_token, second_token);
    assert_refused(
        &h.fetch_credentials(&second_token, &call.proof).await,
        "invalid_identity",
        "not this identity's user's call to this deployment",
        &[ALICE],
    );
    fake.open_gate();
    call.finish().await;
}

#[tokio::test]
async fn calls_of_one_user_share_an_identity_and_each_has_its_own_id() {
    let clock = Arc::new(ManualClock::starting_now());
    let (h, fake) = setup(|options| options.clock = clock.clone()).await;
    let (alice, token) = member(&h, "alice@example.com", "keys", ALICE).await;
    let server_token = server_token(&h, &fake, "keys").await;

    let first = LongCall::start(&h, &fake, "keys", &token, WAIT).await;
    let second = LongCall::start(&h, &fake, "keys", &token, WAIT).await;
    assert_eq!(
        first.proof.identity, second.proof.identity,
        "one signature serves both calls"
    );
    assert_ne!(first.proof.call, second.proof.call);
    assert_released(
        &h.fetch_credentials(&server_token, &first.proof).await,
        ALICE,
    );
    assert_released(
        &h.fetch_credentials(&server_token, &second.proof).await,
        ALICE,
    );
    let claims = claims_of(&first.proof.identity);
    assert_eq!(claims["sub"], alice.id.to_string());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        IDENTITY_SECONDS
    );
    fake.open_gate();
    let (first_proof, second_proof) = (first.proof.clone(), second.proof.clone());
    first.finish().await;
    second.finish().await;
    // The identity is still valid and still forwarded, but the calls it came with are over.
    for proof in [&first_proof, &second_proof] {
        assert_refused(
            &h.fetch_credentials(&server_token, proof).await,
            "invalid_identity",
            "is over",
            &[ALICE],
        );
    }

    // The identity is forwarded with new calls for IDENTITY_REUSE_SECONDS, then signed anew,
    // so a call always gets one valid for at least IDENTITY_SECONDS - IDENTITY_REUSE_SECONDS.
    fake.close_gate();
    clock.advance(IDENTITY_REUSE_SECONDS - 1);
    let later = LongCall::start(&h, &fake, "keys", &token, WAIT).await;
    assert_eq!(later.proof.identity, first_proof.identity);
    clock.advance(1);
    let renewed = LongCall::start(&h, &fake, "keys", &token, WAIT).await;
    assert_ne!(renewed.proof.identity, first_proof.identity);
    let renewed_claims = claims_of(&renewed.proof.identity);
    assert_eq!(renewed_claims["iat"], clock.now());
    assert_ne!(renewed_claims["jti"], claims["jti"]);
    // The older identity still works for the call it came with.
    assert_released(
        &h.fetch_credentials(&server_token, &later.proof).await,
        ALICE,
    );
    assert_released(
        &h.fetch_credentials(&server_token, &renewed.proof).await,
        ALICE,
    );
    fake.open_gate();
    later.finish().await;
    renewed.finish().await;
}

#[tokio::test]
async fn a_new_group_revocation_or_disabled_user_applies_to_the_next_call_at_once() {
    let (h, fake) = setup(|_| {}).await;
    let (alice, alice_token) = member(&h, "alice@example.com", "keys", ALICE).await;
    let (bob, bob_token) = member(&h, "bob@example.com", "keys", BOB).await;

    let before = LongCall::start(&h, &fake, "keys", &alice_token, WAIT).await;
    assert_eq!(
        claims_of(&before.proof.identity)["grp"],
        alice.group_id.to_string()
    );
    fake.open_gate();
    before.finish().await;

    // Alice moves to another group (which may use the server): her next call's identity
    // names it, with no wait for the identity she was given to age.
    let group = h
        .admin_api(
            Method::POST,
            "/api/groups",
            Some(json!({ "name": "Support" })),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.text);
    let group = group.json()["group"]["id"].as_str().unwrap().to_owned();
    let access = json!({ "enabled": true, "default": "allow", "tools": {} });
    for (uri, body) in [
        (format!("/api/groups/{group}/servers/keys"), Some(access)),
        (format!("/api/groups/{group}/members/{}", alice.id), None),
    ] {
        let put = h.admin_api(Method::PUT, &uri, body).await;
        assert!(put.status.is_success(), "{} {}", put.status, put.text);
    }
    fake.close_gate();
    let after = LongCall::start(&h, &fake, "keys", &alice_token, WAIT).await;
    assert_eq!(claims_of(&after.proof.identity)["grp"], group);
    fake.open_gate();
    after.finish().await;

    // Bob is disabled: his very next call is refused by the gateway.
    let ok = h.request(tool_call("keys", &bob_token, "whoami")).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    disable(&h, &bob).await;
    let refused = h.request(tool_call("keys", &bob_token, "whoami")).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.text);
    assert!(refused.text.contains("revoked"), "{}", refused.text);
}
