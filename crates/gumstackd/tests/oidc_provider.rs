//! The third-party OAuth provider harness (tests/js/oidc-provider.mjs behind
//! `common::oidc::OidcProvider`) works on its own, without the platform: a scripted
//! authorization-code flow with PKCE S256 reaches the redirect URI, the code exchange with
//! `client_secret_basic`, userinfo, refresh-token rotation and reuse detection behave as
//! `oidc-provider` does, the test layer counts all of it, and every fault mode answers as
//! documented.
//!
//! Needs Node.js (>= 20) and `npm ci --prefix tests/js`; fails (never skips) without them.

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::oidc::{Fault, OidcProvider, token_hash};
use reqwest::{StatusCode, Url};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// Nothing listens there: the flow stops at the redirect, which carries the code.
const REDIRECT_URI: &str = "http://127.0.0.1:9/auth/callback";

/// Tokens from the token endpoint.
#[derive(Debug)]
struct Tokens {
    access: String,
    refresh: String,
}

/// (verifier, S256 challenge) as in RFC 7636.
fn pkce() -> (String, String) {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).unwrap();
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// Plays the browser: follows the authorization URL's redirects with a cookie jar (the script
/// stands in for login and consent) until the redirect URI; returns that URL.
async fn authorize(
    provider: &OidcProvider,
    challenge: &str,
    state: &str,
    login_hint: Option<&str>,
) -> Url {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut url = Url::parse_with_params(
        provider.authorize_url(),
        [
            ("response_type", "code"),
            ("client_id", provider.client_id()),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid email offline_access"),
            ("state", state),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    if let Some(hint) = login_hint {
        url.query_pairs_mut().append_pair("login_hint", hint);
    }
    for _ in 0..10 {
        let response = browser.get(url.clone()).send().await.unwrap();
        let status = response.status();
        let Some(location) = response.headers().get("location") else {
            panic!(
                "{url} answered {status} without a redirect: {}",
                response.text().await.unwrap()
            );
        };
        assert!(status.is_redirection(), "{url} answered {status}");
        let next = url.join(location.to_str().unwrap()).unwrap();
        if next.as_str().starts_with(REDIRECT_URI) {
            return next;
        }
        url = next;
    }
    panic!("no redirect to {REDIRECT_URI} after 10 steps");
}

/// A token request with `client_secret_basic`; (status, JSON body).
async fn token_request(provider: &OidcProvider, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(provider.token_url())
        .basic_auth(provider.client_id(), Some(provider.client_secret()))
        .form(form)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn tokens(status: StatusCode, body: &Value) -> Tokens {
    assert_eq!(status, StatusCode::OK, "token endpoint: {body}");
    assert_eq!(body["token_type"], "Bearer", "{body}");
    Tokens {
        access: body["access_token"]
            .as_str()
            .expect("an access token")
            .into(),
        refresh: body["refresh_token"]
            .as_str()
            .expect("a refresh token, whatever the scope")
            .into(),
    }
}

fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Exchanges the code of `callback` (with the PKCE verifier) for tokens.
async fn exchange(provider: &OidcProvider, callback: &Url, verifier: &str) -> Tokens {
    let code = query(callback, "code").unwrap_or_else(|| panic!("no code in {callback}"));
    let (status, body) = token_request(
        provider,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ],
    )
    .await;
    tokens(status, &body)
}

async fn userinfo(provider: &OidcProvider, access_token: &str) -> Value {
    reqwest::Client::new()
        .get(provider.userinfo_url())
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn refresh(provider: &OidcProvider, refresh_token: &str) -> (StatusCode, Value) {
    token_request(
        provider,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

#[tokio::test]
async fn code_flow_userinfo_rotation_reuse_and_faults() {
    let started = Instant::now();
    let provider = OidcProvider::start(&[REDIRECT_URI], Duration::from_secs(3)).await;
    assert!(provider.issuer().starts_with("http://127.0.0.1:"));

    // Authorization code with PKCE S256; the redirect carries `code`, our `state`, and `iss`
    // (RFC 9207).
    let (verifier, challenge) = pkce();
    let callback = authorize(&provider, &challenge, "st4te", None).await;
    assert_eq!(query(&callback, "state").as_deref(), Some("st4te"));
    assert_eq!(
        query(&callback, "iss").as_deref(),
        Some(provider.issuer()),
        "{callback}"
    );
    let code = query(&callback, "code").unwrap_or_else(|| panic!("no code in {callback}"));

    // A wrong verifier is refused; the code survives a refused exchange (it is consumed only
    // by a successful one).
    let (status, body) = token_request(
        &provider,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &pkce().0),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let (status, body) = token_request(
        &provider,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(
        body["expires_in"], 3,
        "the access TTL given at start: {body}"
    );
    let first = tokens(status, &body);

    // Userinfo with the access token: the email claim of the default account.
    let claims = userinfo(&provider, &first.access).await;
    assert_eq!(claims["sub"], "alice", "{claims}");
    assert_eq!(claims["email"], "alice@provider.test", "{claims}");

    // Refresh rotates the refresh token.
    let (status, body) = refresh(&provider, &first.refresh).await;
    let second = tokens(status, &body);
    assert_ne!(
        second.refresh, first.refresh,
        "rotateRefreshToken: a new one"
    );
    assert_ne!(second.access, first.access);
    let stats = provider.stats().await;
    assert_eq!(stats.token_requests.authorization_code, 2, "{stats:?}");
    assert_eq!(stats.token_requests.refresh_token, 1, "{stats:?}");
    assert_eq!(stats.refresh_tokens_used, [token_hash(&first.refresh)]);
    assert_eq!(stats.refresh_token_reuse, 0);
    assert_eq!((stats.userinfo, stats.userinfo_ok), (1, 1));
    assert_eq!(stats.authorizations.len(), 1, "{stats:?}");
    assert_eq!(stats.authorizations[0]["code_challenge_method"], "S256");

    // Replaying the rotated token: invalid_grant, counted as reuse, and (oidc-provider's reuse
    // detection) the whole grant is revoked, so the newest refresh token dies with it.
    let (status, body) = refresh(&provider, &first.refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let (status, body) = refresh(&provider, &second.refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let stats = provider.stats().await;
    assert_eq!(stats.token_requests.refresh_token, 3, "{stats:?}");
    assert_eq!(stats.refresh_token_reuse, 1, "{stats:?}");
    assert_eq!(stats.refresh_token_errors, 2, "{stats:?}");
    assert_eq!(
        stats.refresh_tokens_used,
        [
            token_hash(&first.refresh),
            token_hash(&first.refresh),
            token_hash(&second.refresh)
        ]
    );

    // Each fault answers one refresh grant, then the provider answers again (here a real
    // invalid_grant: the token is dead). Faulted grants never reach the provider.
    let cases = [
        (Fault::Unavailable, 503, "temporarily_unavailable"),
        (Fault::TooManyRequests, 429, "slow_down"),
        (Fault::InvalidClient, 401, "invalid_client"),
        (Fault::InvalidGrant, 400, "invalid_grant"),
    ];
    for (fault, expected, error) in cases {
        provider.set_fault(fault, Some(1)).await;
        let response = reqwest::Client::new()
            .post(provider.token_url())
            .basic_auth(provider.client_id(), Some(provider.client_secret()))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &second.refresh),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), expected, "{fault:?}");
        if fault == Fault::TooManyRequests {
            assert_eq!(response.headers()["retry-after"], "1");
        }
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], error, "{fault:?}: {body}");
        if fault == Fault::InvalidGrant {
            assert!(body["error_description"].is_string(), "{body}");
        }
    }
    let (status, body) = refresh(&provider, &second.refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "the fault count ran out: the provider answers again"
    );

    // Timeout: no answer at all, until reset.
    provider.set_fault(Fault::Timeout, None).await;
    for _ in 0..2 {
        let held = Instant::now();
        let err = reqwest::Client::new()
            .post(provider.token_url())
            .basic_auth(provider.client_id(), Some(provider.client_secret()))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
            .timeout(Duration::from_millis(500))
            .send()
            .await
            .expect_err("a held request times out");
        assert!(err.is_timeout(), "{err}");
        assert!(held.elapsed() >= Duration::from_millis(500));
    }
    provider.set_fault(Fault::None, None).await;
    let (status, _) = refresh(&provider, "not-a-token").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no fault after the reset");

    let stats = provider.stats().await;
    assert_eq!(stats.faulted, 6, "{stats:?}");
    assert_eq!(stats.faulted_refresh_tokens[0], token_hash(&second.refresh));
    assert_eq!(stats.token_requests.refresh_token, 5, "{stats:?}");

    // A fresh grant, then revoke-all: its refresh token gets a real invalid_grant.
    let (verifier, challenge) = pkce();
    let callback = authorize(&provider, &challenge, "again", None).await;
    let third = exchange(&provider, &callback, &verifier).await;
    assert!(provider.revoke_all().await >= 1);
    let (status, body) = refresh(&provider, &third.refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");

    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

/// `login_hint` picks the account; account `html` has markup in its email, for escaping tests.
#[tokio::test]
async fn login_hint_picks_the_account() {
    let provider = OidcProvider::start(&[REDIRECT_URI], Duration::from_secs(60)).await;
    for (hint, email) in [
        ("bob", "bob@provider.test"),
        ("html", "<b>bold</b>@provider.test"),
    ] {
        let (verifier, challenge) = pkce();
        let callback = authorize(&provider, &challenge, "s", Some(hint)).await;
        let tokens = exchange(&provider, &callback, &verifier).await;
        let claims = userinfo(&provider, &tokens.access).await;
        assert_eq!(claims["sub"], hint, "{claims}");
        assert_eq!(claims["email"], email, "{claims}");
    }
    let stats = provider.stats().await;
    assert_eq!(stats.authorizations[1]["login_hint"], "html", "{stats:?}");
}
