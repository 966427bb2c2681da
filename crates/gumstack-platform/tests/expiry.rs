//! Expiries, decided by the platform's injected clock: the test moves it forward, nothing
//! sleeps. Each credential still works just before its lifetime ends and is refused after it,
//! as its user sees it (HTTP status, OAuth error code, page). The connect flow's ten minutes
//! are tested the same way in `connect_flow.rs` (`a_spent_or_late_state_is_unknown`), where
//! a provider can be faked.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::oauth::{
    REDIRECT, VERIFIER, approved_code, assert_oauth_error_says, authorize_query, exchange,
    public_client, refresh, serve_document, tokens, with_greeter,
};
use common::{Harness, Reply};
use gumstack_platform::clock::ManualClock;
use serde_json::json;

const DAY: i64 = 24 * 3600;

struct Setup {
    h: Harness,
    clock: Arc<ManualClock>,
}

async fn setup() -> Setup {
    let clock = Arc::new(ManualClock::starting_now());
    let injected = Arc::clone(&clock);
    let h = Harness::build_with(move |options| {
        options.clock = injected;
        options.allow_loopback_metadata_documents = true;
    })
    .await;
    Setup {
        h: with_greeter(h).await,
        clock,
    }
}

/// A client whose id is the URL of its metadata document, served on a loopback port.
async fn metadata_document_client() -> String {
    serve_document(|url| {
        json!({ "client_id": url, "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none" })
    })
    .await
}

/// An MCP call through the gateway with an access token.
async fn call_gateway(h: &Harness, token: &str) -> Reply {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    let req = Request::post("/mcp/greeter")
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(body))
        .unwrap();
    h.request(req).await
}

/// Accepted by the gateway: past authentication (the server is not running in-process).
fn assert_authenticated(reply: &Reply) {
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text
    );
}

fn assert_expired_challenge(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    let challenge = reply.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains("expired"), "{challenge}");
}

#[tokio::test]
async fn an_authorization_code_is_refused_after_sixty_seconds() {
    let Setup { h, clock } = setup().await;
    let client = public_client(&h).await;

    let code = approved_code(&h, &client).await;
    clock.advance(59);
    let in_time = exchange(&h, &client, &code, VERIFIER, REDIRECT).await;
    assert_eq!(in_time.status, StatusCode::OK, "{}", in_time.text);

    let code = approved_code(&h, &client).await;
    clock.advance(60);
    let late = exchange(&h, &client, &code, VERIFIER, REDIRECT).await;
    assert_oauth_error_says(&late, StatusCode::BAD_REQUEST, "invalid_grant", "expired");
}

#[tokio::test]
async fn an_access_token_is_refused_at_the_gateway_after_an_hour() {
    let Setup { h, clock } = setup().await;
    let client = public_client(&h).await;
    // One token the gateway has seen (its claims are cached), one it has not.
    let (seen, _) = tokens(&h, &client).await;
    let (unseen, _) = tokens(&h, &client).await;
    assert_authenticated(&call_gateway(&h, &seen).await);

    // An hour, plus the 60 s leeway for clocks that differ.
    clock.advance(3600 + 60);
    assert_authenticated(&call_gateway(&h, &seen).await);
    clock.advance(1);
    assert_expired_challenge(&call_gateway(&h, &seen).await);
    assert_expired_challenge(&call_gateway(&h, &unseen).await);
}

#[tokio::test]
async fn a_refresh_token_is_refused_after_six_months() {
    let Setup { h, clock } = setup().await;
    // A metadata document client: unlike a registration, it does not end after 90 days.
    let client = metadata_document_client().await;
    let (_, first) = tokens(&h, &client).await;

    clock.advance(183 * DAY - 1);
    let in_time = refresh(&h, &client, &first).await;
    assert_eq!(in_time.status, StatusCode::OK, "{}", in_time.text);
    let rotated = in_time.json()["refresh_token"].as_str().unwrap().to_owned();

    clock.advance(183 * DAY);
    let late = refresh(&h, &client, &rotated).await;
    assert_oauth_error_says(&late, StatusCode::BAD_REQUEST, "invalid_grant", "expired");
}

#[tokio::test]
async fn a_dynamic_client_registration_ends_after_ninety_days() {
    let Setup { h, clock } = setup().await;
    let client = public_client(&h).await;

    clock.advance(90 * DAY - 1);
    // Still known: the unknown code is what is refused.
    let known = exchange(&h, &client, "gsa_unknown", VERIFIER, REDIRECT).await;
    assert_oauth_error_says(&known, StatusCode::BAD_REQUEST, "invalid_grant", "unknown");

    clock.advance(1);
    let ended = exchange(&h, &client, "gsa_unknown", VERIFIER, REDIRECT).await;
    assert_oauth_error_says(
        &ended,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "expired client",
    );
    // The consent page refuses it too.
    let (cookie, _) = h.session_for(&h.admin).await;
    let page = h.get(&authorize_query(&client, &[]), Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.text);
    assert!(
        page.text.contains("registration has expired"),
        "{}",
        page.text
    );
}

/// The value of the cookie `name` a reply sets.
fn set_cookie(reply: &Reply, name: &str) -> String {
    reply
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie: {:?}", reply.headers))
        .to_owned()
}

#[tokio::test]
async fn a_browser_session_ends_after_a_week() {
    let Setup { h, clock } = setup().await;
    let login_page = h.get("/login", None).await;
    let login_csrf = set_cookie(&login_page, "gumstack_login_csrf");
    let login_cookie = format!("gumstack_login_csrf={login_csrf}");
    let password = secrecy::ExposeSecret::expose_secret(&h.admin_password).to_owned();
    let logged_in = h
        .form(
            "/login",
            Some(&login_cookie),
            &[
                ("email", h.admin.email.as_str()),
                ("password", &password),
                ("csrf", &login_csrf),
            ],
            &[],
        )
        .await;
    assert_eq!(
        logged_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        logged_in.text
    );
    let session = format!(
        "gumstack_session={}",
        set_cookie(&logged_in, "gumstack_session")
    );

    clock.advance(7 * DAY - 1);
    let in_time = h.get("/", Some(&session)).await;
    assert_eq!(in_time.status, StatusCode::OK, "{}", in_time.text);

    clock.advance(1);
    let ended = h.get("/", Some(&session)).await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER, "{}", ended.text);
    assert_eq!(ended.headers[header::LOCATION], "/login");
}
