//! Routes for server processes (docs/PROTOCOL.md §3): a running deployment fetches the
//! credentials of the user whose call it is serving (form values of `cred` servers, a fresh
//! access token of `oauth` servers) and reports tokens a provider rejected, proving both with
//! its server token, the call's signed identity and the call's id (`Gumstack-Call`).
//!
//! A request is honoured only while the call it names is live — forwarded by the gateway and
//! not yet answered in full — and only for that call's user, MCP client, server and
//! deployment, which the identity must name too; its grant must still stand, its user be
//! enabled and its server enabled, all read at every request, so a revocation refuses the
//! next request at once.

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::{StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gumstack_config::Config;
use gumstack_protocol::bearer::bearer_token;
use gumstack_protocol::credentials::{
    CREDENTIALS_PATH, CredentialsReply, ErrorBody, ErrorCode, INVALID_TOKEN_PATH,
    InvalidTokenReport,
};
use gumstack_protocol::headers::{CALL, IDENTITY};
use gumstack_protocol::scopes;
use secrecy::SecretString;
use serde::Deserialize;
use uuid::Uuid;

use crate::activity::NeededInput;
use crate::connections::TokenError;
use crate::credentials::{UserCredentials, fields};
use crate::crypto::token_hash;
use crate::error::Internal;
use crate::oauth::tokens::{IDENTITY_TYP, IdentityClaims, server_audience};
use crate::servers::stored_config;
use crate::state::AppState;
use crate::store::{AuthType, Deployment, DeploymentStatus, Server, StoreError};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(CREDENTIALS_PATH, get(credentials))
        .route(INVALID_TOKEN_PATH, post(report_invalid))
}

/// An answer of these routes: never cached (credentials are secrets).
fn reply<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// An error answer, with the status its code has.
fn refuse(code: ErrorCode, message: &str) -> Response {
    reply(code.status(), &ErrorBody::new(code, message))
}

/// 500 `internal`: the cause goes to the log, never to the server process.
fn internal_failure(err: &Internal) -> Response {
    tracing::error!(cause = %err, "internal route failed");
    refuse(
        ErrorCode::Internal,
        "internal error; the platform log has the details",
    )
}

/// 409 `credentials_required`, sending the user to `connect_url`. The live call `call_id` is
/// marked, so that the gateway can ask its user inside the call (docs/PROTOCOL.md §5).
fn needs_credentials(
    state: &AppState,
    call_id: &str,
    message: String,
    connect_url: &str,
) -> Response {
    state.activity.mark_needed(
        call_id,
        NeededInput {
            message: message.clone(),
            connect_url: connect_url.to_owned(),
        },
    );
    let code = ErrorCode::CredentialsRequired;
    reply(
        code.status(),
        &ErrorBody::credentials_required(message, connect_url),
    )
}

#[derive(Debug, Deserialize)]
struct CredentialQuery {
    provider: Option<String>,
    /// One of the user's accounts of the provider (nickname or label); else the default.
    account: Option<String>,
    /// The provider scopes the tool needs (space-separated).
    scope: Option<String>,
}

/// A call from a server process, authenticated: its server, and the user whose call it
/// serves. As an extractor it checks the server token (a running deployment), the forwarded
/// identity (signed for that deployment's server) and the call it names (live, this user's
/// call to this deployment, its grant, user and server still enabled), and refuses the
/// request before the handler runs otherwise.
struct ServerCall {
    server: crate::store::Server,
    user_id: Uuid,
    /// The live call the request was made for (its `Gumstack-Call`).
    call_id: String,
    /// The tool that call calls, as the gateway read it.
    tool: Option<String>,
}

impl FromRequestParts<AppState> for ServerCall {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        authenticate(state, parts).await
    }
}

