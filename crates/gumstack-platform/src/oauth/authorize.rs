//! The authorization endpoint: validates the request, sends the user through login, shows the
//! consent page naming the client and the server, and answers with a code (PKCE S256 required,
//! RFC 8707 resource bound into the grant, RFC 9207 `iss` on every response).
//!
//! **Consent is remembered** per user × MCP client × server: while the user has an unrevoked
//! grant for that client and server whose scopes cover the request's, the page is not shown
//! again and the code is issued under that grant. Revoking it on the MCP clients page ends
//! the consent; a request for another server or for more scopes, to a loopback redirect URI on
//! another port than registered, or with `prompt=consent`, asks again.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;

use super::CODE_SECONDS;
use super::clients::{redirect_uri_matches, resolve_client};
use crate::auth::SessionUser;
use crate::crypto::{random_token, token_hash};
use crate::state::AppState;
use crate::store::{Grant, OAuthClient, Server, SingleUse};
use crate::web::csrf::VerifiedForm;
use crate::web::pages;

/// The authorization request as sent (query on GET, form on POST).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub state: Option<String>,
    pub scope: Option<String>,
    pub resource: Option<String>,
    /// `consent` asks the user even when the consent is remembered (OpenID Connect's values;
    /// the others change nothing here).
    pub prompt: Option<String>,
}

/// A request that may proceed.
#[derive(Debug)]
struct Valid {
    client: OAuthClient,
    redirect_uri: String,
    server: Server,
    resource: String,
    code_challenge: String,
}

/// A request that may not.
#[derive(Debug)]
enum Invalid {
    /// The client or its redirect URI can't be trusted: tell the user, never redirect.
    Page(String),
    /// Tell the client, at its verified redirect URI.
    Redirect {
        redirect_uri: String,
        error: &'static str,
        description: String,
    },
}

async fn validate(state: &AppState, p: &AuthorizeParams) -> Result<Valid, Invalid> {
    let client_id = p
        .client_id
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            Invalid::Page("The request names no client (client_id is missing).".into())
        })?;
    let client = resolve_client(state, client_id)
        .await
        .map_err(|e| Invalid::Page(format!("The client can't be used: {}", e.description)))?;
    let redirect_uri = match p.redirect_uri.as_deref() {
        Some(uri) => {
            if !client
                .redirect_uris
                .iter()
                .any(|r| redirect_uri_matches(r, uri))
            {
                return Err(Invalid::Page(
                    "The redirect URI does not match any the client registered.".into(),
                ));
            }
            uri.to_owned()
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => return Err(Invalid::Page("The request names no redirect URI.".into())),
    };
    let fail = |error: &'static str, description: &str| Invalid::Redirect {
        redirect_uri: redirect_uri.clone(),
        error,
        description: description.to_owned(),
    };
    if p.response_type.as_deref() != Some("code") {
        return Err(fail(
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    let challenge = p.code_challenge.as_deref().ok_or_else(|| {
        fail(
            "invalid_request",
            "PKCE is required: send code_challenge with code_challenge_method=S256",
        )
    })?;
    if p.code_challenge_method.as_deref() != Some("S256") {
        return Err(fail(
            "invalid_request",
            "code_challenge_method must be S256 (plain is not accepted)",
        ));
    }
    if challenge.len() != 43
        || !challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(fail(
            "invalid_request",
            "code_challenge must be a base64url SHA-256 (43 characters)",
        ));
    }
    let resource = p.resource.as_deref().ok_or_else(|| {
        fail(
            "invalid_target",
            "resource is required: the MCP URL of the server (RFC 8707)",
        )
    })?;
    let server = server_for_resource(state, resource).await.ok_or_else(|| {
        fail(
            "invalid_target",
            "resource is not the MCP URL of a server on this platform",
        )
    })?;
    if !server.enabled {
        return Err(fail("invalid_target", "this server is disabled"));
    }
    Ok(Valid {
        resource: state.urls.mcp_url(&server.slug),
        client,
        redirect_uri,
        server,
        code_challenge: challenge.to_owned(),
    })
}

/// The server whose MCP URL is `resource` (a trailing slash is tolerated).
pub async fn server_for_resource(state: &AppState, resource: &str) -> Option<Server> {
    let prefix = state.urls.join("/mcp/");
    let slug = resource.strip_prefix(&prefix)?.trim_end_matches('/');
    if slug.is_empty() || slug.contains('/') || slug.contains('?') || slug.contains('#') {
        return None;
    }
    state.store.server_by_slug(slug).await.ok()
}

/// The redirect back to the client, with `iss` (RFC 9207) and `state`.
/// The redirect back to the client, with `iss` (RFC 9207) and `state`.
fn client_redirect_url(
    state: &AppState,
    redirect_uri: &str,
    params: &[(&str, &str)],
    client_state: Option<&str>,
) -> Option<Url> {
    let mut url = Url::parse(redirect_uri).ok()?;
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
        if let Some(s) = client_state {
            query.append_pair("state", s);
        }
        query.append_pair("iss", &state.urls.base());
    }
    Some(url)
}

