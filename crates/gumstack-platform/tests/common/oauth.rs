//! The client side of the platform's authorization server: registering, authorizing, and the
//! token endpoint, as the OAuth tests and the expiry tests drive them.

use std::net::SocketAddr;

use axum::http::{Method, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

use super::{Harness, NONE_CONFIG, Reply};

pub const REDIRECT: &str = "http://127.0.0.1:7777/callback";
pub const VERIFIER: &str = "a-very-long-pkce-verifier-with-enough-entropy-0123456789abcdef";
pub const ISSUER: &str = "http://127.0.0.1:8080";
pub const RESOURCE: &str = "http://127.0.0.1:8080/mcp/greeter";

/// A harness with the `greeter` server (auth type none) that the tokens are for.
pub async fn with_greeter(h: Harness) -> Harness {
    h.create_server(NONE_CONFIG, "greeter").await;
    h
}

pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub async fn register(h: &Harness, body: Value) -> Reply {
    h.api(Method::POST, "/oauth/register", None, Some(body))
        .await
}

/// Registers a public client; its client_id.
pub async fn public_client(h: &Harness) -> String {
    let reply = register(
        h,
        json!({ "redirect_uris": [REDIRECT], "client_name": "Test <b>Client</b>", "token_endpoint_auth_method": "none" }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store");
    reply.json()["client_id"].as_str().unwrap().to_owned()
}

pub fn authorize_query(client_id: &str, extra: &[(&str, &str)]) -> String {
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
pub async fn approve(h: &Harness, client_id: &str, extra: &[(&str, &str)]) -> Url {
    approve_as(h, &h.admin, client_id, extra).await
}

/// Approves the consent page as `user`; the redirect URL the client receives. When `user`
/// already consented (the platform remembers it), there is no page: the code comes at once.
pub async fn approve_as(
    h: &Harness,
    user: &gumstack_platform::store::User,
    client_id: &str,
    extra: &[(&str, &str)],
) -> Url {
    let (cookie, csrf) = h.session_for(user).await;
    let page = h
        .get(&authorize_query(client_id, extra), Some(&cookie))
        .await;
    if page.status == StatusCode::SEE_OTHER {
        return Url::parse(page.headers[header::LOCATION].to_str().unwrap()).unwrap();
    }
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
pub fn error_link(reply: &Reply) -> Url {
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

pub fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub async fn exchange(
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

pub async fn refresh(h: &Harness, client_id: &str, token: &str) -> Reply {
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

pub fn assert_oauth_error(reply: &Reply, status: StatusCode, error: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(reply.json()["error"], error, "{}", reply.text);
    assert!(reply.json()["error_description"].is_string());
    assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store");
}

pub async fn grants_revoked(h: &Harness) -> i64 {
    h.count("SELECT COUNT(*) FROM oauth_grants WHERE revoked_at IS NOT NULL")
        .await
}

/// Serves `document` at `/client.json` on a loopback port; the document's URL.
pub async fn serve_document(document: impl Fn(&str) -> Value + Send + Sync + 'static) -> String {
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

/// Asserts an OAuth error as [`assert_oauth_error`] does, with `fragment` in its description.
pub fn assert_oauth_error_says(reply: &Reply, status: StatusCode, error: &str, fragment: &str) {
    assert_oauth_error(reply, status, error);
    let description = reply.json()["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(description.contains(fragment), "{description}");
}

/// The authorization code the client receives when the admin approves the consent page.
pub async fn approved_code(h: &Harness, client_id: &str) -> String {
    param(&approve(h, client_id, &[]).await, "code").expect("a code")
}

/// Tokens for `client_id` through the whole code flow: (access token, refresh token).
pub async fn tokens(h: &Harness, client_id: &str) -> (String, String) {
    tokens_as(h, &h.admin, client_id).await
}

/// Tokens `user` authorized `client_id` to have: (access token, refresh token).
pub async fn tokens_as(
    h: &Harness,
    user: &gumstack_platform::store::User,
    client_id: &str,
) -> (String, String) {
    let code = param(&approve_as(h, user, client_id, &[]).await, "code").expect("a code");
    let reply = exchange(h, client_id, &code, VERIFIER, REDIRECT).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let json: Value = reply.json();
    (
        json["access_token"].as_str().unwrap().to_owned(),
        json["refresh_token"].as_str().unwrap().to_owned(),
    )
}

/// A harness with the `greeter` server, as most OAuth tests start.
pub async fn setup() -> Harness {
    with_greeter(Harness::new().await).await
}

/// A token request with `pairs`, plus `client_id`.
pub async fn token_request(h: &Harness, client: &str, pairs: &[(&str, &str)]) -> Reply {
    let mut all = pairs.to_vec();
    all.push(("client_id", client));
    h.form("/oauth/token", None, &all, &[]).await
}
