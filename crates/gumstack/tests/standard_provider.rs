//! `StandardOAuthProvider` against a stand-in provider (`gumstack::testing::TestProvider`, an
//! axum server on a loopback port): what it sends (form fields, client authentication, PKCE)
//! and how each answer is classified for the platform; and the same provider behind a
//! production host's provider routes, configured from the host's environment.

mod common;

use std::time::Duration;

use common::{OAUTH_CONFIG, TestServer};
use gumstack::{
    auth::{AuthProvider, ClientAuthMethod, ProviderError, StandardOAuthProvider, pkce_challenge},
    testing::{
        ProviderEndpoint, ProviderReply, TEST_ACCESS_TOKEN, TEST_REFRESH_TOKEN, TestPlatform,
        TestProvider,
    },
};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use url::Url;

const REDIRECT_URI: &str = "https://gumstack.test/auth/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// The environment of a fully configured provider `oidc` (prefix `OAUTH`) talking to `idp`.
fn vars(idp: &TestProvider) -> Vec<(String, String)> {
    vec![
        ("OAUTH_CLIENT_ID".to_owned(), "client 1".to_owned()),
        ("OAUTH_CLIENT_SECRET".to_owned(), "s3cret/+".to_owned()),
        ("OAUTH_AUTHORIZE_URL".to_owned(), idp.authorize_url()),
        ("OAUTH_TOKEN_URL".to_owned(), idp.token_url()),
        ("OAUTH_USERINFO_URL".to_owned(), idp.userinfo_url()),
        ("OAUTH_REVOCATION_URL".to_owned(), idp.revocation_url()),
    ]
}

fn provider(idp: &TestProvider) -> StandardOAuthProvider {
    StandardOAuthProvider::new("oidc")
        .env_prefix("OAUTH")
        .scopes(["openid email", "offline_access"])
        .pkce(true)
        .env_vars(vars(idp))
}

