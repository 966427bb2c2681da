//! What the provider's answers mean, as a [`ProviderError`] the platform can act on.
//!
//! | answer | token endpoint | userinfo | revocation (RFC 7009) |
//! |---|---|---|---|
//! | no answer (network, timeout) | `Transport { status: None }` | same | same |
//! | 429, 5xx | `Transport { status, retry_after }` | same | same |
//! | an OAuth error (`{"error": …}`, any other status) | `Rejected { code, status }` | same | `unsupported_token_type` → not revoked; others `Rejected` |
//! | 401/403 without a body error | `InvalidResponse` | `Rejected` with the `WWW-Authenticate` error (`invalid_token` by default) | `InvalidResponse` |
//! | 2xx | the tokens; no `access_token` or unreadable → `InvalidResponse` | the JSON object, else `InvalidResponse` | revoked |
//! | anything else | `InvalidResponse` | same | same |
//!
//! Replies may be JSON or (some token endpoints) form-encoded. Text taken from the provider
//! (error codes and descriptions) is trimmed of control characters, bounded, and scrubbed of
//! the secrets the request carried; bodies are never logged or repeated.

use std::time::Duration;

use reqwest::{StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use time::{OffsetDateTime, format_description::well_known::Rfc2822};

use crate::auth::{ProviderError, TokenResponse};

/// Provider answers are small; refuse an absurd one rather than buffer it.
const MAX_REPLY_BYTES: usize = 1024 * 1024;
/// Longest `Retry-After` passed on.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
const MAX_CODE_CHARS: usize = 64;
const MAX_DESCRIPTION_CHARS: usize = 500;

/// A provider's answer, read in full.
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) status: StatusCode,
    retry_after: Option<Duration>,
    /// The error of a `WWW-Authenticate: Bearer error="…"` header.
    bearer_error: Option<String>,
    form_encoded: bool,
    body: Vec<u8>,
}

/// Which endpoint answered, for messages.
#[derive(Debug, Clone, Copy)]
pub(super) enum Endpoint {
    Token,
    Userinfo,
    Revocation,
}

impl Endpoint {
    fn describe(self) -> &'static str {
        match self {
            Self::Token => "the provider's token endpoint",
            Self::Userinfo => "the provider's userinfo endpoint",
            Self::Revocation => "the provider's revocation endpoint",
        }
    }
}

impl Reply {
    /// Reads `response` from `endpoint` in full (at most [`MAX_REPLY_BYTES`]).
    pub(super) async fn read(
        mut response: reqwest::Response,
        endpoint: Endpoint,
        timeout: Duration,
    ) -> Result<Self, ProviderError> {
        let status = response.status();
        let headers = response.headers();
        let retry_after = headers
            .get(header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_retry_after);
        let bearer_error = headers
            .get(header::WWW_AUTHENTICATE)
            .and_then(|value| value.to_str().ok())
            .and_then(bearer_error);
        let form_encoded = headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                value
                    .trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        let too_large = || {
            ProviderError::invalid_response(format!(
                "{}'s answer is larger than {MAX_REPLY_BYTES} bytes",
                endpoint.describe()
            ))
        };
        if response
            .content_length()
            .is_some_and(|length| length > MAX_REPLY_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| transport_failure(&error, endpoint, timeout))?
        {
            if body.len() + chunk.len() > MAX_REPLY_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Self {
            status,
            retry_after,
            bearer_error,
            form_encoded,
            body,
        })
    }

