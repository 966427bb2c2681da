//! Provider Account served by `GumstackHost` in-process on a real socket, between a stand-in
//! platform (`gumstack::testing::TestPlatform`: signed identities and platform calls, the
//! credentials routes) and a stand-in OpenID provider (`TestProvider`: token, userinfo,
//! revocation). Tools are called by a real rmcp client; the provider routes as the platform
//! calls them.

use std::collections::HashMap;

use example_oauth_server::{DEFAULT_SCOPES, fingerprint, host};
use gumstack::{
    HostEnv,
    auth::pkce_challenge,
    testing::{
        CredentialsReply, IDENTITY_HEADER, ProviderEndpoint, TEST_ACCESS_TOKEN, TEST_REFRESH_TOKEN,
        TestPlatform, TestProvider,
    },
};
use rmcp::{
    ServiceExt,
    model::{CallToolRequestParams, ClientConfig},
    service::{RoleClient, RunningService},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::oneshot};
use url::Url;

type Client = RunningService<RoleClient, ClientConfig>;

const REDIRECT_URI: &str = "https://gumstack.test/auth/callback";
const VERIFIER: &str = "M25iVXpKU3puUjFaYWg3T1NDTDQtcW1ROUY5YXlwalNoc0hhakxifmZHag";

/// Serves Provider Account with `env`; returns its base URL and a stop switch.
async fn serve(env: HostEnv) -> (String, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(host().with_env(env).serve_with_listener(listener, async {
        let _ = stopped.await;
    }));
    (url, stop)
}

/// A real rmcp client; with `identity`, sent in the `Gumstack-Identity` header as the gateway does.
async fn connect(base_url: &str, identity: Option<&str>) -> Client {
    let headers = identity
        .map(|identity| (IDENTITY_HEADER.parse().unwrap(), identity.parse().unwrap()))
        .into_iter()
        .collect::<HashMap<_, _>>();
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{base_url}/mcp"))
            .custom_headers(headers),
    );
    ClientConfig::default().serve(transport).await.unwrap()
}

async fn call(client: &Client, tool: &str) -> (bool, String) {
    let result = client
        .call_tool(CallToolRequestParams::new(tool.to_owned()))
        .await
        .unwrap();
    let text = result.content[0].as_text().unwrap().text.clone();
    (result.is_error == Some(true), text)
}

/// The `OAUTH_*` variables of a provider at `idp`.
fn oauth_vars(idp: &TestProvider) -> Vec<(&'static str, String)> {
    vec![
        ("OAUTH_CLIENT_ID", "provider-account".to_owned()),
        ("OAUTH_CLIENT_SECRET", "pa-secret".to_owned()),
        ("OAUTH_AUTHORIZE_URL", idp.authorize_url()),
        ("OAUTH_TOKEN_URL", idp.token_url()),
        ("OAUTH_USERINFO_URL", idp.userinfo_url()),
        ("OAUTH_REVOCATION_URL", idp.revocation_url()),
    ]
}

/// Serves Provider Account in production for `platform` with the `OAUTH_*` variables of `idp`.
async fn start_production(
    platform: &TestPlatform,
    idp: &TestProvider,
) -> (String, oneshot::Sender<()>) {
    let vars = oauth_vars(idp);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(n, v)| (*n, v.as_str())).collect();
    serve(platform.env(&vars)).await
}

#[tokio::test]
async fn the_account_argument_asks_the_platform_for_that_account() {
    let platform = TestPlatform::start().await;
    let idp = TestProvider::start().await;
    platform.reply_credentials(CredentialsReply::account_token(
        TEST_ACCESS_TOKEN,
        "ada@work",
    ));
    let (url, _stop) = start_production(&platform, &idp).await;
    let client = connect(&url, Some(&platform.identity())).await;

    let arguments = json!({ "account": "Work" }).as_object().cloned().unwrap();
    let result = client
        .call_tool(CallToolRequestParams::new("provider_profile").with_arguments(arguments))
        .await
        .unwrap();
    let text = result.content[0].as_text().unwrap().text.clone();
    assert_ne!(result.is_error, Some(true), "{text}");
    let profile: Value = serde_json::from_str(&text).unwrap();
    // The account the platform says the token is of.
    assert_eq!(profile["account"], "ada@work");
    let request = &platform.credentials_requests()[0];
    assert_eq!(request.query.as_deref(), Some("account=Work"));

    // Without the argument: the default account.
    let (is_error, text) = call(&client, "provider_profile").await;
    assert!(!is_error, "{text}");
    let request = &platform.credentials_requests()[1];
    assert_eq!(request.query.as_deref(), None);
}

