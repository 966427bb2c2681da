//! The OAuth provider routes the platform calls (docs/PROTOCOL.md §4), production only:
//!
//! ```text
//! POST /gumstack/providers/{provider}/{operation}
//! Gumstack-Platform-Call: <JWS the platform signed for this server, route and body>
//! ```
//!
//! A call is handled in this order:
//!
//! 1. the header is authenticated ([`PlatformCallVerifier::authenticate`]), else 401
//!    `invalid_platform_call`;
//! 2. the body is read, at most [`MAX_BODY_BYTES`], else 413;
//! 3. the call is bound to this request ([`PlatformCallVerifier::bind`]: method, path, body
//!    hash, unused `jti`), else 401 `invalid_platform_call`;
//! 4. the operation and the provider are looked up, else 404 (`kind` `unknown_operation` /
//!    `unknown_provider`); the body is parsed, else 400 (`kind` `invalid_request`);
//! 5. the provider runs (in a scope of this host, so its code can read the host's environment)
//!    and its answer is 200 with the operation's JSON, or 502 with
//!    `{"error": {"kind": …, "message": …, …}}` for a [`ProviderError`].
//!
//! The provider's code never runs for a call the platform did not sign. Every answer is
//! `Cache-Control: no-store` (token responses carry tokens). Tokens are never logged.
//!
//! In local mode the routes are not served at all: there is no platform to call them, and the
//! tools read their token from `LOCAL_ACCESS_TOKEN`.

use std::{collections::BTreeMap, fmt, sync::Arc};

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{OriginalUri, Path, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use gumstack_config::{AuthType, Config};
use gumstack_protocol::provider::{
    AuthorizationUrlReply, Failure, FailureBody, MAX_REQUEST_BYTES, NicknameReply, Operation,
    ProviderReply, ProviderRequest, RevokeReply,
};
use secrecy::ExposeSecret;

use super::provider::{AuthProvider, ProviderError};
use crate::{
    error::HostError,
    identity::PlatformCallVerifier,
    scope::{HostState, RequestScope},
};

/// The largest request body accepted.
pub(crate) const MAX_BODY_BYTES: usize = MAX_REQUEST_BYTES;
/// The route, below the server's root.
const ROUTE: &str = "/gumstack/providers/{provider}/{operation}";

/// The providers registered with a host, by name.
#[derive(Clone, Default)]
pub(crate) struct ProviderSet {
    providers: BTreeMap<String, Arc<dyn AuthProvider>>,
}

impl fmt::Debug for ProviderSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.providers.keys()).finish()
    }
}

impl ProviderSet {
    /// The set of `providers`, refusing a name that is not `[a-z0-9][a-z0-9_-]*` (as in
    /// config.yaml) or that is registered twice.
    pub(crate) fn new(providers: &[Arc<dyn AuthProvider>]) -> Result<Self, HostError> {
        let mut set = BTreeMap::new();
        for provider in providers {
            let name = provider.name().to_owned();
            if !is_provider_name(&name) {
                return Err(HostError::InvalidProviderName { name });
            }
            if set.insert(name.clone(), Arc::clone(provider)).is_some() {
                return Err(HostError::DuplicateProvider { name });
            }
        }
        Ok(Self { providers: set })
    }

    fn get(&self, name: &str) -> Option<&Arc<dyn AuthProvider>> {
        self.providers.get(name)
    }

    /// Says in the log where the registered providers and config.yaml disagree: the platform
    /// calls only the providers config.yaml declares, and only for auth type `oauth`.
    pub(crate) fn check_against(&self, config: &Config) {
        let declared = &config.auth.providers;
        if config.auth.kind != AuthType::Oauth {
            if !self.providers.is_empty() {
                tracing::warn!(
                    registered = ?self.providers.keys().collect::<Vec<_>>(),
                    auth_type = config.auth.kind.as_str(),
                    "OAuth providers are registered but config.yaml's auth type is not `oauth`: \
                     the platform never calls them"
                );
            }
            return;
        }
        for name in self.providers.keys() {
            if !declared.contains(name) {
                tracing::warn!(
                    provider = %name,
                    declared = ?declared,
                    "a registered OAuth provider is not declared in config.yaml's auth.provider: \
                     the platform never calls it"
                );
            }
        }
        for name in declared {
            if !self.providers.contains_key(name) {
                tracing::warn!(
                    provider = %name,
                    "config.yaml declares an OAuth provider that is not registered \
                     (GumstackHost::register_auth): connecting it will fail with \
                     unknown_provider"
                );
            }
        }
    }
}

