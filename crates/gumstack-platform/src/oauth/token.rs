//! The token endpoint (authorization code with PKCE; rotating refresh tokens whose replay
//! revokes the grant) and the revocation endpoint (RFC 7009).

use axum::Form;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::clients::authenticate_client;
use super::error::{ErrorCode, OAuthError};
use super::tokens::{ACCESS_TOKEN_TYP, AccessClaims, issue_access_token};
use super::{ACCESS_TOKEN_SECONDS, REFRESH_TOKEN_SECONDS};
use crate::crypto::{constant_time_eq, random_token, token_hash};
use crate::state::AppState;
use crate::store::{Consumed, Grant, Lookup, OAuthClient, SingleUse, StoreError};

/// Secrets in it are `SecretString`s: Debug shows them redacted.
#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    code: Option<SecretString>,
    redirect_uri: Option<String>,
    code_verifier: Option<SecretString>,
    refresh_token: Option<SecretString>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    resource: Option<String>,
}

/// `POST /oauth/token`.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(req): Form<TokenRequest>,
) -> Result<impl IntoResponse, OAuthError> {
    let client = authenticate_client(
        &state,
        &headers,
        req.client_id.as_deref(),
        req.client_secret.as_ref(),
    )
    .await?;
    if let Some(grant_type) = req.grant_type.as_deref()
        && !client_may_use(&client, grant_type)
    {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("this client did not register the grant type `{grant_type}`"),
        ));
    }
    let grant = match req.grant_type.as_deref() {
        Some("authorization_code") => redeem_code(&state, &client, &req).await?,
        Some("refresh_token") => redeem_refresh_token(&state, &client, &req).await?,
        Some(other) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant_type `{other}` is not supported"),
            ));
        }
        None => return Err(OAuthError::invalid_request("grant_type is required")),
    };
    let t = state.clock.now();
    let access_token = issue_access_token(&state.keys, &state.urls.base(), &grant, t);
    let refresh = random_token("gsr_");
    state
        .store
        .insert_refresh_token(&SingleUse {
            hash: token_hash(&refresh),
            grant_id: grant.id,
            client_id: grant.client_id.clone(),
            redirect_uri: String::new(),
            code_challenge: String::new(),
            created_at: t,
            expires_at: t + REFRESH_TOKEN_SECONDS,
        })
        .await?;
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_SECONDS,
        "refresh_token": refresh.expose_secret(),
    });
    if let Some(scope) = &grant.scope {
        body["scope"] = json!(scope);
    }
    Ok((
        StatusCode::OK,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(body),
    ))
}

/// Whether the client's registered `grant_types` (both when it registered none) include
/// `grant_type`.
fn client_may_use(client: &OAuthClient, grant_type: &str) -> bool {
    let metadata: serde_json::Value =
        serde_json::from_str(&client.metadata_json).unwrap_or_default();
    match metadata["grant_types"].as_array() {
        Some(types) => types.iter().any(|t| t.as_str() == Some(grant_type)),
        None => true,
    }
}

/// The grant behind `id`, refusing revoked ones.
async fn active_grant(state: &AppState, id: uuid::Uuid) -> Result<Grant, OAuthError> {
    match state.store.grant_with_user(id).await {
        Ok((grant, user)) if grant.revoked_at.is_none() && !user.is_disabled() => Ok(grant),
        Ok(_) => Err(OAuthError::invalid_grant("the authorization was revoked")),
        Err(StoreError::NotFound) => Err(OAuthError::invalid_grant(
            "the authorization no longer exists",
        )),
        Err(other) => Err(other.into()),
    }
}

/// A replayed code or refresh token may be stolen: end everything issued under its grant.
async fn revoke_on_replay(state: &AppState, used: &SingleUse, what: &str) -> OAuthError {
    tracing::warn!(grant = %used.grant_id, "{what} replayed; revoking the grant");
    if let Err(e) = state
        .store
        .revoke_grant(used.grant_id, state.clock.now())
        .await
    {
        return e.into();
    }
    OAuthError::invalid_grant(format!(
        "this {what} was already used; the authorization is revoked"
    ))
}

/// The single-use credential (`what`: "authorization code" or "refresh token") as found, if
/// `client` may present it now: its own, unused and unexpired. A used one is a replay, which
/// revokes the grant; anything else leaves it untouched.
async fn usable(
    state: &AppState,
    client: &OAuthClient,
    found: Lookup,
    what: &str,
) -> Result<SingleUse, OAuthError> {
    let found = match found {
        Lookup::NotFound => return Err(OAuthError::invalid_grant(format!("unknown {what}"))),
        Lookup::Unused(found) | Lookup::Used(found) if found.client_id != client.client_id => {
            return Err(OAuthError::invalid_grant(format!(
                "the {what} was issued to another client"
            )));
        }
        Lookup::Used(found) => return Err(revoke_on_replay(state, &found, what).await),
        Lookup::Unused(found) => found,
    };
    if found.expires_at <= state.clock.now() {
        return Err(OAuthError::invalid_grant(format!("the {what} has expired")));
    }
    Ok(found)
}

