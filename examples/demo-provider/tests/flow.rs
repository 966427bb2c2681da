//! The demo provider as a client sees it: the code flow with PKCE, userinfo, rotation of
//! refresh tokens, revocation, expiry, and what it refuses.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gumstack_demo_provider::{ACCOUNTS, Running, Settings, start};
use serde_json::Value;
use sha2::{Digest, Sha256};

const REDIRECT: &str = "http://127.0.0.1:9/auth/callback";
const VERIFIER: &str = "a-code-verifier-that-is-long-enough-for-pkce-0123456789";

async fn provider(lifetime: Duration) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    start(listener, Settings::new(REDIRECT, lifetime)).unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn authorize_params(p: &Running) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".into()),
        ("client_id", p.settings.client_id.clone()),
        ("redirect_uri", REDIRECT.into()),
        ("state", "st-1".into()),
        ("scope", "openid email offline_access".into()),
        (
            "code_challenge",
            URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes())),
        ),
        ("code_challenge_method", "S256".into()),
    ]
}

/// Signs in as `account` (a `sub`); the code.
async fn code_for(p: &Running, account: &str) -> String {
    let mut form = authorize_params(p);
    form.push(("account", account.into()));
    let response = http()
        .post(p.authorize_url())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let location = reqwest::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT));
    let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(query["state"], "st-1");
    query["code"].clone()
}

async fn token(p: &Running, form: &[(&str, &str)]) -> (u16, Value) {
    let response = http()
        .post(p.token_url())
        .basic_auth(&p.settings.client_id, Some(&p.settings.client_secret))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn userinfo(p: &Running, access: &str) -> (u16, Value) {
    let response = http()
        .get(p.userinfo_url())
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_code_flow_gives_tokens_that_refresh_with_rotation_and_revoke() {
    let p = provider(Duration::from_secs(60)).await;
    let page = http()
        .get(p.authorize_url())
        .query(&authorize_params(&p))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("Demo provider.") && page.contains(ACCOUNTS[0].email));

    let code = code_for(&p, ACCOUNTS[1].sub).await;
    let wrong = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        (
            "code_verifier",
            "not-the-verifier-not-the-verifier-not-the-ver",
        ),
    ];
    let (status, body) = token(&p, &wrong).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // The code went with the failed attempt: a code is tried once.
    let code = code_for(&p, ACCOUNTS[1].sub).await;
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (status, tokens) = token(&p, &exchange).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["expires_in"], 60);
    let (status, again) = token(&p, &exchange).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let access = tokens["access_token"].as_str().unwrap();
    let (status, me) = userinfo(&p, access).await;
    assert_eq!(status, 200);
    assert_eq!(me["email"], ACCOUNTS[1].email);

    let refresh = tokens["refresh_token"].as_str().unwrap();
    let rotate = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let (status, renewed) = token(&p, &rotate).await;
    assert_eq!(status, 200, "{renewed}");
    assert_ne!(renewed["refresh_token"], tokens["refresh_token"]);
    let (status, reused) = token(&p, &rotate).await;
    assert_eq!(
        (status, reused["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // Revoking the refresh token takes its access token along.
    let new_refresh = renewed["refresh_token"].as_str().unwrap();
    let revoked = http()
        .post(p.revocation_url())
        .basic_auth(&p.settings.client_id, Some(&p.settings.client_secret))
        .form(&[("token", new_refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let (status, _) = userinfo(&p, renewed["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn access_tokens_expire_and_bad_requests_are_refused() {
    let p = provider(Duration::from_secs(1)).await;
    let code = code_for(&p, ACCOUNTS[0].sub).await;
    let (_, tokens) = token(
        &p,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&p, access).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(userinfo(&p, access).await.0, 401, "expired");

    // Another redirect URI is refused on the page, never redirected to.
    let mut params = authorize_params(&p);
    params[2].1 = "https://evil.example/cb".into();
    let page = http()
        .get(p.authorize_url())
        .query(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    // No PKCE: refused.
    let plain: Vec<_> = authorize_params(&p)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .collect();
    let page = http()
        .get(p.authorize_url())
        .query(&plain)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    // A wrong client secret: invalid_client.
    let response = http()
        .post(p.token_url())
        .basic_auth(&p.settings.client_id, Some("wrong"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // Cancel: access_denied with the state.
    let mut form = authorize_params(&p);
    form.push(("account", String::new()));
    let response = http()
        .post(p.authorize_url())
        .form(&form)
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.contains("error=access_denied") && location.contains("state=st-1"));
}
