//! `cred` servers: the end user's credential form and the route server processes fetch the
//! values from (during a call through the gateway to a stand-in server), with the attacks
//! that matter (CSRF, another user's values, a foreign server token, an identity for another
//! server, a moved ciphertext). `call_scope.rs` has the rest: when a call's identity stops
//! fetching.

mod common;

use std::sync::Arc;

use axum::http::{StatusCode, header};
use common::calls::{CallProof, LongCall};
use common::fake_server::{FakeRuntime, WAIT};
use common::{Harness, NONE_CONFIG, Reply};
use gumstack_platform::oauth::tokens::{IDENTITY_TYP, IdentityClaims, server_audience};
use gumstack_platform::store::{Role, Server, Uuid, now};
use secrecy::ExposeSecret as _;

const CONFIG: &str = "name: Key Echo\nauth:\n  type: cred\n  credentials:\n    - name: api_key\n      label: \"API <i>key</i>\"\n      secret: true\n    - name: region\n      label: Region\n      required: false\n";
const SECRET: &str = "sk-live-abcdef123434";

async fn setup() -> (Harness, Server) {
    let h = Harness::new().await;
    h.create_server(CONFIG, "keys").await;
    let server = h.platform.state.servers.resolve("keys").await.unwrap();
    (h, server)
}

async fn save(h: &Harness, cookie: &str, csrf: &str, pairs: &[(&str, &str)]) -> Reply {
    let mut all = vec![("csrf", csrf)];
    all.extend_from_slice(pairs);
    h.form("/connections/keys", Some(cookie), &all, &[]).await
}

async fn stored(h: &Harness) -> i64 {
    h.count("SELECT COUNT(*) FROM credentials").await
}

#[tokio::test]
async fn users_save_replace_and_delete_their_credentials_through_the_form() {
    let (h, _) = setup().await;
    let (member, _) = h.user_with_token("member@example.com", Role::Member).await;
    let (cookie, csrf) = h.session_for(&member).await;

    let list = h.get("/connections", Some(&cookie)).await;
    assert!(
        list.text.contains("Key Echo") && list.text.contains("not set up"),
        "{}",
        list.text
    );
    let form = h.get("/connections/keys", Some(&cookie)).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.text.contains("type=\"password\""),
        "secret fields are password inputs"
    );
    assert!(
        form.text.contains("API &lt;i&gt;key&lt;/i&gt;"),
        "labels are escaped"
    );
    assert!(!form.text.contains("<i>key</i>"));

    // No CSRF token, or a stale one: refused, nothing stored.
    let forged = h
        .form(
            "/connections/keys",
            Some(&cookie),
            &[("api_key", SECRET)],
            &[],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let stale = save(&h, &cookie, "stale", &[("api_key", SECRET)]).await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);
    // A required field missing: a clear error, what was typed kept, nothing stored.
    let missing = save(
        &h,
        &cookie,
        &csrf,
        &[("api_key", ""), ("region", "eu-west")],
    )
    .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.text.contains("is required"), "{}", missing.text);
    assert!(
        missing.text.contains("value=\"eu-west\""),
        "non-secret input kept"
    );
    assert_eq!(stored(&h).await, 0);

    let ok = save(
        &h,
        &cookie,
        &csrf,
        &[("api_key", SECRET), ("region", "eu-west")],
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    let page = h.get("/connections/keys", Some(&cookie)).await;
    assert!(page.text.contains("set · ends in ••34"), "{}", page.text);
    assert!(
        !page.text.contains(SECRET) && !page.text.contains("abcdef"),
        "secrets are write-only"
    );
    // At rest: sealed.
    let blob: Vec<u8> = sqlx::query_scalar("SELECT values_ciphertext FROM credentials")
        .fetch_one(h.store.pool())
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&blob).contains("abcdef"));

    // An empty secret keeps the saved one; a new one replaces it.
    let server = h.platform.state.servers.resolve("keys").await.unwrap();
    assert_eq!(
        save(&h, &cookie, &csrf, &[("api_key", ""), ("region", "us")])
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let values = h
        .platform
        .state
        .credentials
        .values(member.id, &server)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(values["api_key"].expose_secret(), SECRET);
    assert_eq!(values["region"].expose_secret(), "us");
    assert_eq!(
        save(&h, &cookie, &csrf, &[("api_key", "sk-new-9999999999")])
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let values = h
        .platform
        .state
        .credentials
        .values(member.id, &server)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(values["api_key"].expose_secret(), "sk-new-9999999999");
    assert!(
        !values.contains_key("region"),
        "an emptied optional field is cleared"
    );

    let deleted = h
        .form(
            "/connections/keys/delete",
            Some(&cookie),
            &[("csrf", &csrf)],
            &[],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(stored(&h).await, 0);
}

#[tokio::test]
async fn one_user_cannot_read_or_overwrite_anothers_credentials() {
    let (h, server) = setup().await;
    let (alice, _) = h.user_with_token("alice@example.com", Role::Member).await;
    let (bob, _) = h.user_with_token("bob@example.com", Role::Member).await;
    let (alice_cookie, alice_csrf) = h.session_for(&alice).await;
    let (bob_cookie, bob_csrf) = h.session_for(&bob).await;
    save(&h, &alice_cookie, &alice_csrf, &[("api_key", SECRET)]).await;

    let bobs_view = h.get("/connections/keys", Some(&bob_cookie)).await;
    assert!(
        !bobs_view.text.contains("ends in"),
        "Bob sees nothing of Alice's"
    );
    // Bob's CSRF token is not Alice's: a form Bob forges with his own token can't act as her.
    let cross = save(
        &h,
        &alice_cookie,
        &bob_csrf,
        &[("api_key", "sk-bob-000000000")],
    )
    .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    save(
        &h,
        &bob_cookie,
        &bob_csrf,
        &[("api_key", "sk-bob-000000000")],
    )
    .await;
    let alices = h
        .platform
        .state
        .credentials
        .values(alice.id, &server)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alices["api_key"].expose_secret(), SECRET);

    // A ciphertext moved into another user's row does not decrypt.
    sqlx::query(
        "UPDATE credentials SET values_ciphertext =
            (SELECT values_ciphertext FROM credentials WHERE user_id = ?) WHERE user_id = ?",
    )
    .bind(alice.id.to_string())
    .bind(bob.id.to_string())
    .execute(h.store.pool())
    .await
    .unwrap();
    let err = h
        .platform
        .state
        .credentials
        .values(bob.id, &server)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("belongs to another row"), "{err}");
}

