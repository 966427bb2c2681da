//! The token and revocation endpoints, in-process: the code flow with PKCE, tokens bound to one
//! server, refresh token rotation and replay detection, grant types per client, revocation.
//! Every refusal is checked for its status and RFC 6749 error body, and for granting nothing.

mod common;

use axum::http::{StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::oauth::{
    ISSUER, REDIRECT, RESOURCE, VERIFIER, approve, approved_code, assert_oauth_error,
    authorize_query, exchange, grants_revoked, param, public_client, refresh, register, setup,
    token_request,
};
use serde_json::{Value, json};

#[tokio::test]
async fn the_code_flow_issues_tokens_that_rotate_and_refuse_replays() {
    let h = setup().await;
    let client = public_client(&h).await;

    // Not logged in: the login page, which comes back here afterwards.
    let anonymous = h.get(&authorize_query(&client, &[]), None).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    let location = anonymous.headers[header::LOCATION].to_str().unwrap();
    assert!(
        location.starts_with("/login?next=%2Foauth%2Fauthorize%3F"),
        "{location}"
    );

    // The consent page names the client (escaped) and the server.
    let (cookie, _) = h.session_for(&h.admin).await;
    let page = h.get(&authorize_query(&client, &[]), Some(&cookie)).await;
    assert!(
        page.text.contains("Test &lt;b&gt;Client&lt;/b&gt;"),
        "{}",
        page.text
    );
    assert!(page.text.contains("Greeter"));
    // The consent page can't be framed (clickjacking the Allow button).
    assert_eq!(page.headers[header::X_FRAME_OPTIONS], "DENY");
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(page.text.contains(&h.admin.email));

    let back = approve(&h, &client, &[]).await;
    assert_eq!(back.as_str().split('?').next().unwrap(), REDIRECT);
    assert_eq!(param(&back, "state").as_deref(), Some("xyz-state"));
    assert_eq!(param(&back, "iss").as_deref(), Some(ISSUER));
    let code = param(&back, "code").unwrap();

    let tokens = exchange(&h, &client, &code, VERIFIER, REDIRECT).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);
    assert_eq!(tokens.headers[header::CACHE_CONTROL], "no-store");
    let tokens = tokens.json();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    let access = tokens["access_token"].as_str().unwrap();
    let payload: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(access.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(payload["aud"], RESOURCE, "the token is for this one server");
    assert_eq!(payload["iss"], ISSUER);
    assert_eq!(payload["sub"], h.admin.id.to_string());
    let exp = payload["exp"].as_i64().unwrap() - payload["iat"].as_i64().unwrap();
    assert_eq!(exp, 3600);
    // Codes and refresh tokens are stored only as hashes.
    let first_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let stored: i64 = h
        .count(&format!(
            "SELECT COUNT(*) FROM oauth_refresh_tokens WHERE token_hash = '{first_refresh}'"
        ))
        .await;
    assert_eq!(stored, 0);

    // Refresh rotates.
    let rotated = refresh(&h, &client, &first_refresh).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let second_refresh = rotated.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first_refresh);

    // Replaying the used refresh token revokes the grant: the new one dies too.
    let replay = refresh(&h, &client, &first_refresh).await;
    assert_oauth_error(&replay, StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(grants_revoked(&h).await, 1);
    let after = refresh(&h, &client, &second_refresh).await;
    assert_oauth_error(&after, StatusCode::BAD_REQUEST, "invalid_grant");
}

/// The token request may leave out `resource`: the tokens are for the resource the user
/// authorized.
#[tokio::test]
async fn a_token_request_without_a_resource_gets_the_authorized_one() {
    let h = setup().await;
    let client = public_client(&h).await;
    let code = approved_code(&h, &client).await;
    let reply = token_request(
        &h,
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let access = reply.json()["access_token"].as_str().unwrap().to_owned();
    let payload: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(access.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(payload["aud"], RESOURCE);
}

#[tokio::test]
async fn a_replayed_code_revokes_the_grant() {
    let h = setup().await;
    let client = public_client(&h).await;
    let code = param(&approve(&h, &client, &[]).await, "code").unwrap();
    let first = exchange(&h, &client, &code, VERIFIER, REDIRECT).await;
    assert_eq!(first.status, StatusCode::OK);
    let refresh_token = first.json()["refresh_token"].as_str().unwrap().to_owned();
    let again = exchange(&h, &client, &code, VERIFIER, REDIRECT).await;
    assert_oauth_error(&again, StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(grants_revoked(&h).await, 1);
    let dead = refresh(&h, &client, &refresh_token).await;
    assert_oauth_error(&dead, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn a_client_uses_only_the_grant_types_it_registered() {
    let h = setup().await;
    let reply = register(
        &h,
        json!({ "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", "grant_types": ["authorization_code"] }),
    )
    .await;
    let client = reply.json()["client_id"].as_str().unwrap().to_owned();
    let code = param(&approve(&h, &client, &[]).await, "code").unwrap();
    let tokens = exchange(&h, &client, &code, VERIFIER, REDIRECT).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);
    let refresh_token = tokens.json()["refresh_token"].as_str().unwrap().to_owned();
    let refused = refresh(&h, &client, &refresh_token).await;
    assert_oauth_error(&refused, StatusCode::BAD_REQUEST, "unauthorized_client");
}

#[tokio::test]
async fn revocation_ends_the_grant() {
    let h = setup().await;
    let client = public_client(&h).await;
    let code = param(&approve(&h, &client, &[]).await, "code").unwrap();
    let tokens = exchange(&h, &client, &code, VERIFIER, REDIRECT)
        .await
        .json();
    let access = tokens["access_token"].as_str().unwrap();
    let reply = h
        .form(
            "/oauth/revoke",
            None,
            &[("token", access), ("client_id", &client)],
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(grants_revoked(&h).await, 1);
    let dead = refresh(&h, &client, tokens["refresh_token"].as_str().unwrap()).await;
    assert_oauth_error(&dead, StatusCode::BAD_REQUEST, "invalid_grant");
    // Unknown tokens are fine (RFC 7009 §2.2).
    let unknown = h
        .form(
            "/oauth/revoke",
            None,
            &[("token", "nonsense"), ("client_id", &client)],
            &[],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::OK);
}

#[tokio::test]
async fn a_refused_token_request_leaves_the_code_and_the_refresh_token_usable() {
    let h = setup().await;
    let client = public_client(&h).await;
    let code = approved_code(&h, &client).await;
    let other_server = "http://127.0.0.1:8080/mcp/another";
    let wrong_verifier = "another-long-pkce-verifier-with-enough-entropy-0123456789abcdef";
    // Each refusal names what is wrong, and none of them uses the code.
    for (what, pairs, error) in [
        (
            "resource of another server",
            vec![
                ("code_verifier", VERIFIER),
                ("redirect_uri", REDIRECT),
                ("resource", other_server),
            ],
            "invalid_target",
        ),
        (
            "wrong PKCE verifier",
            vec![
                ("code_verifier", wrong_verifier),
                ("redirect_uri", REDIRECT),
                ("resource", RESOURCE),
            ],
            "invalid_grant",
        ),
        (
            "another redirect URI",
            vec![
                ("code_verifier", VERIFIER),
                ("redirect_uri", "http://127.0.0.1:7777/other"),
                ("resource", RESOURCE),
            ],
            "invalid_grant",
        ),
    ] {
        let mut request = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ];
        request.extend(pairs);
        let refused = token_request(&h, &client, &request).await;
        assert_eq!(refused.json()["error"], error, "{what}: {}", refused.text);
        assert_eq!(grants_revoked(&h).await, 0, "{what} revoked the grant");
    }
    let issued = exchange(&h, &client, &code, VERIFIER, REDIRECT).await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.text);
    let refresh_token = issued.json()["refresh_token"].as_str().unwrap().to_owned();

    // The same for a refresh token: a request for another server's audience is refused and
    // the token stays good for the right request.
    let refused = token_request(
        &h,
        &client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
            ("resource", other_server),
        ],
    )
    .await;
    assert_oauth_error(&refused, StatusCode::BAD_REQUEST, "invalid_target");
    assert_eq!(grants_revoked(&h).await, 0);
    let renewed = token_request(
        &h,
        &client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
            ("resource", RESOURCE),
        ],
    )
    .await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.text);
    assert_eq!(grants_revoked(&h).await, 0);

    // Only a real replay revokes: the refresh token just used, presented again.
    let replayed = refresh(&h, &client, &refresh_token).await;
    assert_oauth_error(&replayed, StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(grants_revoked(&h).await, 1);
}
