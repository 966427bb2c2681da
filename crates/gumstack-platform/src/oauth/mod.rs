//! The OAuth 2.1 authorization server for MCP clients (SPEC §7): discovery metadata (RFC 8414,
//! OpenID discovery, RFC 9728 protected resource metadata), client registration (RFC 7591 and
//! client ID metadata documents), the authorization code flow with PKCE S256, the token
//! endpoint with rotating refresh tokens, and revocation (RFC 7009).
//!
//! # Layout
//! - [`error`]: RFC 6749-shaped errors.
//! - [`clients`]: registration, metadata documents (SSRF-safe fetch), redirect URI rules.
//! - [`authorize`]: the authorization endpoint and the consent page.
//! - [`token`]: the token and revocation endpoints.
//! - [`tokens`]: what access tokens and forwarded identities contain; validation for the gateway.

pub mod authorize;
pub mod clients;
pub(crate) mod documents;
pub mod error;
pub mod token;
pub mod tokens;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;

use crate::api::ApiError;
use crate::state::AppState;

/// Authorization codes live this long.
pub const CODE_SECONDS: i64 = 60;
/// Access tokens live an hour (SPEC §7); the signing keys' overlap after a rotation is
/// derived from it, so it lives with them.
pub use crate::keys::ACCESS_TOKEN_SECONDS;
/// Refresh tokens live six months (SPEC §7).
pub const REFRESH_TOKEN_SECONDS: i64 = 183 * 24 * 3600;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(as_metadata))
        .route("/.well-known/openid-configuration", get(as_metadata))
        .route(
            "/.well-known/oauth-protected-resource",
            get(root_resource_metadata),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp/{slug}",
            get(resource_metadata),
        )
        .route("/.well-known/jwks.json", get(jwks))
        .route("/oauth/register", post(clients::register))
        .route(
            "/oauth/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route("/oauth/token", post(token::token))
        .route("/oauth/revoke", post(token::revoke))
}

/// RFC 8414 metadata (also served as OpenID discovery). The issuer is the public URL exactly.
async fn as_metadata(State(state): State<AppState>) -> impl IntoResponse {
    let issuer = state.urls.base();
    let body = json!({
        "issuer": issuer,
        "authorization_endpoint": state.urls.join("/oauth/authorize"),
        "token_endpoint": state.urls.join("/oauth/token"),
        "registration_endpoint": state.urls.join("/oauth/register"),
        "revocation_endpoint": state.urls.join("/oauth/revoke"),
        "jwks_uri": state.urls.join("/.well-known/jwks.json"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "scopes_supported": ["mcp"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": true,
    });
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(body))
}

/// RFC 9728 metadata of one hosted server: `resource` is its MCP URL exactly.
async fn resource_metadata(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let server = state.servers.resolve(&slug).await?;
    if server.slug != slug {
        return Err(ApiError::NotFound(format!(
            "no server `{}`",
            slug.escape_debug()
        )));
    }
    Ok(Json(json!({
        "resource": state.urls.mcp_url(&server.slug),
        "authorization_servers": [state.urls.base()],
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["mcp"],
        "resource_name": server.name,
    })))
}

/// Root protected resource metadata: the platform itself.
async fn root_resource_metadata(State(state): State<AppState>) -> impl IntoResponse {
    Json(json!({
        "resource": state.urls.base(),
        "authorization_servers": [state.urls.base()],
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["mcp"],
    }))
}

async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(serde_json::Value::clone(&state.keys.jwks())),
    )
}
