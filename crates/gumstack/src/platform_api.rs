//! The calls this process makes to the platform, at `GUMSTACK_BACKEND_URL`: the one HTTP
//! client they share ([`http_client`]), the fetch of the calling user's credentials
//! ([`PlatformApi::credentials`], docs/PROTOCOL.md §3) and the report of an access token the
//! provider rejected ([`PlatformApi::report_invalid_token`], §3.1). The platform's signing keys
//! are fetched with the same client by `identity/jwks.rs`.
//!
//! The platform is on loopback (`HostEnv` accepts only `http://`), so every call is bounded
//! tightly in time and size, and follows no redirect and no proxy.
//!
//! What each answer of the credentials routes means for the tool, as a [`GumstackError`]:
//!
//! | answer | error |
//! |---|---|
//! | 200 `{"credentials": {…}}` (fetch), 2xx (report) | none: the credentials / the report was taken |
//! | 409 `credentials_required` with `connect_url` | [`GumstackError::NeedsAuthorization`] (the link) |
//! | 400 `not_supported` (or any 400), 404 | [`GumstackError::Misconfigured`] |
//! | 401 `invalid_server_token` / `invalid_identity` | [`GumstackError::Misconfigured`], saying which was refused |
//! | 403 `no_user` (the platform's own call, tool discovery) | [`GumstackError::NoAuthContext`] |
//! | 502 `integration_error` | [`GumstackError::Misconfigured`] with the platform's message |
//! | 503, other 5xx, 429, a transport failure, a timeout | [`GumstackError::RetryLater`] |
//! | a reply that cannot be read, or any other status | [`GumstackError::RetryLater`] |
//!
//! The server token, the forwarded identity and a reported token are secrets: they are sent in
//! headers or the body and never logged or put in an error. The platform's own `message` is
//! passed on for 409 and 502 `integration_error`, where it is written for people (the user,
//! the developer); for the others it goes to the log.

use std::{fmt, sync::Arc, time::Duration};

use gumstack_protocol::credentials::{
    ACCOUNT_QUERY, CREDENTIALS_PATH, INVALID_TOKEN_PATH, InvalidTokenReport, PROVIDER_QUERY,
    SCOPE_QUERY,
};
use reqwest::{Url, header};
use secrecy::{ExposeSecret, SecretString};

pub(crate) use self::answer::{Fetched, NO_USER};
use self::answer::{credentials_answer, error_answer, retry_later};
use crate::error::{GumstackError, HostError};
use crate::identity::Presented;

/// What each answer of the platform means for the tool (the table above).
mod answer;

/// How long to wait for a TCP connection to the platform.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a credentials fetch may take in all: the platform may refresh an OAuth token first,
/// through this server's own provider code, which gives up on the provider after 15 s
/// (`auth::DEFAULT_TIMEOUT`). See `gumstack_protocol::timeouts` for how it relates to the
/// platform's own waits.
const CREDENTIALS_TIMEOUT: Duration = gumstack_protocol::timeouts::SDK_CREDENTIALS;
/// Credentials are small; refuse an absurd answer rather than buffer it.
const MAX_CREDENTIALS_BYTES: usize = 1024 * 1024;
/// The most characters of the platform's message passed on to a tool.
const MAX_MESSAGE_CHARS: usize = 1000;

/// The HTTP client for every call to the platform: short connect timeout, no redirects (a
/// redirect would carry the server token elsewhere), no proxy (the platform is on loopback).
/// Each call sets its own overall timeout.
pub(crate) fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
}

/// This deployment's client of the platform's internal API.
pub(crate) struct PlatformApi {
    http: reqwest::Client,
    credentials_url: Url,
    invalid_token_url: Url,
    /// `GUMSTACK_SERVER_TOKEN`; `None` when the platform did not set it (every fetch then
    /// fails as misconfigured).
    server_token: Option<Arc<SecretString>>,
}

impl fmt::Debug for PlatformApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformApi")
            .field("credentials_url", &self.credentials_url.as_str())
            .field(
                "server_token",
                &self.server_token.as_ref().map(|_| "[REDACTED]"),
            )
            .finish_non_exhaustive()
    }
}

impl PlatformApi {
    /// The API of the platform at `backend_url` (no trailing slash), called with `http` and
    /// authenticated with `server_token`.
    pub(crate) fn new(
        http: reqwest::Client,
        backend_url: &str,
        server_token: Option<Arc<SecretString>>,
    ) -> Result<Self, HostError> {
        let url = |path: &str| {
            Url::parse(&format!("{backend_url}{path}")).map_err(|error| {
                HostError::InvalidBackendUrl {
                    value: backend_url.to_owned(),
                    reason: error.to_string(),
                }
            })
        };
        Ok(Self {
            http,
            credentials_url: url(CREDENTIALS_PATH)?,
            invalid_token_url: url(INVALID_TOKEN_PATH)?,
            server_token,
        })
    }

