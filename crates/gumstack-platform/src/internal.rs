//! Routes for server processes (docs/PROTOCOL.md §3): a running deployment fetches the
//! credentials of the user whose call it is serving (form values of `cred` servers, a fresh
//! access token of `oauth` servers) and reports tokens a provider rejected, proving both with
//! its server token and the call's signed identity.

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::connections::TokenError;
use crate::connections::flow::declared_providers;
use crate::credentials::{UserCredentials, fields};
use crate::crypto::token_hash;
use crate::oauth::tokens::{IDENTITY_TYP, IdentityClaims, server_audience};
use crate::state::AppState;
use crate::store::{AuthType, DeploymentStatus, Server, StoreError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/internal/v1/credentials", get(credentials))
        .route("/internal/v1/credentials/invalid", post(report_invalid))
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    reply(
        status,
        json!({ "error": { "code": code, "message": message } }),
    )
}

#[derive(Debug, Deserialize)]
struct CredentialQuery {
    provider: Option<String>,
}

/// A call from a server process, authenticated: its server, and the user whose call it serves.
struct ServerCall {
    server: crate::store::Server,
    user_id: Uuid,
    claims: IdentityClaims,
}

/// Checks the server token (a running deployment) and the forwarded identity (signed for that
/// deployment's server); the refusal otherwise.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<ServerCall, Response> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| SecretString::from(t.trim().to_owned()));
    let Some(server_token) = bearer else {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_server_token",
            "send Authorization: Bearer $GUMSTACK_SERVER_TOKEN",
        ));
    };
    let deployment = match state
        .store
        .deployment_by_token(&token_hash(&server_token))
        .await
    {
        Ok(d)
            if matches!(
                d.status,
                DeploymentStatus::Live | DeploymentStatus::Deploying
            ) =>
        {
            d
        }
        Ok(_) | Err(StoreError::NotFound) => {
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_server_token",
                "the server token does not belong to a running deployment",
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, "credential fetch: store");
            return Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "retry_later",
                "the platform could not check the request; try again",
            ));
        }
    };
    let identity = headers
        .get("gumstack-identity")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let claims: IdentityClaims = match state.keys.verify(
        identity,
        IDENTITY_TYP,
        &state.urls.base(),
        &server_audience(deployment.server_id),
        state.clock.now(),
    ) {
        Ok(claims) => claims,
        Err(e) => {
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_identity",
                &format!("the Gumstack-Identity of the call was refused: {e}"),
            ));
        }
    };
    let Ok(user_id) = Uuid::parse_str(&claims.sub) else {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_identity",
            "the identity names no user",
        ));
    };
    let server = match state.store.server_by_id(deployment.server_id).await {
        Ok(server) => server,
        Err(_) => {
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_server_token",
                "the server no longer exists",
            ));
        }
    };
    Ok(ServerCall {
        server,
        user_id,
        claims,
    })
}

async fn credentials(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<CredentialQuery>,
) -> Response {
    let ServerCall {
        server,
        user_id,
        claims,
    } = match authenticate(&state, &headers).await {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    match server.auth_type {
        AuthType::None => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "not_supported",
                "auth type none has no per-user credentials: read the environment",
            );
        }
        AuthType::Oauth => {
            return oauth_credentials(&state, &server, user_id, &claims, query.provider).await;
        }
        AuthType::Cred => {}
    }
    if query.provider.is_some() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "not_supported",
            "providers apply to oauth servers only",
        );
    }
    let connect_url = state.urls.join(&format!("/connections/{}", server.slug));
    let needs = |message: String| {
        reply(
            StatusCode::CONFLICT,
            json!({ "error": { "code": "credentials_required", "message": message, "connect_url": connect_url } }),
        )
    };
    let fields = match fields(&server) {
        Ok(fields) => fields,
        Err(e) => return crate::api::ApiError::from(e).into_response(),
    };
    let values = match state.credentials.values(user_id, &server).await {
        Ok(Some(values)) => values,
        Ok(None) => {
            return needs(format!(
                "enter your credentials for {} at {connect_url}",
                server.name
            ));
        }
        Err(e) => return crate::api::ApiError::from(e).into_response(),
    };
    let missing = UserCredentials::missing_required(&fields, &values);
    if !missing.is_empty() {
        return needs(format!(
            "{} needs {} — enter it at {connect_url}",
            server.name,
            missing.join(", ")
        ));
    }
    let out: serde_json::Map<String, serde_json::Value> = values
        .iter()
        .map(|(k, v)| (k.clone(), json!(v.expose_secret())))
        .collect();
    tracing::info!(server = %server.slug, user = %user_id, call = %claims.jti, "credentials fetched");
    reply(StatusCode::OK, json!({ "credentials": out }))
}