#[tokio::test]
async fn the_profile_is_the_connected_accounts_userinfo() {
    let platform = TestPlatform::start().await;
    let idp = TestProvider::start().await;
    platform.reply_credentials(CredentialsReply::credentials(
        json!({ "access_token": TEST_ACCESS_TOKEN }),
    ));
    let (url, _stop) = start_production(&platform, &idp).await;
    let client = connect(&url, Some(&platform.identity())).await;

    let (is_error, text) = call(&client, "provider_profile").await;
    assert!(!is_error, "{text}");
    let profile: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        profile,
        json!({
            "sub": "test-user",
            "email": "ada@provider.example",
            "token_fingerprint": fingerprint(TEST_ACCESS_TOKEN),
        })
    );
    let [request] = idp
        .requests_to(ProviderEndpoint::Userinfo)
        .try_into()
        .unwrap();
    assert_eq!(
        request.authorization,
        Some(format!("Bearer {TEST_ACCESS_TOKEN}"))
    );
    assert!(platform.invalid_token_reports().is_empty());
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_rejected_token_is_reported_and_the_refreshed_one_used() {
    let platform = TestPlatform::start().await;
    let idp = TestProvider::start().await;
    // The platform still hands out a token the provider has revoked; after the report it
    // refreshes the connection and hands out the new one.
    platform.reply_credentials(CredentialsReply::credentials(
        json!({ "access_token": "at-stale" }),
    ));
    platform.reply_credentials_after_report(CredentialsReply::credentials(
        json!({ "access_token": "at-fresh" }),
    ));
    idp.account(
        "at-fresh",
        json!({ "sub": "u-1", "email": "ada@provider.example" }),
    );
    let (url, _stop) = start_production(&platform, &idp).await;
    let identity = platform.identity();
    let client = connect(&url, Some(&identity)).await;

    let (is_error, text) = call(&client, "provider_profile").await;
    assert!(!is_error, "{text}");
    let profile: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(profile["token_fingerprint"], fingerprint("at-fresh"));
    assert_eq!(profile["email"], "ada@provider.example");

    let reports = platform.invalid_token_reports();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].body, json!({ "access_token": "at-stale" }));
    assert_eq!(reports[0].identity.as_deref(), Some(identity.as_str()));
    let bearers: Vec<_> = idp
        .requests_to(ProviderEndpoint::Userinfo)
        .into_iter()
        .map(|request| request.authorization.unwrap())
        .collect();
    assert_eq!(bearers, ["Bearer at-stale", "Bearer at-fresh"]);
    assert_eq!(platform.credentials_requests().len(), 2);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_token_rejected_again_is_reported_once() {
    let platform = TestPlatform::start().await;
    let idp = TestProvider::start().await;
    platform.reply_credentials(CredentialsReply::credentials(
        json!({ "access_token": "at-revoked" }),
    ));
    let (url, _stop) = start_production(&platform, &idp).await;
    let client = connect(&url, Some(&platform.identity())).await;
    let (is_error, text) = call(&client, "provider_profile").await;
    assert!(is_error, "{text}");
    assert!(text.contains("even after a refresh"), "{text}");
    assert!(!text.contains("at-revoked"), "{text}");
    assert_eq!(platform.invalid_token_reports().len(), 1);
    assert_eq!(idp.requests_to(ProviderEndpoint::Userinfo).len(), 2);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_user_who_has_not_connected_is_sent_to_connect() {
    let platform = TestPlatform::start().await;
    let idp = TestProvider::start().await;
    let (url, _stop) = start_production(&platform, &idp).await;
    let client = connect(&url, Some(&platform.identity())).await;
    let (is_error, text) = call(&client, "provider_profile").await;
    assert!(is_error, "{text}");
    assert!(text.contains(&platform.connect_url()), "{text}");
    assert!(idp.requests().is_empty());
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn the_platform_runs_the_connect_flow_through_the_provider_routes() {
    let platform = TestPlatform::start().await;
    let idp = TestProvider::start().await;
    let (url, _stop) = start_production(&platform, &idp).await;

    // 1. The authorization URL: the platform's state and callback, PKCE S256, the scopes.
    let response = platform
        .provider_call(
            &url,
            "oidc",
            "authorization-url",
            &json!({ "redirect_uri": REDIRECT_URI, "state": "st-1", "code_verifier": VERIFIER }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let authorize = Url::parse(body["url"].as_str().unwrap()).unwrap();
    assert_eq!(authorize.path(), "/authorize");
    let params: HashMap<String, String> = authorize.query_pairs().into_owned().collect();
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["client_id"], "provider-account");
    assert_eq!(params["redirect_uri"], REDIRECT_URI);
    assert_eq!(params["state"], "st-1");
    assert_eq!(params["scope"], DEFAULT_SCOPES);
    assert_eq!(params["code_challenge"], pkce_challenge(VERIFIER));
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["prompt"], "consent");

    // 2. The code is exchanged with client_secret_basic and the verifier.
    let response = platform
        .provider_call(
            &url,
            "oidc",
            "exchange",
            &json!({ "code": "code-1", "redirect_uri": REDIRECT_URI, "code_verifier": VERIFIER }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(
        tokens,
        json!({
            "access_token": TEST_ACCESS_TOKEN,
            "refresh_token": TEST_REFRESH_TOKEN,
            "expires_in": 3600,
            "token_type": "Bearer",
            "scope": "openid email",
        })
    );
    let [exchange] = idp.requests_to(ProviderEndpoint::Token).try_into().unwrap();
    assert_eq!(
        exchange.basic_credentials(),
        Some(("provider-account".to_owned(), "pa-secret".to_owned()))
    );
    assert_eq!(
        exchange.form_value("grant_type"),
        Some("authorization_code")
    );
    assert_eq!(exchange.form_value("code"), Some("code-1"));
    assert_eq!(exchange.form_value("redirect_uri"), Some(REDIRECT_URI));
    assert_eq!(exchange.form_value("code_verifier"), Some(VERIFIER));
    assert_eq!(exchange.form_value("client_secret"), None);

    // 3. The account's nickname is its email.
    let response = platform
        .provider_call(
            &url,
            "oidc",
            "nickname",
            &json!({ "access_token": TEST_ACCESS_TOKEN }),
        )
        .await;
    let nickname: Value = response.json().await.unwrap();
    assert_eq!(
        nickname,
        json!({ "nickname": "ada@provider.example", "subject": "test-user" })
    );

    // Later: a refresh, and a revocation when the user disconnects.
    let response = platform
        .provider_call(
            &url,
            "oidc",
            "refresh",
            &json!({ "refresh_token": TEST_REFRESH_TOKEN }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let response = platform
        .provider_call(
            &url,
            "oidc",
            "revoke",
            &json!({ "access_token": TEST_ACCESS_TOKEN }),
        )
        .await;
    let revoked: Value = response.json().await.unwrap();
    assert_eq!(revoked, json!({ "revoked": true }));
}

#[tokio::test]
async fn missing_settings_are_named_on_the_first_step() {
    let platform = TestPlatform::start().await;
    let (url, _stop) = serve(platform.env(&[])).await;
    let response = platform
        .provider_call(
            &url,
            "oidc",
            "authorization-url",
            &json!({ "redirect_uri": REDIRECT_URI, "state": "st-1", "code_verifier": VERIFIER }),
        )
        .await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["kind"], "not_configured");
    assert_eq!(
        body["error"]["missing_env"],
        json!([
            "OAUTH_CLIENT_ID",
            "OAUTH_CLIENT_SECRET",
            "OAUTH_AUTHORIZE_URL",
            "OAUTH_TOKEN_URL",
            "OAUTH_USERINFO_URL",
        ])
    );
}

#[tokio::test]
async fn local_mode_uses_the_local_access_token() {
    let idp = TestProvider::start().await;
    let userinfo = idp.userinfo_url();
    let env = HostEnv::from_vars([
        ("ENVIRONMENT", "local"),
        ("LOCAL_ACCESS_TOKEN", TEST_ACCESS_TOKEN),
        ("OAUTH_USERINFO_URL", &userinfo),
    ])
    .unwrap();
    let (url, _stop) = serve(env).await;
    let client = connect(&url, None).await;
    let (is_error, text) = call(&client, "provider_profile").await;
    assert!(!is_error, "{text}");
    let profile: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(profile["token_fingerprint"], fingerprint(TEST_ACCESS_TOKEN));

    let (is_error, text) = call(&client, "whoami").await;
    assert!(!is_error, "{text}");
    let caller: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(caller["user_id"], "local");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn local_mode_with_a_rejected_token_names_the_variable_to_renew() {
    let idp = TestProvider::start().await;
    let userinfo = idp.userinfo_url();
    let env = HostEnv::from_vars([
        ("ENVIRONMENT", "local"),
        ("LOCAL_ACCESS_TOKEN", "at-expired"),
        ("OAUTH_USERINFO_URL", &userinfo),
    ])
    .unwrap();
    let (url, _stop) = serve(env).await;
    let client = connect(&url, None).await;
    let (is_error, text) = call(&client, "provider_profile").await;
    assert!(is_error, "{text}");
    assert!(text.contains("LOCAL_ACCESS_TOKEN"), "{text}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn whoami_in_production_is_the_user_the_platform_signed_for() {
    let platform = TestPlatform::start().await;
    let idp = TestProvider::start().await;
    let (url, _stop) = start_production(&platform, &idp).await;
    let client = connect(&url, Some(&platform.identity())).await;
    let (is_error, text) = call(&client, "whoami").await;
    assert!(!is_error, "{text}");
    let caller: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(caller["email"], "ada@example.com");
    assert_eq!(caller["server_id"], platform.server_id());
    // whoami needs no token: nothing was fetched.
    assert!(platform.credentials_requests().is_empty());
    client.cancel().await.unwrap();
}