    /// `GUMSTACK_SERVER_TOKEN`, or why nothing can be asked of the platform without it.
    fn server_token(&self) -> Result<&SecretString, GumstackError> {
        self.server_token.as_deref().ok_or_else(|| {
            GumstackError::misconfigured(
                "GUMSTACK_SERVER_TOKEN is not set, so the user's credentials cannot be fetched \
                 from the platform (the Gumstack platform sets it for the servers it runs; \
                 redeploy the server)",
            )
        })
    }

    /// The credentials of the user whose call presented `identity` (its `Gumstack-Identity`
    /// and `Gumstack-Call`, unchanged), for `provider` and its `account` when given, with the
    /// provider `scopes` the tool needs.
    pub(crate) async fn credentials(
        &self,
        identity: &Presented,
        provider: Option<&str>,
        account: Option<&str>,
        scopes: &[&str],
    ) -> Result<Fetched, GumstackError> {
        let server_token = self.server_token()?;
        let mut url = self.credentials_url.clone();
        if let Some(provider) = provider {
            url.query_pairs_mut().append_pair(PROVIDER_QUERY, provider);
        }
        if let Some(account) = account {
            url.query_pairs_mut().append_pair(ACCOUNT_QUERY, account);
        }
        if !scopes.is_empty() {
            url.query_pairs_mut()
                .append_pair(SCOPE_QUERY, &scopes.join(" "));
        }
        let response = with_call(
            self.http
                .get(url)
                .timeout(CREDENTIALS_TIMEOUT)
                .header(header::ACCEPT, "application/json")
                .bearer_auth(server_token.expose_secret()),
            identity,
        )?
        .send()
        .await
        .map_err(transport_failure)?;
        let status = response.status();
        let body = read_body(response).await?;
        credentials_answer(status, &body)
    }

    /// Tells the platform that the provider rejected `access_token`, which it handed out for
    /// the call that presented `identity` (for `provider` when given), so that it refreshes the
    /// connection before the next fetch.
    pub(crate) async fn report_invalid_token(
        &self,
        identity: &Presented,
        provider: Option<&str>,
        access_token: &SecretString,
    ) -> Result<(), GumstackError> {
        let server_token = self.server_token()?;
        let report = InvalidTokenReport {
            provider: provider.map(str::to_owned),
            access_token: access_token.clone(),
        };
        // Holds the token: sent as the body, never logged.
        let body = serde_json::to_vec(&report).expect("a report serialises to JSON");
        let response = with_call(
            self.http
                .post(self.invalid_token_url.clone())
                .timeout(CREDENTIALS_TIMEOUT)
                .header(header::ACCEPT, "application/json")
                .header(header::CONTENT_TYPE, "application/json")
                .bearer_auth(server_token.expose_secret()),
            identity,
        )?
        .body(body)
        .send()
        .await
        .map_err(transport_failure)?;
        let status = response.status();
        let body = read_body(response).await?;
        if status.is_success() {
            return Ok(());
        }
        Err(error_answer(status, &body))
    }
}

/// `request` with the call's identity and id, as headers marked sensitive so no HTTP layer
/// logs them.
fn with_call(
    request: reqwest::RequestBuilder,
    presented: &Presented,
) -> Result<reqwest::RequestBuilder, GumstackError> {
    let request = request.header(
        crate::identity::IDENTITY_HEADER,
        sensitive_header(&presented.identity)?,
    );
    Ok(match &presented.call {
        Some(call) => request.header(crate::identity::CALL_HEADER, sensitive_header(call)?),
        None => request,
    })
}

