//! The authorization endpoint, in-process: PKCE, exact redirect URIs and the resource a token
//! is bound to. A refusal before the user acted is a page with a link back to the client, never
//! an automatic redirect, and grants nothing.

mod common;

use axum::http::{StatusCode, header};
use common::oauth::{
    ISSUER, REDIRECT, VERIFIER, approve, assert_oauth_error, authorize_query, error_link, exchange,
    param, public_client, setup, token_request,
};

#[tokio::test]
async fn pkce_is_required_and_checked() {
    let h = setup().await;
    let client = public_client(&h).await;
    let (cookie, _) = h.session_for(&h.admin).await;
    for (extra, description) in [
        (
            vec![("code_challenge", ""), ("code_challenge_method", "")],
            "PKCE is required",
        ),
        (vec![("code_challenge_method", "plain")], "must be S256"),
        (vec![("code_challenge_method", "")], "must be S256"),
    ] {
        let reply = h
            .get(&authorize_query(&client, &extra), Some(&cookie))
            .await;
        let back = error_link(&reply);
        assert_eq!(param(&back, "error").as_deref(), Some("invalid_request"));
        assert!(
            param(&back, "error_description")
                .unwrap()
                .contains(description)
        );
        assert_eq!(param(&back, "state").as_deref(), Some("xyz-state"));
        assert_eq!(param(&back, "iss").as_deref(), Some(ISSUER));
        assert!(param(&back, "code").is_none());
    }
    // The wrong verifier at the token endpoint.
    let code = param(&approve(&h, &client, &[]).await, "code").unwrap();
    let wrong = exchange(&h, &client, &code, &"x".repeat(50), REDIRECT).await;
    assert_oauth_error(&wrong, StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(
        h.count("SELECT COUNT(*) FROM oauth_refresh_tokens").await,
        0,
        "nothing granted"
    );
}

#[tokio::test]
async fn redirect_uris_must_match_exactly() {
    let h = setup().await;
    let client = public_client(&h).await;
    let (cookie, _) = h.session_for(&h.admin).await;
    // Another URI: an error page, never a redirect to it.
    let evil = h
        .get(
            &authorize_query(&client, &[("redirect_uri", "https://evil.example/cb")]),
            Some(&cookie),
        )
        .await;
    assert_eq!(evil.status, StatusCode::BAD_REQUEST);
    assert!(evil.text.contains("does not match"));
    assert!(evil.headers.get(header::LOCATION).is_none());
    // A loopback URI on another port is the same client (RFC 8252); another path is not.
    let other_port = "http://127.0.0.1:9999/callback";
    let back = approve(&h, &client, &[("redirect_uri", other_port)]).await;
    assert!(back.as_str().starts_with(other_port));
    let code = param(&back, "code").unwrap();
    // The token request must repeat the exact redirect URI.
    let mismatch = exchange(&h, &client, &code, VERIFIER, REDIRECT).await;
    assert_oauth_error(&mismatch, StatusCode::BAD_REQUEST, "invalid_grant");
    let path = h
        .get(
            &authorize_query(&client, &[("redirect_uri", "http://127.0.0.1:7777/other")]),
            Some(&cookie),
        )
        .await;
    assert_eq!(path.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn resources_bind_tokens_to_one_server() {
    let h = setup().await;
    let client = public_client(&h).await;
    let (cookie, _) = h.session_for(&h.admin).await;
    for resource in [
        "",
        "http://127.0.0.1:8080/mcp/nope",
        "https://elsewhere.example/mcp/greeter",
    ] {
        let reply = h
            .get(
                &authorize_query(&client, &[("resource", resource)]),
                Some(&cookie),
            )
            .await;
        let back = error_link(&reply);
        assert_eq!(
            param(&back, "error").as_deref(),
            Some("invalid_target"),
            "{resource}"
        );
    }
    // Exchanging for another resource than authorized is refused.
    let code = param(&approve(&h, &client, &[]).await, "code").unwrap();
    let other = token_request(
        &h,
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", REDIRECT),
            ("resource", "http://127.0.0.1:8080/mcp/other"),
        ],
    )
    .await;
    assert_oauth_error(&other, StatusCode::BAD_REQUEST, "invalid_target");
}
