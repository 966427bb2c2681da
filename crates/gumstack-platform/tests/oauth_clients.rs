//! OAuth clients of the authorization server, in-process: dynamic registration and its rules
//! and rate limit, confidential clients and their secret, clients that are unknown or present
//! another client's code or token, and client ID metadata documents (and the operator's list of
//! the domains they may come from).

mod common;

use axum::http::{StatusCode, header};
use base64::Engine as _;
use common::oauth::{
    REDIRECT, VERIFIER, approve, assert_oauth_error, authorize_query, exchange, grants_revoked,
    param, public_client, refresh, register, serve_document, setup,
};
use common::{Harness, NONE_CONFIG};
use gumstack_platform::store::{ClientKind, OAuthClient, OAuthStore as _};
use serde_json::json;

#[tokio::test]
async fn unknown_and_other_clients_are_refused() {
    let h = setup().await;
    let (cookie, _) = h.session_for(&h.admin).await;
    let unknown = h
        .get(&authorize_query("gsc_unknown", &[]), Some(&cookie))
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.text.contains("unknown client"), "{}", unknown.text);

    let token = h
        .form(
            "/oauth/token",
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("client_id", "gsc_unknown"),
            ],
            &[],
        )
        .await;
    assert_oauth_error(&token, StatusCode::UNAUTHORIZED, "invalid_client");

    // A code issued to one client is useless to another.
    let a = public_client(&h).await;
    let b = public_client(&h).await;
    let code = param(&approve(&h, &a, &[]).await, "code").unwrap();
    let stolen = exchange(&h, &b, &code, VERIFIER, REDIRECT).await;
    assert_oauth_error(&stolen, StatusCode::BAD_REQUEST, "invalid_grant");
    // ...and cannot burn it either: the rightful client still redeems it.
    let rightful = exchange(&h, &a, &code, VERIFIER, REDIRECT).await;
    assert_eq!(rightful.status, StatusCode::OK, "{}", rightful.text);
    let refresh_token = rightful.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another client presenting the refresh token neither uses it up nor gets tokens.
    let other = refresh(&h, &b, &refresh_token).await;
    assert_oauth_error(&other, StatusCode::BAD_REQUEST, "invalid_grant");
    let revoke = h
        .form(
            "/oauth/revoke",
            None,
            &[("token", &refresh_token), ("client_id", &b)],
            &[],
        )
        .await;
    assert_eq!(revoke.status, StatusCode::OK);
    assert_eq!(
        grants_revoked(&h).await,
        0,
        "another client's revocation does nothing"
    );
    let still = refresh(&h, &a, &refresh_token).await;
    assert_eq!(still.status, StatusCode::OK, "{}", still.text);
}

/// Registration refuses metadata it cannot honour, saying which field is wrong.
#[tokio::test]
async fn registration_refuses_what_it_cannot_honour() {
    let h = setup().await;
    for (body, fragment) in [
        (json!({ "redirect_uris": [] }), "at least one"),
        (
            json!({ "redirect_uris": ["http://evil.example/cb"] }),
            "https",
        ),
        (
            json!({ "redirect_uris": ["https://a.example/cb#x"] }),
            "fragment",
        ),
        (
            json!({ "redirect_uris": ["https://a.example/cb"], "grant_types": ["password"] }),
            "password",
        ),
        (
            json!({ "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt" }),
            "not supported",
        ),
    ] {
        let reply = register(&h, body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
        assert!(
            reply.json()["error_description"]
                .as_str()
                .unwrap()
                .contains(fragment),
            "{}",
            reply.text
        );
    }
}

#[tokio::test]
async fn confidential_clients_authenticate_with_their_secret() {
    let h = setup().await;
    let reply = register(
        &h,
        json!({ "redirect_uris": [REDIRECT], "client_name": "Server app" }),
    )
    .await;
    let client = reply.json();
    let id = client["client_id"].as_str().unwrap().to_owned();
    let secret = client["client_secret"].as_str().unwrap().to_owned();
    assert!(
        client["client_secret_expires_at"].as_i64().unwrap() > 0,
        "registrations expire"
    );
    let code = param(&approve(&h, &id, &[]).await, "code").unwrap();
    let basic = |s: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{s}"))
        )
    };
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", VERIFIER),
        ("redirect_uri", REDIRECT),
    ];
    let wrong = h
        .form(
            "/oauth/token",
            None,
            &pairs,
            &[("authorization", &basic("wrong"))],
        )
        .await;
    assert_oauth_error(&wrong, StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(wrong.headers.contains_key(header::WWW_AUTHENTICATE));
    let missing = h
        .form(
            "/oauth/token",
            None,
            &[
                ("client_id", id.as_str()),
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
            ],
            &[],
        )
        .await;
    assert_oauth_error(&missing, StatusCode::UNAUTHORIZED, "invalid_client");
    let ok = h
        .form(
            "/oauth/token",
            None,
            &pairs,
            &[("authorization", &basic(&secret))],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
}

#[tokio::test]
async fn registration_is_rate_limited_per_address() {
    let h = setup().await;
    for _ in 0..20 {
        public_client(&h).await;
    }
    let limited = register(
        &h,
        json!({ "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none" }),
    )
    .await;
    assert_oauth_error(&limited, StatusCode::TOO_MANY_REQUESTS, "slow_down");
    assert_eq!(h.count("SELECT COUNT(*) FROM oauth_clients").await, 20);
}

#[tokio::test]
async fn a_metadata_document_at_an_internal_address_is_refused_by_default() {
    let h = setup().await;
    let (cookie, _) = h.session_for(&h.admin).await;
    for client_id in [
        "http://127.0.0.1:9/client.json",
        "https://127.0.0.1:9/client.json",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/client.json",
        "https://[::1]/client.json",
    ] {
        let reply = h.get(&authorize_query(client_id, &[]), Some(&cookie)).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{client_id}: {}",
            reply.text
        );
        assert!(
            reply.text.contains("internal address") || reply.text.contains("https URL"),
            "{client_id}: {}",
            reply.text
        );
    }
    assert_eq!(h.count("SELECT COUNT(*) FROM oauth_clients").await, 0);
}