/// A value the host received and verified as a header, marked sensitive.
fn sensitive_header(identity: &SecretString) -> Result<header::HeaderValue, GumstackError> {
    let mut value = header::HeaderValue::from_str(identity.expose_secret()).map_err(|_| {
        // Unreachable in practice: the host received and verified this very header value.
        GumstackError::no_auth_context(
            "no authentication context: the identity of this call cannot be forwarded",
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// The body, up to [`MAX_CREDENTIALS_BYTES`].
async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, GumstackError> {
    let too_large = || {
        tracing::warn!(
            "the platform's credentials answer is larger than {MAX_CREDENTIALS_BYTES} bytes"
        );
        retry_later(UNREADABLE)
    };
    if response
        .content_length()
        .is_some_and(|length| length > MAX_CREDENTIALS_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_failure)? {
        if body.len() + chunk.len() > MAX_CREDENTIALS_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A fetch that got no complete answer: the platform is down, slow or dropped the connection.
fn transport_failure(error: reqwest::Error) -> GumstackError {
    let message = if error.is_timeout() {
        "The Gumstack platform did not answer in time with your credentials for this server."
    } else {
        "The Gumstack platform could not be reached to fetch your credentials for this server."
    };
    tracing::warn!(
        cause = %error.without_url(),
        "cannot fetch the user's credentials from the platform"
    );
    retry_later(message)
}

const UNREADABLE: &str =
    "The Gumstack platform's answer with your credentials for this server could not be read.";

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{CredentialsReply, TestPlatform};

    fn api(backend_url: &str, server_token: &str) -> PlatformApi {
        let token = Arc::new(SecretString::from(server_token));
        PlatformApi::new(http_client().unwrap(), backend_url, Some(token)).unwrap()
    }

    fn identity() -> Presented {
        Presented {
            identity: SecretString::from("header.claims.signature"),
            call: Some(SecretString::from("call-7")),
        }
    }

    fn retry_message(error: GumstackError) -> String {
        match error {
            GumstackError::RetryLater { message } => message,
            other => panic!("expected RetryLater, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_provider_and_account_are_sent_url_encoded() {
        let platform = TestPlatform::start().await;
        platform.reply_credentials(CredentialsReply::account_token("t", "me@work"));
        let api = api(platform.backend_url(), platform.server_token());
        let fetched = api
            .credentials(
                &identity(),
                Some("a b&c"),
                Some("me@work"),
                &["repo", "read:org"],
            )
            .await
            .unwrap();
        assert_eq!(fetched.values["access_token"].expose_secret(), "t");
        assert_eq!(fetched.account.as_deref(), Some("me@work"));
        let request = &platform.credentials_requests()[0];
        assert_eq!(
            request.query.as_deref(),
            Some("provider=a+b%26c&account=me%40work&scope=repo+read%3Aorg")
        );
        assert_eq!(request.identity.as_deref(), Some("header.claims.signature"));
        assert_eq!(request.call.as_deref(), Some("call-7"));
    }

    #[tokio::test]
    async fn empty_and_null_values_are_not_set() {
        let platform = TestPlatform::start().await;
        platform.reply_credentials(CredentialsReply::credentials(
            json!({ "api_key": "sk-1", "region": "", "team": null }),
        ));
        let api = api(platform.backend_url(), platform.server_token());
        let fetched = api.credentials(&identity(), None, None, &[]).await.unwrap();
        assert_eq!(fetched.values.keys().collect::<Vec<_>>(), ["api_key"]);
        assert_eq!(fetched.account, None);
    }

    #[tokio::test]
    async fn an_oversized_answer_is_not_read() {
        let platform = TestPlatform::start().await;
        let huge = format!(
            r#"{{"credentials": {{"api_key": "{}"}}}}"#,
            "k".repeat(MAX_CREDENTIALS_BYTES)
        );
        platform.reply_credentials(CredentialsReply::raw(200, huge));
        let api = api(platform.backend_url(), platform.server_token());
        let error = api
            .credentials(&identity(), None, None, &[])
            .await
            .unwrap_err();
        assert_eq!(retry_message(error), UNREADABLE);
    }

    #[tokio::test]
    async fn an_unreachable_platform_means_retry_later() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let error = api(&url, "gst_1")
            .credentials(&identity(), None, None, &[])
            .await
            .unwrap_err();
        assert!(retry_message(error).contains("could not be reached"));
    }

    /// A platform that accepts the connection but never answers: the fetch gives up after
    /// [`CREDENTIALS_TIMEOUT`] (the paused clock jumps there as soon as nothing else can run).
    #[tokio::test(start_paused = true)]
    async fn a_silent_platform_times_out() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = api(&format!("http://{}", silent.local_addr().unwrap()), "gst_1");
        let started = tokio::time::Instant::now();
        let error = api
            .credentials(&identity(), None, None, &[])
            .await
            .unwrap_err();
        assert!(
            retry_message(error).contains("did not answer in time"),
            "after {:?}",
            started.elapsed()
        );
        assert!(
            started.elapsed() <= CREDENTIALS_TIMEOUT,
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn debug_output_hides_the_server_token() {
        let debug = format!("{:?}", api("http://127.0.0.1:1", "gst_secret"));
        assert!(!debug.contains("gst_secret"), "{debug}");
        assert!(debug.contains("/internal/v1/credentials"), "{debug}");
    }
}
