//! The authorization endpoint, in-process: PKCE, exact redirect URIs and the resource a token
//! is bound to. A refusal before the user acted is a page with a link back to the client, never
//! an automatic redirect, and grants nothing. Consent is remembered per user × client × server
//! until revoked.

mod common;

use axum::http::{StatusCode, header};
use common::oauth::{
    ISSUER, REDIRECT, VERIFIER, approve, assert_oauth_error, authorize_query, error_link, exchange,
    param, public_client, setup, token_request,
};
use common::{Harness, NONE_CONFIG};
use gumstack_platform::store::{OAuthStore as _, Role};
use url::Url;

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

/// What the client receives when `user` (a session) opens the authorization URL: the consent
/// page (`None`) or, when the consent is remembered, a redirect with a code at once.
async fn opened(h: &Harness, cookie: &str, client: &str, extra: &[(&str, &str)]) -> Option<Url> {
    let reply = h.get(&authorize_query(client, extra), Some(cookie)).await;
    match reply.status {
        StatusCode::OK => {
            assert!(reply.text.contains("Allow"), "{}", reply.text);
            None
        }
        StatusCode::SEE_OTHER => {
            Some(Url::parse(reply.headers[header::LOCATION].to_str().unwrap()).unwrap())
        }
        other => panic!("{other}: {}", reply.text),
    }
}

#[tokio::test]
async fn consent_is_remembered_per_user_client_and_server_until_revoked() {
    let h = setup().await;
    h.create_server(NONE_CONFIG, "other").await;
    let client = public_client(&h).await;
    let (cookie, csrf) = h.session_for(&h.admin).await;
    let read = [("scope", "tools:read")];

    // The first time the page asks; once allowed, the same request gets a code at once, with
    // the client's state and the issuer, and the code works.
    assert_eq!(opened(&h, &cookie, &client, &read).await, None);
    let first = approve(&h, &client, &read).await;
    let again = opened(&h, &cookie, &client, &read)
        .await
        .expect("no page the second time");
    assert!(again.as_str().starts_with(REDIRECT), "{again}");
    assert_eq!(param(&again, "state").as_deref(), Some("xyz-state"));
    assert_eq!(param(&again, "iss").as_deref(), Some(ISSUER));
    let code = param(&again, "code").unwrap();
    assert_ne!(Some(&code), param(&first, "code").as_ref());
    let reply = exchange(&h, &client, &code, VERIFIER, REDIRECT).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    // Under the grant the user approved: one entry on the MCP clients page, not two.
    let grants = h.store.user_grants(h.admin.id).await.unwrap();
    assert_eq!(grants.len(), 1, "{grants:?}");
    // Fewer scopes than allowed, or none, are covered too.
    assert!(opened(&h, &cookie, &client, &[]).await.is_some());

    // More scopes, another server, `prompt=consent`: asked again.
    let more = [("scope", "tools:read tools:write")];
    assert_eq!(opened(&h, &cookie, &client, &more).await, None);
    let other = [("resource", "http://127.0.0.1:8080/mcp/other")];
    assert_eq!(opened(&h, &cookie, &client, &other).await, None);
    let forced = [("scope", "tools:read"), ("prompt", "login consent")];
    assert_eq!(opened(&h, &cookie, &client, &forced).await, None);
    // The registered loopback redirect URI on another port: allowed (RFC 8252), but any local
    // program could listen there, so the user is asked.
    let other_port = [
        ("scope", "tools:read"),
        ("redirect_uri", "http://127.0.0.1:9999/callback"),
    ];
    assert_eq!(opened(&h, &cookie, &client, &other_port).await, None);

    // Another user of the same client is asked for their own consent.
    let (member, _) = h.user_with_token("member@example.com", Role::Member).await;
    let (member_cookie, _) = h.session_for(&member).await;
    assert_eq!(opened(&h, &member_cookie, &client, &read).await, None);

    // Another client is asked too.
    let second_client = public_client(&h).await;
    assert_eq!(opened(&h, &cookie, &second_client, &read).await, None);

    // Revoked on the MCP clients page: asked again, and a code remembered from before the
    // revocation no longer works.
    let stale = param(&opened(&h, &cookie, &client, &read).await.unwrap(), "code").unwrap();
    let revoked = h
        .form(
            &format!("/clients/{}/revoke", grants[0].grant.id),
            Some(&cookie),
            &[("csrf", &csrf)],
            &[],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{}", revoked.text);
    assert_eq!(opened(&h, &cookie, &client, &read).await, None);
    let refused = exchange(&h, &client, &stale, VERIFIER, REDIRECT).await;
    assert_oauth_error(&refused, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn a_remembered_consent_still_checks_the_request() {
    let h = setup().await;
    let client = public_client(&h).await;
    let (cookie, _) = h.session_for(&h.admin).await;
    approve(&h, &client, &[]).await;
    // A redirect URI the client never registered: a page, never a redirect with a code.
    let evil = h
        .get(
            &authorize_query(&client, &[("redirect_uri", "https://evil.example/cb")]),
            Some(&cookie),
        )
        .await;
    assert_eq!(evil.status, StatusCode::BAD_REQUEST);
    assert!(evil.headers.get(header::LOCATION).is_none());
    // No PKCE: an error for the client, no code.
    let plain = h
        .get(
            &authorize_query(&client, &[("code_challenge_method", "plain")]),
            Some(&cookie),
        )
        .await;
    assert!(param(&error_link(&plain), "code").is_none());
    // Signed out: the login page first, whatever was consented.
    let anonymous = h.get(&authorize_query(&client, &[]), None).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    let location = anonymous.headers[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with("/login?next="), "{location}");
}