/// `[a-z0-9][a-z0-9_-]*`, the names config.yaml accepts.
fn is_provider_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// What the routes need: who may call, what they call, and the host to run it in.
#[derive(Debug, Clone)]
struct Routes {
    verifier: Arc<PlatformCallVerifier>,
    providers: Arc<ProviderSet>,
    host: Arc<HostState>,
}

/// The provider routes of a production host.
pub(crate) fn router(
    verifier: Arc<PlatformCallVerifier>,
    providers: ProviderSet,
    host: Arc<HostState>,
) -> Router {
    let routes = Routes {
        verifier,
        providers: Arc::new(providers),
        host,
    };
    Router::new()
        .route(ROUTE, post(serve_call))
        .with_state(routes)
}

async fn serve_call(
    State(routes): State<Routes>,
    Path((provider, operation)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let claims = match routes.verifier.authenticate(&headers).await {
        Ok(claims) => claims,
        Err(rejection) => return rejection.into_response(),
    };
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return failure(
            StatusCode::PAYLOAD_TOO_LARGE,
            Failure::InvalidRequest {
                message: "the request body is larger than 64 KiB (or could not be read)".into(),
            },
        );
    };
    if let Err(rejection) = routes.verifier.bind(&claims, &method, uri.path(), &body) {
        return rejection.into_response();
    }
    let Some(operation) = Operation::parse(&operation) else {
        return failure(
            StatusCode::NOT_FOUND,
            Failure::UnknownOperation {
                message: "no such provider operation (authorization-url, exchange, refresh, \
                          nickname, revoke)"
                    .into(),
            },
        );
    };
    let Some(auth) = routes.providers.get(&provider).cloned() else {
        tracing::warn!(%provider, "the platform called a provider that is not registered");
        return failure(
            StatusCode::NOT_FOUND,
            Failure::UnknownProvider {
                message: "no OAuth provider of that name is registered with this server \
                          (GumstackHost::register_auth)"
                    .into(),
            },
        );
    };
    let scope = RequestScope::new(Arc::clone(&routes.host), None);
    let outcome = scope.run(run(auth.as_ref(), operation, &body)).await;
    match outcome {
        Ok(Ok(reply)) => {
            tracing::info!(%provider, operation = operation.as_str(), "provider call done");
            let json = [(header::CONTENT_TYPE, "application/json")];
            no_store((StatusCode::OK, json, reply.to_body()).into_response())
        }
        Ok(Err(error)) => {
            tracing::warn!(
                %provider,
                operation = operation.as_str(),
                kind = error.kind(),
                %error,
                "provider call failed"
            );
            no_store((StatusCode::BAD_GATEWAY, Json(error_body(&error))).into_response())
        }
        Err(InvalidRequest) => failure(
            StatusCode::BAD_REQUEST,
            Failure::InvalidRequest {
                message: "the request body is not the JSON object this operation takes \
                          (docs/PROTOCOL.md §4)"
                    .into(),
            },
        ),
    }
}

/// The body is not the JSON request of the operation.
#[derive(Debug)]
struct InvalidRequest;

