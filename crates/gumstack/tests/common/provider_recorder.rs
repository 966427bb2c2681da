//! The provider routes' fixture: a recording `linear` provider, a server hosting it, and a
//! raw POST to its routes.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use gumstack::{
    auth::{AuthProvider, ProviderError, TokenResponse},
    testing::{PLATFORM_CALL_HEADER, TestPlatform},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{OAUTH_CONFIG, TestServer};

/// A provider named `linear` (the provider of [`OAUTH_CONFIG`]) that records what it was asked
/// and answers fixed values, or `fail` when set.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    calls: Arc<Mutex<Vec<Value>>>,
    fail: Arc<Mutex<Option<ProviderError>>>,
}

impl Recorder {
    pub fn record(&self, call: Value) -> Result<(), ProviderError> {
        self.calls.lock().unwrap().push(call);
        match self.fail.lock().unwrap().clone() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    pub fn calls(&self) -> Vec<Value> {
        self.calls.lock().unwrap().clone()
    }

    pub fn fail_with(&self, error: ProviderError) {
        *self.fail.lock().unwrap() = Some(error);
    }
}

#[async_trait::async_trait]
impl AuthProvider for Recorder {
    fn name(&self) -> &str {
        "linear"
    }

    fn get_url(&self, redirect_uri: &str, state: &str) -> String {
        format!("https://idp.example/authorize?redirect_uri={redirect_uri}&state={state}")
    }

    fn get_url_with_pkce(
        &self,
        redirect_uri: &str,
        state: &str,
        code_verifier: &str,
    ) -> Result<String, ProviderError> {
        self.record(json!({
            "op": "authorization-url",
            "redirect_uri": redirect_uri,
            "state": state,
            "code_verifier": code_verifier,
        }))?;
        Ok(self.get_url(redirect_uri, state))
    }

    async fn exchange(
        &self,
        _code: &str,
        _redirect_uri: &str,
    ) -> Result<TokenResponse, ProviderError> {
        panic!("the host calls exchange_with_pkce");
    }

    async fn exchange_with_pkce(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<TokenResponse, ProviderError> {
        self.record(json!({
            "op": "exchange",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }))?;
        Ok(TokenResponse::bearer("at-1")
            .with_refresh_token("rt-1")
            .with_expires_in(3600)
            .with_scope("read"))
    }

    async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse, ProviderError> {
        self.record(json!({ "op": "refresh", "refresh_token": refresh_token }))?;
        Ok(TokenResponse::bearer("at-2"))
    }

    async fn get_nickname(&self, access_token: &str) -> Result<String, ProviderError> {
        self.record(json!({ "op": "nickname", "access_token": access_token }))?;
        Ok("<b>Ada</b>".to_owned())
    }

    async fn revoke(&self, access_token: &str) -> Result<bool, ProviderError> {
        self.record(json!({ "op": "revoke", "access_token": access_token }))?;
        Ok(false)
    }
}

/// A production server for `platform` with `recorder` registered.
pub async fn server(platform: &TestPlatform, recorder: &Recorder) -> TestServer {
    let recorder = recorder.clone();
    TestServer::start_with(OAUTH_CONFIG, platform.env(&[]), |host| {
        host.register_auth(recorder)
    })
    .await
}

/// POSTs `body` to `path` with `signature` in the platform call header; status, JSON body and
/// `Cache-Control`.
pub async fn post(
    server: &TestServer,
    path: &str,
    signature: Option<&str>,
    body: &str,
) -> (StatusCode, Value, Option<String>) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", server.url))
        .header("content-type", "application/json")
        .timeout(Duration::from_secs(20))
        .body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header(PLATFORM_CALL_HEADER, signature);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let cache_control = response
        .headers()
        .get("cache-control")
        .map(|value| value.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body, cache_control)
}

pub async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap())
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub const EXCHANGE: &str = "/gumstack/providers/linear/exchange";
pub const EXCHANGE_BODY: &str =
    r#"{"code":"code-1","redirect_uri":"https://gumstack.test/auth/callback","code_verifier":"v"}"#;

/// Asserts that the call is refused with 401 `invalid_platform_call` and that no provider code
/// ran; the message.
pub async fn refused(
    server: &TestServer,
    recorder: &Recorder,
    path: &str,
    signature: Option<&str>,
    body: &str,
) -> String {
    let before = recorder.calls().len();
    let (status, answer, _) = post(server, path, signature, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_platform_call", "{answer}");
    assert_eq!(recorder.calls().len(), before, "the provider ran");
    if let Some(signature) = signature {
        assert!(!answer.to_string().contains(signature), "{answer}");
    }
    answer["error"]["message"].as_str().unwrap().to_owned()
}