fn client_redirect(
    state: &AppState,
    redirect_uri: &str,
    params: &[(&str, &str)],
    client_state: Option<&str>,
) -> Response {
    match client_redirect_url(state, redirect_uri, params, client_state) {
        Some(url) => Redirect::to(url.as_str()).into_response(),
        None => error_page(StatusCode::BAD_REQUEST, "The redirect URI is malformed."),
    }
}

/// A refused request. Before the user has acted, even an error for a verified client is shown
/// as a page with a link back, never an automatic redirect: anyone can register a client with
/// any https redirect URI, and an automatic error redirect would make this trusted origin an
/// open redirector (RFC 9700 §4.11.2).
fn refuse(
    state: &AppState,
    invalid: Invalid,
    client_state: Option<&str>,
    user_acted: bool,
) -> Response {
    match invalid {
        Invalid::Page(message) => error_page(StatusCode::BAD_REQUEST, &message),
        Invalid::Redirect {
            redirect_uri,
            error,
            description,
        } => {
            let params = [
                ("error", error),
                ("error_description", description.as_str()),
            ];
            if user_acted {
                return client_redirect(state, &redirect_uri, &params, client_state);
            }
            let Some(url) = client_redirect_url(state, &redirect_uri, &params, client_state) else {
                return error_page(StatusCode::BAD_REQUEST, "The redirect URI is malformed.");
            };
            let host = url.host_str().unwrap_or_default().to_owned();
            let page = pages::page(
                "Authorization failed",
                None,
                html! {
                    h1 { "Authorization failed" }
                    p.error role="alert" { (description) " (" (error) ")" }
                    p { a href=(url.as_str()) rel="noreferrer" { "Return to the application at " (host) } }
                },
            );
            (StatusCode::BAD_REQUEST, page).into_response()
        }
    }
}

fn error_page(status: StatusCode, message: &str) -> Response {
    (status, pages::message_page("Authorization failed", message)).into_response()
}

/// `GET /oauth/authorize`.
pub async fn authorize_get(
    State(state): State<AppState>,
    session: Option<SessionUser>,
    Query(params): Query<AuthorizeParams>,
    uri: axum::http::Uri,
) -> Response {
    let valid = match validate(&state, &params).await {
        Ok(valid) => valid,
        Err(invalid) => return refuse(&state, invalid, params.state.as_deref(), false),
    };
    let Some(session) = session else {
        let next = uri
            .path_and_query()
            .map_or("/oauth/authorize", |pq| pq.as_str());
        let target = format!(
            "/login?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("next", next)
                .finish()
        );
        return Redirect::to(&target).into_response();
    };
    let asks_consent = params
        .prompt
        .as_deref()
        .is_some_and(|prompt| prompt.split(' ').any(|value| value == "consent"));
    if !asks_consent {
        match remembered_grant(&state, &session, &valid, params.scope.as_deref()).await {
            Ok(Some(grant)) => {
                tracing::info!(user = %session.user.id, client = %grant.client_id, server = %valid.server.slug, "authorization granted (consent remembered)");
                return issue_code(&state, &grant, &valid, params.state.as_deref()).await;
            }
            Ok(None) => {}
            Err(e) => return crate::web::PageError::from(e).into_response(),
        }
    }
    consent_page(&session, &valid, &params).into_response()
}

/// The user's unrevoked grant for this client, server and resource whose scopes include every
/// scope requested, if any: their consent to this request, given before. Only for a redirect
/// URI the client registered exactly: a loopback one on another port (RFC 8252 lets it
/// through) could be any local program's, so the user is asked.
async fn remembered_grant(
    state: &AppState,
    session: &SessionUser,
    valid: &Valid,
    scope: Option<&str>,
) -> Result<Option<Grant>, crate::store::StoreError> {
    if !valid.client.redirect_uris.contains(&valid.redirect_uri) {
        return Ok(None);
    }
    let requested: Vec<&str> = scope.unwrap_or_default().split_whitespace().collect();
    let grants = state.store.user_grants(session.user.id).await?;
    Ok(grants
        .into_iter()
        .map(|user_grant| user_grant.grant)
        .find(|grant| {
            let granted: Vec<&str> = grant
                .scope
                .as_deref()
                .unwrap_or_default()
                .split_whitespace()
                .collect();
            grant.client_id == valid.client.client_id
                && grant.server_id == valid.server.id
                && grant.resource == valid.resource
                && requested.iter().all(|wanted| granted.contains(wanted))
        }))
}