/// Runs `operation` with the request in `body`: its JSON reply or the provider's error, unless
/// the body is not the operation's request.
async fn run(
    auth: &dyn AuthProvider,
    operation: Operation,
    body: &Bytes,
) -> Result<Result<ProviderReply, ProviderError>, InvalidRequest> {
    let request = ProviderRequest::parse(operation, body).map_err(|_| InvalidRequest)?;
    Ok(match request {
        ProviderRequest::AuthorizationUrl(request) => auth
            .get_url_with_pkce(
                &request.redirect_uri,
                request.state.expose_secret(),
                request.code_verifier.expose_secret(),
            )
            .and_then(|url| match request.scopes.as_slice() {
                [] => Ok(url),
                scopes => auth.add_scopes(url, scopes),
            })
            .map(|url| ProviderReply::AuthorizationUrl(AuthorizationUrlReply { url })),
        ProviderRequest::Exchange(request) => auth
            .exchange_with_pkce(
                request.code.expose_secret(),
                &request.redirect_uri,
                request.code_verifier.expose_secret(),
            )
            .await
            .map(ProviderReply::Tokens),
        ProviderRequest::Refresh(request) => auth
            .refresh(request.refresh_token.expose_secret())
            .await
            .map(ProviderReply::Tokens),
        ProviderRequest::Nickname(request) => auth
            .get_account(request.access_token.expose_secret())
            .await
            .map(|account| {
                ProviderReply::Nickname(NicknameReply {
                    nickname: account.nickname,
                    subject: account.subject,
                })
            }),
        ProviderRequest::Revoke(request) => auth
            .revoke_grant(
                request.access_token.expose_secret(),
                request.refresh_token.as_ref().map(|t| t.expose_secret()),
            )
            .await
            .map(|revoked| ProviderReply::Revoke(RevokeReply { revoked })),
    })
}

/// `{"error": {"kind": …, "message": …, …}}` for a provider's error.
fn error_body(error: &ProviderError) -> FailureBody {
    let message = error.to_string();
    let error = match error {
        ProviderError::Rejected {
            code,
            description,
            status,
        } => Failure::Provider {
            code: code.clone(),
            description: description.clone(),
            status: Some(*status),
            message,
        },
        ProviderError::Transport {
            status,
            retry_after,
            ..
        } => Failure::Transport {
            status: *status,
            // Whole seconds, rounded up so the platform never retries too early.
            retry_after: retry_after
                .map(|after| after.as_secs() + u64::from(after.subsec_nanos() > 0)),
            message,
        },
        ProviderError::InvalidResponse { .. } => Failure::InvalidResponse { message },
        ProviderError::NotConfigured { missing_env, .. } => Failure::NotConfigured {
            message,
            missing_env: missing_env.clone(),
        },
    };
    FailureBody { error }
}

/// A refusal of the call itself (not of the provider): `{"error": {"kind", "message"}}`.
fn failure(status: StatusCode, error: Failure) -> Response {
    no_store((status, Json(FailureBody { error })).into_response())
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{Value, json};

    use super::*;

    fn error_json(error: &ProviderError) -> Value {
        serde_json::to_value(error_body(error)).unwrap()
    }

    #[test]
    fn provider_names_are_the_ones_config_yaml_accepts() {
        for name in ["linear", "github-app", "oidc_2", "0auth"] {
            assert!(is_provider_name(name), "{name}");
        }
        for name in ["", "GitHub", "-x", "a/b", "a b", "ü"] {
            assert!(!is_provider_name(name), "{name}");
        }
    }

    #[test]
    fn errors_carry_the_fields_of_their_kind() {
        let transport = ProviderError::Transport {
            status: Some(429),
            retry_after: Some(Duration::from_millis(1500)),
            message: "rate limited".to_owned(),
        };
        assert_eq!(
            error_json(&transport),
            json!({ "error": {
                "kind": "transport", "status": 429, "retry_after": 2, "message": "rate limited",
            }})
        );
        let rejected = ProviderError::rejected("invalid_grant", None, 400);
        let body = error_json(&rejected);
        assert_eq!(body["error"]["kind"], "provider");
        assert_eq!(body["error"]["code"], "invalid_grant");
        assert_eq!(body["error"]["description"], Value::Null);
        assert_eq!(body["error"]["status"], 400);
        let missing = ProviderError::not_configured("set it", vec!["OAUTH_CLIENT_ID".to_owned()]);
        assert_eq!(
            error_json(&missing)["error"]["missing_env"],
            json!(["OAUTH_CLIENT_ID"])
        );
    }
}