/// The checks of [`ServerCall`]; the refusal otherwise.
async fn authenticate(state: &AppState, parts: &Parts) -> Result<ServerCall, Response> {
    let headers = &parts.headers;
    let Some(server_token) = bearer_token(headers).map(|t| SecretString::from(t.to_owned())) else {
        return Err(refuse(
            ErrorCode::InvalidServerToken,
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
                ErrorCode::InvalidServerToken,
                "the server token does not belong to a running deployment",
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, "credential fetch: store");
            return Err(refuse(
                ErrorCode::RetryLater,
                "the platform could not check the request; try again",
            ));
        }
    };
    let identity = headers
        .get(IDENTITY)
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
                ErrorCode::InvalidIdentity,
                &format!("the Gumstack-Identity of the call was refused: {e}"),
            ));
        }
    };
    if claims.is_platform() {
        return Err(refuse(
            ErrorCode::NoUser,
            "this identity is the platform's own (it lists the server's tools when it deploys \
             it): no user is calling, so there are no credentials to give",
        ));
    }
    let Ok(user_id) = Uuid::parse_str(&claims.sub) else {
        return Err(refuse(
            ErrorCode::InvalidIdentity,
            "the identity names no user",
        ));
    };
    let Some(call_id) = headers.get(CALL).and_then(|v| v.to_str().ok()) else {
        return Err(refuse(
            ErrorCode::InvalidIdentity,
            "send the Gumstack-Call header of the call being served with its identity",
        ));
    };
    let tool = live_call(state, call_id, user_id, &deployment, &claims.cid).await?;
    let server = match state.store.server_by_id(deployment.server_id).await {
        Ok(server) if server.enabled => server,
        Ok(_) => {
            return Err(refuse(
                ErrorCode::InvalidServerToken,
                "the server is disabled",
            ));
        }
        Err(_) => {
            return Err(refuse(
                ErrorCode::InvalidServerToken,
                "the server no longer exists",
            ));
        }
    };
    Ok(ServerCall {
        server,
        user_id,
        call_id: call_id.to_owned(),
        tool,
    })
}

