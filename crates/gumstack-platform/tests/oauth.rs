//! The authorization server, in-process: discovery, registration, the code flow with PKCE,
//! token rotation and replay detection, revocation, and client metadata documents. Every
//! refusal is checked for its status and RFC 6749 error body, and for granting nothing.

mod common;

use std::net::SocketAddr;

use axum::http::{StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Harness, NONE_CONFIG, Reply};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

const REDIRECT: &str = "http://127.0.0.1:7777/callback";
const VERIFIER: &str = "a-very-long-pkce-verifier-with-enough-entropy-0123456789abcdef";
const ISSUER: &str = "http://127.0.0.1:8080";
const RESOURCE: &str = "http://127.0.0.1:8080/mcp/greeter";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn setup() -> Harness {
    let h = Harness::new().await;
    h.create_server(NONE_CONFIG, "greeter").await;
    h
}

async fn register(h: &Harness, body: Value) -> Reply {
    h.api(
        axum::http::Method::POST,
        "/oauth/register",
        None,
        Some(body),
    )
    .await
}

/// Registers a public client; its client_id.
async fn public_client(h: &Harness) -> String {
    let reply = register(
        h,
        json!({ "redirect_uris": [REDIRECT], "client_name": "Test <b>Client</b>", "token_endpoint_auth_method": "none" }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store");
    reply.json()["client_id"].as_str().unwrap().to_owned()
}

fn authorize_query(client_id: &str, extra: &[(&str, &str)]) -> String {
    let challenge = challenge(VERIFIER);
    let mut pairs: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("state", "xyz-state"),
        ("resource", RESOURCE),
    ];
    for (k, v) in extra {
        pairs.retain(|(name, _)| name != k);
        if !v.is_empty() {
            pairs.push((k, v));
        }
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&pairs)
        .finish();
    format!("/oauth/authorize?{query}")
}

/// Approves the consent page as the admin; the redirect URL the client receives.
async fn approve(h: &Harness, client_id: &str, extra: &[(&str, &str)]) -> Url {
    let (cookie, csrf) = h.session_for(&h.admin).await;
    let page = h
        .get(&authorize_query(client_id, extra), Some(&cookie))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    let mut pairs: Vec<(String, String)> =
        vec![("csrf".into(), csrf), ("decision".into(), "approve".into())];
    for field in page.text.split("<input type=\"hidden\" name=\"").skip(1) {
        let name = field.split('"').next().unwrap().to_owned();
        let value = field
            .split("value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let value = value
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
        if name != "csrf" {
            pairs.push((name, value));
        }
    }
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let reply = h.form("/oauth/authorize", Some(&cookie), &refs, &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);
    Url::parse(reply.headers[header::LOCATION].to_str().unwrap()).unwrap()
}

/// An error before the user acted: a page with a link back to the client, never an automatic
/// redirect (which would make the platform an open redirector for any registered URI).
fn error_link(reply: &Reply) -> Url {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert!(
        reply.headers.get(header::LOCATION).is_none(),
        "no automatic redirect"
    );
    let href = reply
        .text
        .split("href=\"")
        .find(|h| h.starts_with("http://127.0.0.1:7777"))
        .expect("a link back");
    let href = href.split('"').next().unwrap().replace("&amp;", "&");
    Url::parse(&href).unwrap()
}

fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn exchange(
    h: &Harness,
    client_id: &str,
    code: &str,
    verifier: &str,
    redirect: &str,
) -> Reply {
    h.form(
        "/oauth/token",
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", redirect),
            ("client_id", client_id),
            ("resource", RESOURCE),
        ],
        &[],
    )
    .await
}

async fn refresh(h: &Harness, client_id: &str, token: &str) -> Reply {
    h.form(
        "/oauth/token",
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", client_id),
        ],
        &[],
    )
    .await
}

fn assert_oauth_error(reply: &Reply, status: StatusCode, error: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(reply.json()["error"], error, "{}", reply.text);
    assert!(reply.json()["error_description"].is_string());
    assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store");
}

async fn grants_revoked(h: &Harness) -> i64 {
    h.count("SELECT COUNT(*) FROM oauth_grants WHERE revoked_at IS NOT NULL")
        .await
}

#[tokio::test]
async fn discovery_documents_describe_the_server_and_the_issuer() {
    let h = setup().await;
    let meta = h
        .get("/.well-known/oauth-authorization-server", None)
        .await
        .json();
    assert_eq!(meta["issuer"], ISSUER);
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    assert_eq!(meta["client_id_metadata_document_supported"], true);
    assert_eq!(meta["token_endpoint"], format!("{ISSUER}/oauth/token"));
    let oidc = h
        .get("/.well-known/openid-configuration", None)
        .await
        .json();
    assert_eq!(oidc["issuer"], ISSUER);
    assert_eq!(oidc["code_challenge_methods_supported"], json!(["S256"]));

    let prm = h
        .get("/.well-known/oauth-protected-resource/mcp/greeter", None)
        .await
        .json();
    assert_eq!(prm["resource"], RESOURCE);
    assert_eq!(prm["authorization_servers"], json!([ISSUER]));
    let missing = h
        .get("/.well-known/oauth-protected-resource/mcp/nope", None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let jwks = h.get("/.well-known/jwks.json", None).await.json();
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    assert!(jwks["keys"][0].get("d").is_none(), "no private part");
}

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
    let other = h
        .form(
            "/oauth/token",
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", VERIFIER),
                ("redirect_uri", REDIRECT),
                ("client_id", &client),
                ("resource", "http://127.0.0.1:8080/mcp/other"),
            ],
            &[],
        )
        .await;
    assert_oauth_error(&other, StatusCode::BAD_REQUEST, "invalid_target");
}

#[tokio::test]
async fn unknown_and_misbehaving_clients_are_refused() {
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

    // Registration rules.
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

/// Serves `document` at `/client.json` on a loopback port; the document's URL.
async fn serve_document(document: impl Fn(&str) -> Value + Send + Sync + 'static) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let url = format!("http://{addr}/client.json");
    let body = document(&url);
    let app = axum::Router::new().route(
        "/client.json",
        axum::routing::get(move || {
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
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