/// The provider a call means: the one named, which config.yaml must declare, or the server's
/// only one. The error is the `code` and message of a 400.
fn provider_of(server: &Server, named: Option<String>) -> Result<String, (&'static str, String)> {
    let declared = declared_providers(server).map_err(|e| ("invalid_config", e.to_string()))?;
    match named {
        Some(name) if declared.contains(&name) => Ok(name),
        Some(_) => Err((
            "unknown_provider",
            format!(
                "this server's config.yaml declares the providers [{}]",
                declared.join(", ")
            ),
        )),
        None => match declared.as_slice() {
            [only] => Ok(only.clone()),
            _ => Err((
                "provider_required",
                format!(
                    "this server has several providers [{}]: name one with ?provider=",
                    declared.join(", ")
                ),
            )),
        },
    }
}

/// The answer for a token that cannot be handed out.
fn token_refusal(state: &AppState, server: &Server, provider: &str, error: TokenError) -> Response {
    let connect_url = state.connections.connect_url(&server.slug);
    let needs = |message: String| {
        reply(
            StatusCode::CONFLICT,
            json!({ "error": { "code": "credentials_required", "message": message, "connect_url": connect_url } }),
        )
    };
    match error {
        TokenError::NotConnected => needs(format!(
            "{} needs your {provider} account, which you have not connected yet.",
            server.name
        )),
        TokenError::NeedsReauth => needs(format!(
            "Your {provider} account connection for {} has expired or was revoked; connect it again.",
            server.name
        )),
        TokenError::Transient {
            message,
            retry_after,
        } => {
            let mut response = refuse(StatusCode::SERVICE_UNAVAILABLE, "retry_later", &message);
            if let Some(seconds) = retry_after
                && let Ok(value) = header::HeaderValue::from_str(&seconds.to_string())
            {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        TokenError::Integration { message } => {
            refuse(StatusCode::BAD_GATEWAY, "integration_error", &message)
        }
        TokenError::Internal(e) => crate::api::ApiError::from(e).into_response(),
    }
}

async fn oauth_credentials(
    state: &AppState,
    server: &Server,
    user_id: Uuid,
    claims: &IdentityClaims,
    provider: Option<String>,
) -> Response {
    let provider = match provider_of(server, provider) {
        Ok(provider) => provider,
        Err((code, message)) => return refuse(StatusCode::BAD_REQUEST, code, &message),
    };
    match state
        .connections
        .access_token(user_id, server.id, &provider)
        .await
    {
        Ok(token) => {
            tracing::info!(server = %server.slug, user = %user_id, call = %claims.jti, %provider, "access token fetched");
            reply(
                StatusCode::OK,
                json!({ "credentials": { "access_token": token.expose_secret() } }),
            )
        }
        Err(error) => token_refusal(state, server, &provider, error),
    }
}

/// `POST /internal/v1/credentials/invalid` (docs/PROTOCOL.md §3.1).
#[derive(Deserialize)]
struct InvalidReport {
    #[serde(default)]
    provider: Option<String>,
    access_token: SecretString,
}

async fn report_invalid(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let ServerCall {
        server, user_id, ..
    } = match authenticate(&state, &headers).await {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    if server.auth_type != AuthType::Oauth {
        return refuse(
            StatusCode::BAD_REQUEST,
            "not_supported",
            "only oauth servers hand out tokens a provider can reject",
        );
    }
    let Ok(report) = serde_json::from_slice::<InvalidReport>(&body) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send JSON {\"provider\": \"…\", \"access_token\": \"…\"}",
        );
    };
    let provider = match provider_of(&server, report.provider) {
        Ok(provider) => provider,
        Err((code, message)) => return refuse(StatusCode::BAD_REQUEST, code, &message),
    };
    match state
        .connections
        .report_invalid(user_id, server.id, &provider, &report.access_token)
        .await
    {
        Ok(_) => (
            StatusCode::NO_CONTENT,
            [(header::CACHE_CONTROL, "no-store")],
        )
            .into_response(),
        Err(error) => token_refusal(&state, &server, &provider, error),
    }
}