/// Marks a credential that passed every check used. Losing the race to a concurrent use of
/// the same credential is a replay like any other.
async fn consume(state: &AppState, consumed: Consumed, what: &str) -> Result<(), OAuthError> {
    match consumed {
        Consumed::Fresh(_) => Ok(()),
        Consumed::Replayed(used) => Err(revoke_on_replay(state, &used, what).await),
        Consumed::OtherClient | Consumed::NotFound => {
            Err(OAuthError::invalid_grant(format!("unknown {what}")))
        }
    }
}

/// The grant's audience must be the `resource` the client names, when it names one.
fn check_resource(req: &TokenRequest, grant: &Grant) -> Result<(), OAuthError> {
    match &req.resource {
        Some(resource) if resource.trim_end_matches('/') != grant.resource => Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            "resource differs from the one the user authorized",
        )),
        _ => Ok(()),
    }
}

async fn redeem_code(
    state: &AppState,
    client: &OAuthClient,
    req: &TokenRequest,
) -> Result<Grant, OAuthError> {
    let code = req
        .code
        .as_ref()
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let verifier = req
        .code_verifier
        .as_ref()
        .ok_or_else(|| OAuthError::invalid_grant("code_verifier is required (PKCE)"))?;
    // Everything a request can get wrong is checked before the code is used: a refused request
    // leaves it for the right one; only a replay revokes.
    let hash = token_hash(code);
    let found = state.store.find_code(&hash).await?;
    let used = usable(state, client, found, Credential::Code.name()).await?;
    if req.redirect_uri.as_deref() != Some(used.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    let verifier = verifier.expose_secret();
    let verifier_ok = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = gumstack_protocol::hash::pkce_challenge(verifier);
    if !verifier_ok || !constant_time_eq(computed.as_bytes(), used.code_challenge.as_bytes()) {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    redeem(state, client, req, Credential::Code, &hash, &used).await
}

async fn redeem_refresh_token(
    state: &AppState,
    client: &OAuthClient,
    req: &TokenRequest,
) -> Result<Grant, OAuthError> {
    let token = req
        .refresh_token
        .as_ref()
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let hash = token_hash(token);
    let found = state.store.find_refresh_token(&hash).await?;
    let used = usable(state, client, found, Credential::RefreshToken.name()).await?;
    redeem(state, client, req, Credential::RefreshToken, &hash, &used).await
}

/// The two single-use credentials of the token endpoint.
#[derive(Debug, Clone, Copy)]
enum Credential {
    Code,
    RefreshToken,
}

impl Credential {
    fn name(self) -> &'static str {
        match self {
            Self::Code => "authorization code",
            Self::RefreshToken => "refresh token",
        }
    }
}

/// The last checks of a credential that passed its own (the grant is active, the resource is
/// its audience), then its one use.
async fn redeem(
    state: &AppState,
    client: &OAuthClient,
    req: &TokenRequest,
    credential: Credential,
    hash: &[u8],
    used: &SingleUse,
) -> Result<Grant, OAuthError> {
    let grant = active_grant(state, used.grant_id).await?;
    check_resource(req, &grant)?;
    let now = state.clock.now();
    let consumed = match credential {
        Credential::Code => {
            state
                .store
                .consume_code(hash, &client.client_id, now)
                .await?
        }
        Credential::RefreshToken => {
            state
                .store
                .consume_refresh_token(hash, &client.client_id, now)
                .await?
        }
    };
    consume(state, consumed, credential.name()).await?;
    Ok(grant)
}

#[derive(Debug, Deserialize)]
pub struct RevokeRequest {
    token: Option<SecretString>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
}

/// `POST /oauth/revoke` (RFC 7009): revokes the grant behind a refresh or access token of the
/// calling client. Unknown tokens are not an error.
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(req): Form<RevokeRequest>,
) -> Result<impl IntoResponse, OAuthError> {
    let client = authenticate_client(
        &state,
        &headers,
        req.client_id.as_deref(),
        req.client_secret.as_ref(),
    )
    .await?;
    let token = req
        .token
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let grant_id = if let Ok(claims) = state
        .keys
        .verify_signature_only::<AccessClaims>(token.expose_secret(), ACCESS_TOKEN_TYP)
    {
        (claims.client_id == client.client_id)
            .then(|| claims.gid.parse().ok())
            .flatten()
    } else {
        match state
            .store
            .consume_refresh_token(&token_hash(&token), &client.client_id, state.clock.now())
            .await?
        {
            Consumed::Fresh(t) | Consumed::Replayed(t) => Some(t.grant_id),
            Consumed::OtherClient | Consumed::NotFound => None,
        }
    };
    if let Some(id) = grant_id {
        state.store.revoke_grant(id, state.clock.now()).await?;
        tracing::info!(grant = %id, "grant revoked by its client");
    }
    Ok((StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]))
}