/// The query parameters of `url`, in order.
fn query(url: &str) -> Vec<(String, String)> {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

#[tokio::test]
async fn the_authorization_url_carries_the_state_redirect_and_pkce_challenge_once() {
    let idp = TestProvider::start().await;
    let url = provider(&idp)
        .authorize_param("prompt", "consent")
        .get_url_with_pkce(REDIRECT_URI, "state-1", VERIFIER)
        .unwrap();
    assert!(
        url.starts_with(&format!("{}?", idp.authorize_url())),
        "{url}"
    );
    assert_eq!(
        query(&url),
        [
            ("response_type", "code"),
            ("client_id", "client 1"),
            ("redirect_uri", REDIRECT_URI),
            ("state", "state-1"),
            ("scope", "openid email offline_access"),
            // RFC 7636 Appendix B: BASE64URL(SHA256(verifier)).
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
            ),
            ("code_challenge_method", "S256"),
            ("prompt", "consent"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
    );
    assert_eq!(
        pkce_challenge(VERIFIER),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );

    // Without PKCE the verifier is ignored.
    let url = provider(&idp)
        .pkce(false)
        .get_url_with_pkce(REDIRECT_URI, "state-1", VERIFIER)
        .unwrap();
    assert!(
        !query(&url)
            .iter()
            .any(|(name, _)| name.starts_with("code_challenge")),
        "{url}"
    );
    assert_eq!(
        url,
        provider(&idp).pkce(false).get_url(REDIRECT_URI, "state-1")
    );
    // Nothing was sent to the provider: the URL is for the browser.
    assert!(idp.requests().is_empty());
}

#[tokio::test]
async fn client_secret_basic_sends_the_credentials_in_the_authorization_header() {
    let idp = TestProvider::start().await;
    let tokens = provider(&idp)
        .exchange_with_pkce("code-1", REDIRECT_URI, VERIFIER)
        .await
        .unwrap();
    assert_eq!(tokens.access_token.expose_secret(), TEST_ACCESS_TOKEN);
    assert_eq!(
        tokens.refresh_token.unwrap().expose_secret(),
        TEST_REFRESH_TOKEN
    );
    assert_eq!(tokens.expires_in, Some(3600));
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.scope.as_deref(), Some("openid email"));

    let [request] = idp.requests_to(ProviderEndpoint::Token).try_into().unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.basic_credentials(),
        Some(("client 1".to_owned(), "s3cret/+".to_owned()))
    );
    assert_eq!(
        request.form,
        [
            ("grant_type", "authorization_code"),
            ("code", "code-1"),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
    );
    assert_eq!(request.accept.as_deref(), Some("application/json"));
    assert!(
        request
            .content_type
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );
}

#[tokio::test]
async fn client_secret_post_sends_the_credentials_in_the_form() {
    let idp = TestProvider::start().await;
    provider(&idp)
        .client_auth(ClientAuthMethod::ClientSecretPost)
        .refresh("rt-1")
        .await
        .unwrap();
    let [request] = idp.requests_to(ProviderEndpoint::Token).try_into().unwrap();
    assert_eq!(request.authorization, None);
    assert_eq!(
        request.form,
        [
            ("grant_type", "refresh_token"),
            ("refresh_token", "rt-1"),
            ("client_id", "client 1"),
            ("client_secret", "s3cret/+"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
    );
}

#[tokio::test]
async fn a_public_client_sends_its_id_and_no_secret() {
    let idp = TestProvider::start().await;
    let vars: Vec<_> = vars(&idp)
        .into_iter()
        .filter(|(name, _)| name != "OAUTH_CLIENT_SECRET")
        .collect();
    StandardOAuthProvider::new("oidc")
        .env_prefix("OAUTH")
        .client_auth(ClientAuthMethod::None)
        .pkce(true)
        .env_vars(vars)
        .exchange_with_pkce("code-1", REDIRECT_URI, VERIFIER)
        .await
        .unwrap();
    let [request] = idp.requests_to(ProviderEndpoint::Token).try_into().unwrap();
    assert_eq!(request.authorization, None);
    assert_eq!(request.form_value("client_id"), Some("client 1"));
    assert_eq!(request.form_value("client_secret"), None);
    assert_eq!(request.form_value("code_verifier"), Some(VERIFIER));
}

#[tokio::test]
async fn without_pkce_no_verifier_is_sent() {
    let idp = TestProvider::start().await;
    provider(&idp)
        .pkce(false)
        .exchange_with_pkce("code-1", REDIRECT_URI, VERIFIER)
        .await
        .unwrap();
    let [request] = idp.requests_to(ProviderEndpoint::Token).try_into().unwrap();
    assert_eq!(request.form_value("code_verifier"), None);
}

/// The error of a refresh when the token endpoint answers `reply`.
async fn refresh_error(reply: ProviderReply, timeout: Duration) -> ProviderError {
    let idp = TestProvider::start().await;
    idp.reply(ProviderEndpoint::Token, reply);
    provider(&idp)
        .timeout(timeout)
        .refresh("rt-secret-1")
        .await
        .unwrap_err()
}

#[tokio::test]
async fn an_invalid_grant_is_the_provider_saying_no() {
    let reply = ProviderReply::oauth_error(400, "invalid_grant", "refresh token revoked");
    let error = refresh_error(reply, Duration::from_secs(15)).await;
    assert_eq!(
        error,
        ProviderError::Rejected {
            code: "invalid_grant".to_owned(),
            description: Some("refresh token revoked".to_owned()),
            status: 400,
        }
    );
    assert_eq!(error.kind(), "provider");
}

#[tokio::test]
async fn an_invalid_client_is_the_provider_saying_no() {
    let reply = ProviderReply::oauth_error(401, "invalid_client", "unknown client")
        .header("www-authenticate", r#"Basic realm="idp""#);
    let error = refresh_error(reply, Duration::from_secs(15)).await;
    assert!(
        matches!(&error, ProviderError::Rejected { code, status: 401, .. } if code == "invalid_client"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_503_is_transient() {
    let error = refresh_error(
        ProviderReply::text(503, "<html>down</html>"),
        Duration::from_secs(15),
    )
    .await;
    assert!(
        matches!(
            error,
            ProviderError::Transport {
                status: Some(503),
                retry_after: None,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_429_is_transient_with_its_retry_after() {
    let reply = ProviderReply::oauth_error(429, "slow_down", "too many requests")
        .header("retry-after", "30");
    let error = refresh_error(reply, Duration::from_secs(15)).await;
    assert_eq!(
        error,
        ProviderError::Transport {
            status: Some(429),
            retry_after: Some(Duration::from_secs(30)),
            message: "the provider's token endpoint answered HTTP 429 Too Many Requests".to_owned(),
        }
    );
}

#[tokio::test]
async fn a_slow_token_endpoint_times_out() {
    let reply = ProviderReply::json(200, json!({ "access_token": "late" }))
        .delayed(Duration::from_secs(30));
    let started = std::time::Instant::now();
    let error = refresh_error(reply, Duration::from_millis(300)).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        error,
        ProviderError::Transport {
            status: None,
            retry_after: None,
            message: "the provider's token endpoint did not answer within 300 ms".to_owned(),
        }
    );
}

#[tokio::test]
async fn an_unreachable_token_endpoint_is_transient() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", closed.local_addr().unwrap());
    drop(closed);
    let idp = TestProvider::start().await;
    let error = provider(&idp)
        .env_vars(
            vars(&idp)
                .into_iter()
                .map(|(name, value)| match name.as_str() {
                    "OAUTH_TOKEN_URL" => (name, url.clone()),
                    _ => (name, value),
                }),
        )
        .refresh("rt")
        .await
        .unwrap_err();
    let ProviderError::Transport {
        status: None,
        message,
        ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert!(
        message.starts_with("the provider's token endpoint could not be reached"),
        "{message}"
    );
    assert!(!message.contains(&url), "{message}");
}

#[tokio::test]
async fn a_200_without_tokens_is_an_invalid_response() {
    for reply in [
        ProviderReply::text(200, "<html>Sign in</html>").header("content-type", "text/html"),
        ProviderReply::json(200, json!({ "token_type": "bearer" })),
        ProviderReply::json(200, json!(["access_token"])),
        ProviderReply::text(302, "").header("location", "https://elsewhere.example/token"),
    ] {
        let error = refresh_error(reply.clone(), Duration::from_secs(15)).await;
        assert_eq!(error.kind(), "invalid_response", "{reply:?}: {error:?}");
        assert!(!error.to_string().contains("rt-secret-1"), "{error}");
    }
}

#[tokio::test]
async fn missing_settings_name_exactly_the_variables_to_set() {
    let idp = TestProvider::start().await;
    let bare = || {
        StandardOAuthProvider::new("oidc")
            .env_prefix("OAUTH")
            .env_vars([("UNRELATED", "x")])
    };
    let all = [
        "OAUTH_CLIENT_ID",
        "OAUTH_CLIENT_SECRET",
        "OAUTH_AUTHORIZE_URL",
        "OAUTH_TOKEN_URL",
        "OAUTH_USERINFO_URL",
    ];
    let errors = [
        bare()
            .get_url_with_pkce(REDIRECT_URI, "s", VERIFIER)
            .unwrap_err(),
        bare()
            .exchange_with_pkce("c", REDIRECT_URI, VERIFIER)
            .await
            .unwrap_err(),
        bare().refresh("rt").await.unwrap_err(),
        bare().get_nickname("at").await.unwrap_err(),
        bare().revoke("at").await.unwrap_err(),
    ];
    for error in errors {
        let ProviderError::NotConfigured {
            message,
            missing_env,
        } = &error
        else {
            panic!("{error:?}");
        };
        assert_eq!(missing_env, &all);
        for name in all {
            assert!(message.contains(name), "{message}");
        }
    }
    assert_eq!(bare().get_url(REDIRECT_URI, "s"), "");

    // URLs set in code are not missing; the client's credentials still are.
    let error = bare()
        .authorize_url(idp.authorize_url())
        .token_url(idp.token_url())
        .userinfo_url(idp.userinfo_url())
        .refresh("rt")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ProviderError::NotConfigured { missing_env, .. }
            if missing_env == &["OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET"]),
        "{error:?}"
    );
    // A URL that would send secrets in the clear is as good as missing.
    let error = provider(&idp)
        .env_vars(
            vars(&idp)
                .into_iter()
                .map(|(name, value)| match name.as_str() {
                    "OAUTH_TOKEN_URL" => (name, "http://idp.example/token".to_owned()),
                    _ => (name, value),
                }),
        )
        .refresh("rt")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ProviderError::NotConfigured { missing_env, message }
            if missing_env == &["OAUTH_TOKEN_URL"] && message.contains("https")),
        "{error:?}"
    );
    assert!(idp.requests().is_empty());
}

#[tokio::test]
async fn the_nickname_is_the_userinfo_field_passed_through_untouched() {
    let idp = TestProvider::start().await;
    let html = r#"<script>alert("hi")</script>&amp;@example.com"#;
    idp.account("at-html", json!({ "sub": "u-1", "email": html }));
    idp.account("at-sub", json!({ "sub": "u-2" }));
    idp.account(
        "at-login",
        json!({ "sub": "u-3", "login": "ada", "id": 42 }),
    );
    idp.account("at-none", json!({ "name": "Ada" }));
    let oidc = provider(&idp);
    assert_eq!(oidc.get_nickname("at-html").await.unwrap(), html);
    assert_eq!(oidc.get_nickname("at-sub").await.unwrap(), "u-2");
    let by_login = provider(&idp).nickname_field("login");
    assert_eq!(by_login.get_nickname("at-login").await.unwrap(), "ada");
    let by_id = provider(&idp).nickname_field("id");
    assert_eq!(by_id.get_nickname("at-login").await.unwrap(), "42");
    let error = oidc.get_nickname("at-none").await.unwrap_err();
    assert_eq!(error.kind(), "invalid_response", "{error:?}");

    // The account's stable id: `sub`, else a GitHub-style numeric `id`.
    let account = by_login.get_account("at-login").await.unwrap();
    assert_eq!(
        (account.nickname.as_str(), account.subject.as_deref()),
        ("ada", Some("u-3"))
    );
    idp.account("at-github", json!({ "login": "grace", "id": 583_231 }));
    let account = by_login.get_account("at-github").await.unwrap();
    assert_eq!(
        (account.nickname.as_str(), account.subject.as_deref()),
        ("grace", Some("583231"))
    );
    idp.account("at-anonymous", json!({ "login": "nobody" }));
    let account = by_login.get_account("at-anonymous").await.unwrap();
    assert_eq!(account.subject, None);

    let requests = idp.requests_to(ProviderEndpoint::Userinfo);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].authorization.as_deref(), Some("Bearer at-html"));

    // A token the provider does not accept.
    let error = oidc.get_nickname("at-unknown").await.unwrap_err();
    assert_eq!(
        error,
        ProviderError::Rejected {
            code: "invalid_token".to_owned(),
            description: None,
            status: 401,
        }
    );
}

#[tokio::test]
async fn a_tools_userinfo_call_needs_only_the_userinfo_url() {
    let idp = TestProvider::start().await;
    let oidc = StandardOAuthProvider::new("oidc")
        .env_prefix("OAUTH")
        .env_vars([("OAUTH_USERINFO_URL", idp.userinfo_url())]);
    let userinfo = oidc.userinfo(TEST_ACCESS_TOKEN).await.unwrap();
    assert_eq!(userinfo["email"], "ada@provider.example");
    // The platform's operations need the whole connection's settings.
    assert_eq!(
        oidc.get_nickname(TEST_ACCESS_TOKEN)
            .await
            .unwrap_err()
            .kind(),
        "not_configured"
    );

    let error = StandardOAuthProvider::new("oidc")
        .env_prefix("OAUTH")
        .env_vars([("OAUTH_CLIENT_ID", "c")])
        .userinfo(TEST_ACCESS_TOKEN)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ProviderError::NotConfigured { missing_env, .. }
            if missing_env == &["OAUTH_USERINFO_URL"]),
        "{error:?}"
    );
}

#[tokio::test]
async fn revocation_follows_rfc_7009() {
    let idp = TestProvider::start().await;
    assert!(provider(&idp).revoke("at-1").await.unwrap());
    let [request] = idp
        .requests_to(ProviderEndpoint::Revocation)
        .try_into()
        .unwrap();
    assert_eq!(
        request.form,
        [("token", "at-1"), ("token_type_hint", "access_token")]
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
    );
    assert_eq!(
        request.basic_credentials(),
        Some(("client 1".to_owned(), "s3cret/+".to_owned()))
    );

    idp.reply(
        ProviderEndpoint::Revocation,
        ProviderReply::oauth_error(
            400,
            "unsupported_token_type",
            "access tokens are not revocable",
        ),
    );
    assert!(!provider(&idp).revoke("at-1").await.unwrap());

    // Without a revocation URL nothing is revoked, and nothing is sent.
    let before = idp.requests().len();
    let without: Vec<_> = vars(&idp)
        .into_iter()
        .filter(|(name, _)| name != "OAUTH_REVOCATION_URL")
        .collect();
    let oidc = StandardOAuthProvider::new("oidc")
        .env_prefix("OAUTH")
        .env_vars(without);
    assert!(!oidc.revoke("at-1").await.unwrap());
    assert_eq!(idp.requests().len(), before);
}

#[tokio::test]
async fn revoking_a_grant_revokes_the_refresh_token_then_the_access_token() {
    let idp = TestProvider::start().await;
    assert!(
        provider(&idp)
            .revoke_grant("at-1", Some("rt-1"))
            .await
            .unwrap()
    );
    let forms: Vec<_> = idp
        .requests_to(ProviderEndpoint::Revocation)
        .into_iter()
        .map(|request| request.form)
        .collect();
    let form = |token: &str, hint: &str| {
        [("token", token), ("token_type_hint", hint)]
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
    };
    assert_eq!(
        forms,
        [form("rt-1", "refresh_token"), form("at-1", "access_token")]
    );
    // Without a refresh token: the access token only.
    assert!(provider(&idp).revoke_grant("at-2", None).await.unwrap());
    assert_eq!(idp.requests_to(ProviderEndpoint::Revocation).len(), 3);
}

/// A production server for `platform` with the standard provider `linear` registered, reading
/// its settings from the host's environment (`LINEAR_…`, with `extra` variables).
async fn host_with_standard_provider(
    platform: &TestPlatform,
    extra: &[(&str, &str)],
) -> TestServer {
    let env = platform.env(extra);
    TestServer::start_with(OAUTH_CONFIG, env, |host| {
        host.register_auth(StandardOAuthProvider::new("linear").pkce(true))
    })
    .await
}

#[tokio::test]
async fn behind_the_host_the_provider_reads_the_hosts_environment() {
    let platform = TestPlatform::start().await;
    let idp = TestProvider::start().await;
    let (authorize, token, userinfo) = (idp.authorize_url(), idp.token_url(), idp.userinfo_url());
    let server = host_with_standard_provider(
        &platform,
        &[
            ("LINEAR_CLIENT_ID", "lin-client"),
            ("LINEAR_CLIENT_SECRET", "lin-secret"),
            ("LINEAR_AUTHORIZE_URL", &authorize),
            ("LINEAR_TOKEN_URL", &token),
            ("LINEAR_USERINFO_URL", &userinfo),
        ],
    )
    .await;

    let response = platform
        .provider_call(
            &server.url,
            "linear",
            "authorization-url",
            &json!({ "redirect_uri": REDIRECT_URI, "state": "st", "code_verifier": VERIFIER }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let url: Value = response.json().await.unwrap();
    let params = query(url["url"].as_str().unwrap());
    assert!(params.contains(&("client_id".to_owned(), "lin-client".to_owned())));
    assert!(params.contains(&("code_challenge".to_owned(), pkce_challenge(VERIFIER))));

    let response = platform
        .provider_call(
            &server.url,
            "linear",
            "exchange",
            &json!({ "code": "code-9", "redirect_uri": REDIRECT_URI, "code_verifier": VERIFIER }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["access_token"], TEST_ACCESS_TOKEN);
    assert_eq!(tokens["refresh_token"], TEST_REFRESH_TOKEN);
    let [request] = idp.requests_to(ProviderEndpoint::Token).try_into().unwrap();
    assert_eq!(
        request.basic_credentials(),
        Some(("lin-client".to_owned(), "lin-secret".to_owned()))
    );
    assert_eq!(request.form_value("code_verifier"), Some(VERIFIER));

    let response = platform
        .provider_call(
            &server.url,
            "linear",
            "nickname",
            &json!({ "access_token": TEST_ACCESS_TOKEN }),
        )
        .await;
    let nickname: Value = response.json().await.unwrap();
    assert_eq!(
        nickname,
        json!({ "nickname": "ada@provider.example", "subject": "test-user" })
    );

    // The provider refuses the code: the platform learns why, and the code is not repeated.
    idp.reply(
        ProviderEndpoint::Token,
        ProviderReply::oauth_error(400, "invalid_grant", "code code-10 was already used"),
    );
    let response = platform
        .provider_call(
            &server.url,
            "linear",
            "exchange",
            &json!({ "code": "code-10", "redirect_uri": REDIRECT_URI, "code_verifier": VERIFIER }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["kind"], "provider");
    assert_eq!(body["error"]["code"], "invalid_grant");
    assert_eq!(body["error"]["status"], 400);
    assert!(!body.to_string().contains("code-10"), "{body}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn behind_the_host_missing_settings_are_reported_to_the_platform() {
    let platform = TestPlatform::start().await;
    let server =
        host_with_standard_provider(&platform, &[("LINEAR_CLIENT_ID", "lin-client")]).await;
    let response = platform
        .provider_call(
            &server.url,
            "linear",
            "authorization-url",
            &json!({ "redirect_uri": REDIRECT_URI, "state": "st", "code_verifier": VERIFIER }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["kind"], "not_configured");
    assert_eq!(
        body["error"]["missing_env"],
        json!([
            "LINEAR_CLIENT_SECRET",
            "LINEAR_AUTHORIZE_URL",
            "LINEAR_TOKEN_URL",
            "LINEAR_USERINFO_URL"
        ])
    );
    server.stop().await.unwrap();
}
