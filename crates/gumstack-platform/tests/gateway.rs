//! The gateway's refusals, in-process: every request without a valid token for this server is
//! answered 401 with the RFC 9728 challenge, and nothing reaches a server process.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{Harness, NONE_CONFIG};
use gumstack_platform::oauth::tokens::{ACCESS_TOKEN_TYP, AccessClaims, issue_access_token};
use gumstack_platform::store::{Grant, Uuid, now};
use serde_json::json;

const HOST: &str = "127.0.0.1:8080";
const CHALLENGE_A: &str = "Bearer resource_metadata=\"http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp/alpha\"";

async fn call(
    h: &Harness,
    slug: &str,
    token: Option<&str>,
    extra: &[(&str, &str)],
) -> common::Reply {
    let mut req = Request::post(format!("/mcp/{slug}"))
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream");
    if let Some(token) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    h.request(req.body(Body::from(body)).unwrap()).await
}

/// A grant for the admin on `slug`, and an access token for it.
async fn token_for(h: &Harness, slug: &str) -> (Grant, String) {
    let server = h.platform.state.servers.resolve(slug).await.unwrap();
    let grant = Grant {
        id: Uuid::new_v4(),
        user_id: h.admin.id,
        client_id: "test-client".into(),
        server_id: server.id,
        resource: h.platform.state.urls.mcp_url(slug),
        scope: None,
        created_at: now(),
        revoked_at: None,
    };
    h.platform.state.store.insert_grant(&grant).await.unwrap();
    let token = issue_access_token(
        &h.platform.state.keys,
        &h.platform.state.urls.base(),
        &grant,
        h.platform.state.clock.now(),
    );
    (grant, token)
}

async fn setup() -> Harness {
    let h = Harness::new().await;
    h.create_server(NONE_CONFIG, "alpha").await;
    h.create_server(NONE_CONFIG, "beta").await;
    h
}

fn assert_challenge(reply: &common::Reply, error: Option<&str>) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    let challenge = reply.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.starts_with(CHALLENGE_A), "{challenge}");
    match error {
        None => assert!(!challenge.contains("error="), "{challenge}"),
        Some(fragment) => {
            assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
            assert!(challenge.contains(fragment), "{challenge}");
        }
    }
}

#[tokio::test]
async fn no_token_gets_the_resource_metadata_challenge() {
    let h = setup().await;
    assert_challenge(&call(&h, "alpha", None, &[]).await, None);
}

#[tokio::test]
async fn expired_tampered_foreign_and_revoked_tokens_are_refused() {
    let h = setup().await;
    let state = &h.platform.state;
    let (grant, token) = token_for(&h, "alpha").await;

    // Expired: signed by the platform, an hour and more in the past.
    let expired = state.keys.sign(
        ACCESS_TOKEN_TYP,
        &AccessClaims {
            iss: state.urls.base(),
            sub: h.admin.id.to_string(),
            aud: state.urls.mcp_url("alpha"),
            client_id: "test-client".into(),
            gid: grant.id.to_string(),
            scope: None,
            iat: now() - 7200,
            exp: now() - 3600,
            jti: Uuid::new_v4().to_string(),
        },
    );
    assert_challenge(
        &call(&h, "alpha", Some(&expired), &[]).await,
        Some("expired"),
    );

    // Tampered: the payload edited, the signature kept.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = parts[1].chars().rev().collect();
    let tampered = parts.join(".");
    assert_challenge(
        &call(&h, "alpha", Some(&tampered), &[]).await,
        Some("invalid_token"),
    );

    // A token for alpha used on beta: beta's challenge, audience named.
    let foreign = call(&h, "beta", Some(&token), &[]).await;
    assert_eq!(foreign.status, StatusCode::UNAUTHORIZED);
    let challenge = foreign.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.contains("/mcp/beta\""), "{challenge}");
    assert!(challenge.contains("another audience"), "{challenge}");

    // An admin API token is not an access token.
    assert_challenge(
        &call(&h, "alpha", Some(&h.admin_token), &[]).await,
        Some("invalid_token"),
    );

    // The valid token passes authentication; alpha is not running in this in-process test.
    let ok = call(&h, "alpha", Some(&token), &[]).await;
    assert_eq!(ok.status, StatusCode::SERVICE_UNAVAILABLE, "{}", ok.text);
    // Once verified (and remembered by the gateway), it is still alpha's only.
    let again_on_beta = call(&h, "beta", Some(&token), &[]).await;
    assert_eq!(again_on_beta.status, StatusCode::UNAUTHORIZED);

    // Revoked: the same token is now refused.
    state.store.revoke_grant(grant.id, now()).await.unwrap();
    assert_challenge(&call(&h, "alpha", Some(&token), &[]).await, Some("revoked"));
}

#[tokio::test]
async fn foreign_hosts_and_origins_are_refused() {
    let h = setup().await;
    let (_, token) = token_for(&h, "alpha").await;
    let req = Request::post("/mcp/alpha")
        .header(header::HOST, "evil.example")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(h.request(req).await.status, StatusCode::FORBIDDEN);
    let origin = call(
        &h,
        "alpha",
        Some(&token),
        &[("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(origin.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn unknown_servers_and_disabled_servers() {
    let h = setup().await;
    let (_, token) = token_for(&h, "alpha").await;
    // A token can't be valid for a server that does not exist (its audience names another).
    let unknown = call(&h, "nope", Some(&token), &[]).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    h.platform
        .state
        .servers
        .set_enabled("alpha", false)
        .await
        .unwrap();
    let disabled = call(&h, "alpha", Some(&token), &[]).await;
    assert_eq!(disabled.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(disabled.text.contains("disabled"), "{}", disabled.text);
}