#[tokio::test]
async fn a_client_id_metadata_document_completes_the_flow_with_the_test_setting() {
    let h = Harness::with_loopback_documents().await;
    h.create_server(NONE_CONFIG, "greeter").await;
    let url = serve_document(|url| {
        json!({ "client_id": url, "client_name": "Doc Client", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none" })
    })
    .await;
    let back = approve(&h, &url, &[]).await;
    let code = param(&back, "code").unwrap();
    let tokens = exchange(&h, &url, &code, VERIFIER, REDIRECT).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);

    // A document whose client_id is not its URL is refused.
    let lying = serve_document(
        |_| json!({ "client_id": "https://someone.else/client.json", "redirect_uris": [REDIRECT] }),
    )
    .await;
    let (cookie, _) = h.session_for(&h.admin).await;
    let reply = h.get(&authorize_query(&lying, &[]), Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.text.contains("does not equal its URL"),
        "{}",
        reply.text
    );
}

/// An operator's client ID domains (`--client-id-domain`): a document outside them is never
/// fetched, one inside completes the flow, one fetched earlier and kept in the store is
/// refused too; dynamically registered clients are not affected.
#[tokio::test]
async fn client_id_domains_limit_metadata_documents_to_the_operators_list() {
    let h = Harness::build_with(|options| {
        options.allow_loopback_metadata_documents = true;
        options.client_id_domains = vec!["Clients.Example.org.".into(), "127.0.0.1".into()];
    })
    .await;
    h.create_server(NONE_CONFIG, "greeter").await;
    let (cookie, _) = h.session_for(&h.admin).await;

    // Inside the list (the host equals an entry): the flow completes.
    let url = serve_document(
        |url| json!({ "client_id": url, "client_name": "Doc Client", "redirect_uris": [REDIRECT] }),
    )
    .await;
    let code = param(&approve(&h, &url, &[]).await, "code").unwrap();
    let tokens = exchange(&h, &url, &code, VERIFIER, REDIRECT).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);

    // Outside it: refused before any fetch, with the list named; nothing stored.
    let clients_before = h.count("SELECT COUNT(*) FROM oauth_clients").await;
    for outside in [
        "https://evil.example/client.json",
        "https://notclients.example.org/client.json",
        "https://clients.example.org.evil.example/client.json",
    ] {
        let reply = h.get(&authorize_query(outside, &[]), Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{outside}");
        assert!(
            reply
                .text
                .contains("accepts client IDs only from clients.example.org, 127.0.0.1"),
            "{outside}: {}",
            reply.text
        );
    }
    assert_eq!(
        h.count("SELECT COUNT(*) FROM oauth_clients").await,
        clients_before
    );

    // A document client stored earlier (fetched before the operator set the list) and not
    // expired is refused as well.
    let now = gumstack_platform::clock::Clock::now(&gumstack_platform::clock::SystemClock);
    let stored = "https://old.example.net/client.json";
    h.store
        .upsert_oauth_client(&OAuthClient {
            client_id: stored.into(),
            kind: ClientKind::MetadataDocument,
            client_name: Some("Old".into()),
            redirect_uris: vec![REDIRECT.into()],
            auth_method: "none".into(),
            secret_hash: None,
            metadata_json: "{}".into(),
            created_at: now,
            expires_at: now + 3600,
        })
        .await
        .unwrap();
    let reply = h.get(&authorize_query(stored, &[]), Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.text.contains("accepts client IDs only from"),
        "{}",
        reply.text
    );

    // A subdomain of an entry passes the list (and then fails only at the fetch: no such
    // host here).
    let sub = h
        .get(
            &authorize_query("https://app.clients.example.org/client.json", &[]),
            Some(&cookie),
        )
        .await;
    assert_eq!(sub.status, StatusCode::BAD_REQUEST);
    assert!(
        !sub.text.contains("accepts client IDs only from"),
        "{}",
        sub.text
    );

    // Dynamic registration still works.
    let registered = public_client(&h).await;
    assert!(param(&approve(&h, &registered, &[]).await, "code").is_some());
}
