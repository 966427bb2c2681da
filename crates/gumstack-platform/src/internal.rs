//! Routes for server processes (docs/PROTOCOL.md §3): a running deployment fetches the
//! credentials of the user whose call it is serving, proving both with its server token and
//! the call's signed identity.

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::app::AppState;
use crate::credentials::{UserCredentials, fields};
use crate::crypto::token_hash;
use crate::oauth::tokens::{IDENTITY_TYP, IdentityClaims, server_audience};
use crate::store::{AuthType, DeploymentStatus, StoreError};

pub fn router() -> Router<AppState> {
    Router::new().route("/internal/v1/credentials", get(credentials))
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

async fn credentials(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<CredentialQuery>,
) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| SecretString::from(t.trim().to_owned()));
    let Some(server_token) = bearer else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_server_token",
            "send Authorization: Bearer $GUMSTACK_SERVER_TOKEN",
        );
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
            return refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_server_token",
                "the server token does not belong to a running deployment",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "credential fetch: store");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "retry_later",
                "the platform could not check the request; try again",
            );
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
    ) {
        Ok(claims) => claims,
        Err(e) => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_identity",
                &format!("the Gumstack-Identity of the call was refused: {e}"),
            );
        }
    };
    let Ok(user_id) = Uuid::parse_str(&claims.sub) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_identity",
            "the identity names no user",
        );
    };
    let server = match state.store.server_by_id(deployment.server_id).await {
        Ok(server) => server,
        Err(_) => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_server_token",
                "the server no longer exists",
            );
        }
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
            return refuse(
                StatusCode::BAD_REQUEST,
                "not_supported",
                "OAuth connections are not available on this platform version yet",
            );
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
        Err(e) => return e.into_response(),
    };
    let values = match state.credentials.values(user_id, &server).await {
        Ok(Some(values)) => values,
        Ok(None) => {
            return needs(format!(
                "enter your credentials for {} at {connect_url}",
                server.name
            ));
        }
        Err(e) => return e.into_response(),
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