/// The call `call_id` a server's request names, checked: in flight through the gateway, the
/// call of `user_id` through the MCP client `client_id` to this very `deployment`, its grant
/// not revoked and its user not disabled. The tool it calls, if the gateway read it.
async fn live_call(
    state: &AppState,
    call_id: &str,
    user_id: Uuid,
    deployment: &Deployment,
    client_id: &str,
) -> Result<Option<String>, Response> {
    let Some(call) = state.activity.live_call(call_id) else {
        return Err(refuse(
            ErrorCode::InvalidIdentity,
            "the call this request names (Gumstack-Call) is over or was never forwarded: \
             credentials are released only while their call is in flight",
        ));
    };
    if call.user_id != user_id
        || call.server_id != deployment.server_id
        || call.deployment_id != deployment.id
        || call.client_id != client_id
    {
        tracing::warn!(
            server = %deployment.server_id,
            deployment = %deployment.id,
            call = %call_id,
            "a server call named a live call of another user, server or deployment"
        );
        return Err(refuse(
            ErrorCode::InvalidIdentity,
            "the call this request names is not this identity's user's call to this deployment",
        ));
    }
    // Revoking the MCP client's grant, or disabling or deleting the user, ends every release
    // at once, also for a call still in flight.
    match state.store.grant_with_user(call.grant_id).await {
        // Disabling a user also revokes their grants: say the first cause.
        Ok((_, user)) if user.is_disabled() => {
            return Err(refuse(
                ErrorCode::InvalidIdentity,
                "the user of this call is disabled",
            ));
        }
        Ok((grant, _)) if grant.revoked_at.is_some() => {
            return Err(refuse(
                ErrorCode::InvalidIdentity,
                "the MCP client of this call was revoked",
            ));
        }
        Ok(_) => {}
        Err(StoreError::NotFound) => {
            return Err(refuse(
                ErrorCode::InvalidIdentity,
                "the authorization of this call no longer exists (the user or the MCP client \
                 was removed)",
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, "reading the grant of a server call failed");
            return Err(refuse(
                ErrorCode::RetryLater,
                "the platform could not check the request; try again",
            ));
        }
    }
    Ok(call.tool)
}

async fn credentials(
    State(state): State<AppState>,
    ServerCall {
        server,
        user_id,
        call_id,
        tool,
    }: ServerCall,
    Query(query): Query<CredentialQuery>,
) -> Response {
    match server.auth_type {
        AuthType::None => {
            return refuse(
                ErrorCode::NotSupported,
                "auth type none has no per-user credentials: read the environment",
            );
        }
        AuthType::Oauth => {
            return oauth_credentials(&state, &server, user_id, &call_id, tool.as_deref(), query)
                .await;
        }
        AuthType::Cred => {}
    }
    if query.provider.is_some() || query.account.is_some() || query.scope.is_some() {
        return refuse(
            ErrorCode::NotSupported,
            "providers, accounts and scopes apply to oauth servers only",
        );
    }
    let connect_url = state.urls.join(&format!("/connections/{}", server.slug));
    let needs = |message: String| needs_credentials(&state, &call_id, message, &connect_url);
    let fields = match fields(&server) {
        Ok(fields) => fields,
        Err(e) => return internal_failure(&e),
    };
    let values = match state.credentials.values(user_id, &server).await {
        Ok(Some(values)) => values,
        Ok(None) => {
            return needs(format!(
                "enter your credentials for {} at {connect_url}",
                server.name
            ));
        }
        Err(e) => return internal_failure(&e),
    };
    let missing = UserCredentials::missing_required(&fields, &values);
    if !missing.is_empty() {
        return needs(format!(
            "{} needs {} — enter it at {connect_url}",
            server.name,
            missing.join(", ")
        ));
    }
    // The activity log redacts what was released during this call from its record.
    state.activity.released(&call_id, values.values().cloned());
    let out = CredentialsReply::new(values.iter().map(|(k, v)| (k.clone(), v.clone())));
    tracing::info!(server = %server.slug, user = %user_id, call = %call_id, "credentials fetched");
    reply(StatusCode::OK, &out)
}

/// The provider a call means: the one named, which config.yaml must declare, or the server's
/// only one. The error is the `code` and message of a 400.
fn provider_of(server: &Server, named: Option<String>) -> Result<String, (ErrorCode, String)> {
    let config = stored_config(server).map_err(|e| (ErrorCode::InvalidConfig, e.to_string()))?;
    provider_in(&config, named)
}

/// [`provider_of`] with the server's config.yaml already read.
fn provider_in(config: &Config, named: Option<String>) -> Result<String, (ErrorCode, String)> {
    let declared = &config.auth.providers;
    match named {
        Some(name) if declared.contains(&name) => Ok(name),
        Some(_) => Err((
            ErrorCode::UnknownProvider,
            format!(
                "this server's config.yaml declares the providers [{}]",
                declared.join(", ")
            ),
        )),
        None => match declared.as_slice() {
            [only] => Ok(only.clone()),
            _ => Err((
                ErrorCode::ProviderRequired,
                format!(
                    "this server has several providers [{}]: name one with ?provider=",
                    declared.join(", ")
                ),
            )),
        },
    }
}

/// The answer for a token that cannot be handed out.
fn token_refusal(
    state: &AppState,
    call_id: &str,
    server: &Server,
    provider: &str,
    error: TokenError,
) -> Response {
    let connect_url = state.connections.connect_url(&server.slug);
    let needs = |message: String| needs_credentials(state, call_id, message, &connect_url);
    match error {
        TokenError::NotConnected => needs(format!(
            "{} needs your {provider} account, which you have not connected yet.",
            server.name
        )),
        TokenError::UnknownAccount { account, connected } => needs(format!(
            "You have no {provider} account called \"{account}\" connected to {}; yours are: {}. \
             Connect it, or call again with one of these.",
            server.name,
            connected.join(", ")
        )),
        TokenError::LacksScopes { granted, missing } => {
            // The link asks the provider for what was granted and what is missing.
            let all = scopes::union(&granted, &missing).join(" ");
            let step_up = url::Url::parse_with_params(
                &connect_url,
                [("provider", provider), ("scope", all.as_str())],
            )
            .map_or_else(|_| connect_url.clone(), String::from);
            tracing::info!(server = %server.slug, call = %call_id, %provider, missing = %missing.join(" "), "the tool needs scopes the account lacks");
            needs_credentials(
                state,
                call_id,
                format!(
                    "This tool of {} needs more access to your {provider} account ({}) than \
                     you granted; connect it again and allow it.",
                    server.name,
                    missing.join(" ")
                ),
                &step_up,
            )
        }
        TokenError::NeedsReauth => needs(format!(
            "Your {provider} account connection for {} has expired or was revoked; connect it again.",
            server.name
        )),
        TokenError::Transient {
            message,
            retry_after,
        } => {
            let mut response = refuse(ErrorCode::RetryLater, &message);
            if let Some(seconds) = retry_after
                && let Ok(value) = header::HeaderValue::from_str(&seconds.to_string())
            {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        TokenError::Integration { message } => refuse(ErrorCode::IntegrationError, &message),
        TokenError::Internal(e) => internal_failure(&e),
    }
}

async fn oauth_credentials(
    state: &AppState,
    server: &Server,
    user_id: Uuid,
    call_id: &str,
    tool: Option<&str>,
    query: CredentialQuery,
) -> Response {
    let config = match stored_config(server) {
        Ok(config) => config,
        Err(e) => return refuse(ErrorCode::InvalidConfig, &e.to_string()),
    };
    let provider = match provider_in(&config, query.provider) {
        Ok(provider) => provider,
        Err((code, message)) => return refuse(code, &message),
    };
    let account = query.account.as_deref().filter(|name| !name.is_empty());
    let asked = match query.scope.as_deref().map(scopes::parse_requested) {
        None => Vec::new(),
        Some(Ok(asked)) => asked,
        Some(Err(why)) => return refuse(ErrorCode::InvalidRequest, &format!("scope: {why}")),
    };
    // What config.yaml declares for the tool, and what the tool asks for itself.
    let declared = tool.map_or(&[][..], |tool| config.tool_scopes(tool, &provider));
    let needed = scopes::union(declared, &asked);
    match state
        .connections
        .account_token_with(user_id, server.id, &provider, account, &needed)
        .await
    {
        Ok(token) => {
            state
                .activity
                .released(call_id, [token.access_token.clone()]);
            tracing::info!(server = %server.slug, user = %user_id, call = %call_id, %provider, "access token fetched");
            reply(
                StatusCode::OK,
                &CredentialsReply::access_token(token.access_token, token.account),
            )
        }
        Err(error) => token_refusal(state, call_id, server, &provider, error),
    }
}

/// `POST /internal/v1/credentials/invalid` (docs/PROTOCOL.md §3.1).
async fn report_invalid(
    State(state): State<AppState>,
    ServerCall {
        server,
        user_id,
        call_id,
        ..
    }: ServerCall,
    body: axum::body::Bytes,
) -> Response {
    if server.auth_type != AuthType::Oauth {
        return refuse(
            ErrorCode::NotSupported,
            "only oauth servers hand out tokens a provider can reject",
        );
    }
    let Ok(report) = serde_json::from_slice::<InvalidTokenReport>(&body) else {
        return refuse(
            ErrorCode::InvalidRequest,
            "send JSON {\"provider\": \"…\", \"access_token\": \"…\"}",
        );
    };
    let provider = match provider_of(&server, report.provider) {
        Ok(provider) => provider,
        Err((code, message)) => return refuse(code, &message),
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
        Err(error) => token_refusal(&state, &call_id, &server, &provider, error),
    }
}