    /// The body as an object: a JSON object, or form fields for a form-encoded answer.
    fn fields(&self) -> Result<Map<String, Value>, String> {
        if self.form_encoded {
            return Ok(url::form_urlencoded::parse(&self.body)
                .map(|(name, value)| (name.into_owned(), Value::String(value.into_owned())))
                .collect());
        }
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(fields)) => Ok(fields),
            Ok(_) => Err("is JSON but not an object".to_owned()),
            Err(error) => Err(format!(
                "is not JSON (line {}, column {})",
                error.line(),
                error.column()
            )),
        }
    }

    /// 429 and 5xx: the provider is rate-limiting or failing.
    fn transient(&self, endpoint: Endpoint) -> Option<ProviderError> {
        let status = self.status;
        (status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()).then(|| {
            ProviderError::Transport {
                status: Some(status.as_u16()),
                retry_after: self.retry_after,
                message: format!("{} answered HTTP {status}", endpoint.describe()),
            }
        })
    }

    /// The OAuth error of the body (`{"error": "…", "error_description": "…"}`), if any.
    fn oauth_error(&self, secrets: &[&SecretString]) -> Option<ProviderError> {
        let fields = self.fields().ok()?;
        let code = clean(fields.get("error")?.as_str()?, MAX_CODE_CHARS, secrets);
        if code.is_empty() {
            return None;
        }
        let description = fields
            .get("error_description")
            .and_then(Value::as_str)
            .map(|text| clean(text, MAX_DESCRIPTION_CHARS, secrets))
            .filter(|text| !text.is_empty());
        Some(ProviderError::rejected(
            code,
            description,
            self.status.as_u16(),
        ))
    }

    fn unexpected(&self, endpoint: Endpoint) -> ProviderError {
        ProviderError::invalid_response(format!(
            "{} answered HTTP {} without an OAuth error",
            endpoint.describe(),
            self.status
        ))
    }

    /// The token endpoint's answer to an exchange or a refresh; `secrets` are the values the
    /// request carried (never repeated in an error).
    pub(super) fn tokens(&self, secrets: &[&SecretString]) -> Result<TokenResponse, ProviderError> {
        let endpoint = Endpoint::Token;
        if let Some(error) = self.transient(endpoint) {
            return Err(error);
        }
        if let Some(error) = self.oauth_error(secrets) {
            return Err(error);
        }
        if !self.status.is_success() {
            return Err(self.unexpected(endpoint));
        }
        let fields = self.fields().map_err(|problem| {
            ProviderError::invalid_response(format!(
                "{}'s answer (HTTP {}) {problem}",
                endpoint.describe(),
                self.status
            ))
        })?;
        token_response(&fields).ok_or_else(|| {
            ProviderError::invalid_response(format!(
                "{}'s answer (HTTP {}) has no access_token",
                endpoint.describe(),
                self.status
            ))
        })
    }

    /// The userinfo endpoint's answer: its JSON object; `secrets` (the access token) are never
    /// repeated from an error description.
    pub(super) fn userinfo(
        &self,
        secrets: &[&SecretString],
    ) -> Result<Map<String, Value>, ProviderError> {
        let endpoint = Endpoint::Userinfo;
        if let Some(error) = self.transient(endpoint) {
            return Err(error);
        }
        if let Some(error) = self.oauth_error(secrets) {
            return Err(error);
        }
        if matches!(
            self.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            let code = self.bearer_error.clone().unwrap_or_else(|| {
                if self.status == StatusCode::UNAUTHORIZED {
                    "invalid_token".to_owned()
                } else {
                    "insufficient_scope".to_owned()
                }
            });
            return Err(ProviderError::rejected(code, None, self.status.as_u16()));
        }
        if !self.status.is_success() {
            return Err(self.unexpected(endpoint));
        }
        self.fields().map_err(|problem| {
            ProviderError::invalid_response(format!(
                "{}'s answer (HTTP {}) {problem}",
                endpoint.describe(),
                self.status
            ))
        })
    }

    /// The revocation endpoint's answer: whether the token was revoked.
    pub(super) fn revoked(&self, secrets: &[&SecretString]) -> Result<bool, ProviderError> {
        let endpoint = Endpoint::Revocation;
        if let Some(error) = self.transient(endpoint) {
            return Err(error);
        }
        if self.status.is_success() {
            return Ok(true);
        }
        match self.oauth_error(secrets) {
            // RFC 7009 §2.2.1: the provider cannot revoke this kind of token.
            Some(ProviderError::Rejected { code, .. }) if code == "unsupported_token_type" => {
                Ok(false)
            }
            Some(error) => Err(error),
            None => Err(self.unexpected(endpoint)),
        }
    }
}

/// A request that got no complete answer: the provider is unreachable, slow or dropped the
/// connection.
pub(super) fn transport_failure(
    error: &reqwest::Error,
    endpoint: Endpoint,
    timeout: Duration,
) -> ProviderError {
    let message = if error.is_timeout() {
        format!(
            "{} did not answer within {} ms",
            endpoint.describe(),
            timeout.as_millis()
        )
    } else {
        // The causes (connection refused, DNS, TLS…); never the URL or the request.
        let mut causes = Vec::new();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            causes.push(cause.to_string());
            source = cause.source();
        }
        if causes.is_empty() {
            format!("{} could not be reached", endpoint.describe())
        } else {
            format!(
                "{} could not be reached: {}",
                endpoint.describe(),
                causes.join(": ")
            )
        }
    };
    ProviderError::transport(message)
}

/// The tokens of a successful token endpoint answer, read leniently: `expires_in` may be a
/// number or a numeric string, `scope` a string or a list, `token_type` any case of `bearer`.
fn token_response(fields: &Map<String, Value>) -> Option<TokenResponse> {
    let text = |name: &str| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty())
    };
    let mut tokens = TokenResponse::bearer(text("access_token")?);
    tokens.refresh_token = text("refresh_token").map(SecretString::from);
    tokens.expires_in = fields.get("expires_in").and_then(|value| match value {
        Value::Number(number) => number.as_u64().or_else(|| {
            number
                .as_f64()
                .filter(|f| *f >= 0.0)
                .map(|f| f.ceil() as u64)
        }),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    });
    if let Some(token_type) = text("token_type") {
        tokens.token_type = if token_type.eq_ignore_ascii_case("bearer") {
            "Bearer".to_owned()
        } else {
            token_type.to_owned()
        };
    }
    tokens.scope = match fields.get("scope") {
        Some(Value::String(scope)) if !scope.is_empty() => Some(scope.clone()),
        Some(Value::Array(scopes)) => {
            let scopes: Vec<&str> = scopes.iter().filter_map(Value::as_str).collect();
            (!scopes.is_empty()).then(|| scopes.join(" "))
        }
        _ => None,
    };
    Some(tokens)
}