/// A code under `grant` for this request, sent to the client's redirect URI.
async fn issue_code(
    state: &AppState,
    grant: &Grant,
    valid: &Valid,
    client_state: Option<&str>,
) -> Response {
    let t = state.clock.now();
    let code = random_token("gsa_");
    let record = SingleUse {
        hash: token_hash(&code),
        grant_id: grant.id,
        client_id: grant.client_id.clone(),
        redirect_uri: valid.redirect_uri.clone(),
        code_challenge: valid.code_challenge.clone(),
        created_at: t,
        expires_at: t + CODE_SECONDS,
    };
    if let Err(e) = state.store.insert_code(&record).await {
        return crate::web::PageError::from(e).into_response();
    }
    use secrecy::ExposeSecret as _;
    client_redirect(
        state,
        &valid.redirect_uri,
        &[("code", code.expose_secret())],
        client_state,
    )
}

fn consent_page(session: &SessionUser, valid: &Valid, params: &AuthorizeParams) -> Markup {
    let client_name = valid
        .client
        .client_name
        .clone()
        .unwrap_or_else(|| "An unnamed client".into());
    let redirect_host = Url::parse(&valid.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let hidden = [
        ("response_type", params.response_type.as_deref()),
        ("client_id", params.client_id.as_deref()),
        ("redirect_uri", Some(valid.redirect_uri.as_str())),
        ("code_challenge", params.code_challenge.as_deref()),
        (
            "code_challenge_method",
            params.code_challenge_method.as_deref(),
        ),
        ("state", params.state.as_deref()),
        ("scope", params.scope.as_deref()),
        ("resource", params.resource.as_deref()),
    ];
    pages::page(
        "Allow access",
        Some(session),
        html! {
            h1 { "Allow " (client_name) " to use " (valid.server.name) "?" }
            div.card {
                p { strong { (client_name) } " is asking to call the tools of "
                    strong { (valid.server.name) } " as " strong { (session.user.email) } "." }
                dl {
                    dt { "Client" } dd { code { (valid.client.client_id) } }
                    dt { "It will receive the answer at" } dd { code { (redirect_host) } }
                    dt { "Server" } dd { code { (valid.resource) } }
                }
                p { small { "You won't be asked again for this client and server until you revoke it on "
                    a href="/clients" { "the MCP clients page" } "." } }
                form method="post" action="/oauth/authorize" {
                    input type="hidden" name="csrf" value=(session.csrf);
                    @for (name, value) in hidden {
                        @if let Some(value) = value {
                            input type="hidden" name=(name) value=(value);
                        }
                    }
                    div.actions {
                        button type="submit" name="decision" value="approve" { "Allow" }
                        button type="submit" name="decision" value="deny" { "Deny" }
                    }
                }
            }
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    decision: String,
    #[serde(flatten)]
    params: AuthorizeParams,
}

/// `POST /oauth/authorize`: the consent decision.
pub async fn authorize_post(
    State(state): State<AppState>,
    VerifiedForm { session, form }: VerifiedForm<ConsentForm>,
) -> Response {
    let params = form.params;
    let client_state = params.state.as_deref();
    let valid = match validate(&state, &params).await {
        Ok(valid) => valid,
        Err(invalid) => return refuse(&state, invalid, client_state, true),
    };
    if form.decision != "approve" {
        return client_redirect(
            &state,
            &valid.redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "the user denied the request"),
            ],
            client_state,
        );
    }
    let t = state.clock.now();
    let grant = Grant {
        id: Uuid::new_v4(),
        user_id: session.user.id,
        client_id: valid.client.client_id.clone(),
        server_id: valid.server.id,
        resource: valid.resource.clone(),
        scope: params.scope.clone().filter(|s| !s.is_empty()),
        created_at: t,
        revoked_at: None,
    };
    if let Err(e) = state.store.insert_grant(&grant).await {
        return crate::web::PageError::from(e).into_response();
    }
    tracing::info!(user = %session.user.id, client = %grant.client_id, server = %valid.server.slug, "authorization granted");
    issue_code(&state, &grant, &valid, client_state).await
}
