//! `/api/me/credentials/{server}`: a user's own credentials for a `cred` server over the JSON
//! API. Secrets are write-only, and one user can neither read nor overwrite another's.

mod common;

use axum::http::{Method, StatusCode};
use common::{Harness, NONE_CONFIG};
use gumstack_platform::store::Role;
use secrecy::ExposeSecret as _;
use serde_json::json;

const CONFIG: &str = "name: Key Echo\nauth:\n  type: cred\n  credentials:\n    - name: api_key\n      label: API key\n      secret: true\n    - name: region\n      label: Region\n      required: false\n";
const ALICE_KEY: &str = "sk-alice-secret-000011";
const BOB_KEY: &str = "sk-bob-secret-999922";

const URI: &str = "/api/me/credentials/keys";

#[tokio::test]
async fn users_manage_only_their_own_credentials_and_never_read_a_secret_back() {
    let h = Harness::new().await;
    h.create_server(CONFIG, "keys").await;
    h.create_server(NONE_CONFIG, "greeter").await;
    let (alice, alice_token) = h.user_with_token("alice@example.com", Role::Member).await;
    let (bob, bob_token) = h.user_with_token("bob@example.com", Role::Member).await;

    let empty = h.api(Method::GET, URI, Some(&alice_token), None).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.text);
    let fields = empty.json()["fields"].clone();
    assert_eq!(fields[0]["name"], "api_key");
    assert_eq!(fields[0]["secret"], true);
    assert_eq!(fields[0]["set"], false);

    let saved = h
        .api(
            Method::PUT,
            URI,
            Some(&alice_token),
            Some(json!({ "values": { "api_key": ALICE_KEY, "region": "eu" } })),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    assert!(!saved.text.contains(ALICE_KEY), "the secret is not echoed");
    assert_eq!(saved.json()["fields"][0]["hint"], "set · ends in ••11");
    assert_eq!(saved.json()["fields"][1]["hint"], "eu");

    // Bob sees nothing of Alice's, and his own save leaves hers alone.
    let bobs_view = h.api(Method::GET, URI, Some(&bob_token), None).await;
    assert_eq!(bobs_view.json()["fields"][0]["set"], false);
    assert!(!bobs_view.text.contains("11"), "{}", bobs_view.text);
    let bob_saves = h
        .api(
            Method::PUT,
            URI,
            Some(&bob_token),
            Some(json!({ "values": { "api_key": BOB_KEY } })),
        )
        .await;
    assert_eq!(bob_saves.status, StatusCode::OK);
    let server = h.platform.state.servers.resolve("keys").await.unwrap();
    let alices = h
        .platform
        .state
        .credentials
        .values(alice.id, &server)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alices["api_key"].expose_secret(), ALICE_KEY);
    let bobs = h
        .platform
        .state
        .credentials
        .values(bob.id, &server)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bobs["api_key"].expose_secret(), BOB_KEY);
    // Bob deleting deletes his own only.
    let deleted = h.api(Method::DELETE, URI, Some(&bob_token), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let again = h.api(Method::DELETE, URI, Some(&bob_token), None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let still = h.api(Method::GET, URI, Some(&alice_token), None).await;
    assert_eq!(still.json()["fields"][0]["set"], true);

    // A secret left out keeps its value; a required one can't be emptied without a value.
    let region_only = h
        .api(
            Method::PUT,
            URI,
            Some(&alice_token),
            Some(json!({ "values": { "region": "us" } })),
        )
        .await;
    assert_eq!(region_only.status, StatusCode::OK);
    assert_eq!(
        region_only.json()["fields"][0]["hint"],
        "set · ends in ••11"
    );
    let fresh = h.user_with_token("carol@example.com", Role::Member).await.1;
    h.api(
        Method::PUT,
        URI,
        Some(&fresh),
        Some(json!({ "values": { "region": "x" } })),
    )
    .await
    .assert_error(
        StatusCode::BAD_REQUEST,
        "invalid_credentials",
        "API key is required",
    );
    h.api(
        Method::PUT,
        URI,
        Some(&alice_token),
        Some(json!({ "values": { "api_kee": "typo" } })),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "unknown_field", "api_kee");
    h.api(
        Method::PUT,
        URI,
        Some(&alice_token),
        Some(json!({ "values": {}, "user_id": bob.id.to_string() })),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_json", "user_id");

    // Only `cred` servers, and only with a token.
    h.api(
        Method::GET,
        "/api/me/credentials/greeter",
        Some(&alice_token),
        None,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found", "takes no credentials");
    let anonymous = h.api(Method::GET, URI, None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}