/// `Retry-After`: delta-seconds or an HTTP date (RFC 9110 §10.2.3).
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let after = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = OffsetDateTime::parse(value, &Rfc2822).ok()?;
            let seconds = (at - OffsetDateTime::now_utc()).whole_seconds().max(0);
            Duration::from_secs(u64::try_from(seconds).unwrap_or_default())
        }
    };
    Some(after.min(MAX_RETRY_AFTER))
}

/// The `error` of `WWW-Authenticate: Bearer … error="invalid_token" …` (RFC 6750 §3).
fn bearer_error(value: &str) -> Option<String> {
    let (scheme, params) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    params.split(',').find_map(|param| {
        let (name, value) = param.trim().split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("error") {
            return None;
        }
        let code = clean(value.trim().trim_matches('"'), MAX_CODE_CHARS, &[]);
        (!code.is_empty()).then_some(code)
    })
}

/// Provider text fit for a message: none of `secrets`, no control characters, at most `max`
/// characters. Secrets go first, so a cut cannot leave the start of one behind.
fn clean(text: &str, max: usize, secrets: &[&SecretString]) -> String {
    let mut text = text.to_owned();
    for secret in secrets {
        let secret = secret.expose_secret();
        if !secret.is_empty() && text.contains(secret) {
            text = text.replace(secret, "[REDACTED]");
        }
    }
    let text: String = text.chars().filter(|c| !c.is_control()).take(max).collect();
    text.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: None,
            bearer_error: None,
            form_encoded: false,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn token_answers_are_read_leniently() {
        let fields = json!({
            "access_token": "at",
            "refresh_token": "",
            "expires_in": "3600",
            "token_type": "bearer",
            "scope": ["read", "write"],
        });
        let tokens = token_response(fields.as_object().unwrap()).unwrap();
        assert_eq!(tokens.access_token.expose_secret(), "at");
        assert!(tokens.refresh_token.is_none());
        assert_eq!(tokens.expires_in, Some(3600));
        assert_eq!(tokens.token_type, "Bearer");
        assert_eq!(tokens.scope.as_deref(), Some("read write"));
        let no_token = json!({ "access_token": "", "token_type": "bearer" });
        assert!(token_response(no_token.as_object().unwrap()).is_none());
    }

    #[test]
    fn a_200_with_an_error_is_a_rejection() {
        // GitHub answers a bad code with 200 and an OAuth error.
        let error = reply(200, r#"{"error": "bad_verification_code"}"#)
            .tokens(&[])
            .unwrap_err();
        assert_eq!(
            error,
            ProviderError::rejected("bad_verification_code", None, 200)
        );
    }

    #[test]
    fn form_encoded_answers_are_read() {
        let mut answer = reply(200, "access_token=at%201&scope=repo&token_type=bearer");
        answer.form_encoded = true;
        let tokens = answer.tokens(&[]).unwrap();
        assert_eq!(tokens.access_token.expose_secret(), "at 1");
        assert_eq!(tokens.scope.as_deref(), Some("repo"));
    }

    #[test]
    fn provider_text_never_repeats_the_request_secrets() {
        let code = SecretString::from("code-123");
        let error = reply(
            400,
            r#"{"error": "invalid_grant", "error_description": "code code-123 is\nexpired"}"#,
        )
        .tokens(&[&code])
        .unwrap_err();
        let ProviderError::Rejected { description, .. } = error else {
            panic!("{error:?}");
        };
        assert_eq!(description.as_deref(), Some("code [REDACTED] isexpired"));
    }

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let soon = OffsetDateTime::now_utc() + time::Duration::seconds(90);
        let at = soon.format(&Rfc2822).unwrap();
        let after = parse_retry_after(&at).unwrap();
        assert!(after <= Duration::from_secs(90) && after >= Duration::from_secs(85));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("99999999"), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn the_bearer_error_is_read_from_www_authenticate() {
        assert_eq!(
            bearer_error(r#"Bearer realm="api", error="invalid_token", error_description="x""#)
                .as_deref(),
            Some("invalid_token")
        );
        assert_eq!(bearer_error(r#"Basic realm="api""#), None);
        assert_eq!(bearer_error("Bearer"), None);
    }

    #[test]
    fn revocation_follows_rfc_7009() {
        assert_eq!(reply(200, "").revoked(&[]), Ok(true));
        assert_eq!(
            reply(400, r#"{"error": "unsupported_token_type"}"#).revoked(&[]),
            Ok(false)
        );
        assert!(matches!(
            reply(503, "").revoked(&[]),
            Err(ProviderError::Transport {
                status: Some(503),
                ..
            })
        ));
        assert!(matches!(
            reply(404, "nope").revoked(&[]),
            Err(ProviderError::InvalidResponse { .. })
        ));
    }
}