/// The server token of `slug`'s live deployment, as its process has it.
async fn server_token(h: &Harness, fake: &FakeRuntime, slug: &str) -> String {
    let server = h.platform.state.servers.resolve(slug).await.unwrap();
    fake.server_token(&server.id.to_string())
}

#[tokio::test]
async fn server_processes_fetch_the_callers_credentials_only_with_both_proofs() {
    let fake = FakeRuntime::default();
    let h = Harness::build_with_runtime(Arc::new(fake.clone()), |_| {}).await;
    h.create_server(CONFIG, "keys").await;
    h.create_server(NONE_CONFIG, "other").await;
    h.deploy("keys", 1).await;
    h.deploy("other", 1).await;
    let server = h.platform.state.servers.resolve("keys").await.unwrap();
    let (alice, _) = h.user_with_token("alice@example.com", Role::Member).await;
    let (cookie, csrf) = h.session_for(&alice).await;
    let (_, alice_token) = h.grant_on(alice.id, "keys").await;
    let (_, admin_token) = h.grant_on(h.admin.id, "keys").await;
    let (_, other_token) = h.grant_on(alice.id, "other").await;
    let token = server_token(&h, &fake, "keys").await;
    let alices = LongCall::start(&h, &fake, "keys", &alice_token, WAIT).await;
    let admins = LongCall::start(&h, &fake, "keys", &admin_token, WAIT).await;
    let others = LongCall::start(&h, &fake, "other", &other_token, WAIT).await;
    let identity = alices.proof.clone();

    // Not entered yet: 409 with the form's URL.
    let missing = h.fetch_credentials(&token, &identity).await;
    assert_eq!(missing.status, StatusCode::CONFLICT, "{}", missing.text);
    assert_eq!(missing.json()["error"]["code"], "credentials_required");
    assert_eq!(
        missing.json()["error"]["connect_url"],
        "http://127.0.0.1:8080/connections/keys"
    );

    save(&h, &cookie, &csrf, &[("api_key", SECRET), ("region", "eu")]).await;
    let ok = h.fetch_credentials(&token, &identity).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(ok.json()["credentials"]["api_key"], SECRET);
    assert_eq!(ok.json()["credentials"]["region"], "eu");

    // The admin (another user) calling gets their own (none), never Alice's.
    let admins_reply = h.fetch_credentials(&token, &admins.proof).await;
    assert_eq!(admins_reply.status, StatusCode::CONFLICT);

    // A server token that is not a running deployment's.
    let forged = h.fetch_credentials("gst_forged", &identity).await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    assert_eq!(forged.json()["error"]["code"], "invalid_server_token");
    assert!(!forged.text.contains(SECRET));

    // An identity minted for another server (e.g. replayed by that server) is refused.
    let foreign = h.fetch_credentials(&token, &others.proof).await;
    assert_eq!(foreign.status, StatusCode::UNAUTHORIZED);
    assert_eq!(foreign.json()["error"]["code"], "invalid_identity");
    // The other server's own token with Alice's identity for it: `none` has no credentials.
    let other_server_token = server_token(&h, &fake, "other").await;
    let none = h
        .fetch_credentials(&other_server_token, &others.proof)
        .await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST);
    assert_eq!(none.json()["error"]["code"], "not_supported");

    // An expired identity: the call it was minted for is over.
    let state = &h.platform.state;
    let expired = state.keys.sign(
        IDENTITY_TYP,
        &IdentityClaims {
            iss: state.urls.base(),
            aud: server_audience(server.id),
            sub: alice.id.to_string(),
            email: alice.email.clone(),
            org: alice.org_id.to_string(),
            grp: alice.group_id.to_string(),
            cid: "test-client".into(),
            jti: Uuid::new_v4().to_string(),
            iat: now() - 4000,
            exp: now() - 3000,
        },
    );
    // (With the id of Alice's call, still in flight.)
    let expired = CallProof {
        identity: expired,
        ..identity.clone()
    };
    let late = h.fetch_credentials(&token, &expired).await;
    assert_eq!(late.status, StatusCode::UNAUTHORIZED);
    assert!(!late.text.contains(SECRET));
    let nothing = CallProof {
        identity: String::new(),
        call: None,
    };
    let none_at_all = h.fetch_credentials(&token, &nothing).await;
    assert_eq!(none_at_all.status, StatusCode::UNAUTHORIZED);

    fake.open_gate();
    for call in [alices, admins, others] {
        call.finish().await;
    }
}
