//! The end user's Connections pages (SPEC §3, §4, §10): the list, and the accounts of `oauth`
//! servers with Connect / Disconnect, plus the one OAuth callback every provider redirects to
//! (`/auth/callback`). The credential forms of `cred` servers are in `credential_form`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::csrf::VerifiedForm;
use super::error::PageError;
use super::pages;
use crate::auth::SessionUser;
use crate::connections::ConnectionView;
use crate::connections::flow::{CallbackQuery, declared_providers};
use crate::connections::{CallbackError, ConnectError};
use crate::state::AppState;
use crate::store::{AuthType, ConnectionStatus, FailureKind, Server, User};

/// `GET /connections`.
pub(super) async fn list(State(state): State<AppState>, session: SessionUser) -> Response {
    let servers = match state.visible_servers(&session.user).await {
        Ok(list) => list,
        Err(e) => return PageError::from(e).into_response(),
    };
    let accounts = match state.connections.views(session.user.id).await {
        Ok(views) => views,
        Err(e) => return PageError::from(e).into_response(),
    };
    let mut rows = Vec::new();
    for server in servers.into_iter().filter(|s| s.enabled) {
        let summary = match server.auth_type {
            AuthType::None => continue,
            AuthType::Cred => match state.credentials.hints(session.user.id, &server).await {
                Ok(hints) if hints.is_empty() => "not set up".to_owned(),
                Ok(_) => "credentials saved".to_owned(),
                Err(e) => return PageError::from(e).into_response(),
            },
            AuthType::Oauth => {
                let mine: Vec<String> = accounts
                    .iter()
                    .filter(|a| a.server_id == server.id)
                    .map(|a| match a.status {
                        ConnectionStatus::Active => format!("{}: {}", a.provider, a.nickname),
                        ConnectionStatus::NeedsReauth => {
                            format!("{}: needs reconnecting", a.provider)
                        }
                    })
                    .collect();
                if mine.is_empty() {
                    "not connected".to_owned()
                } else {
                    mine.join(" · ")
                }
            }
        };
        rows.push((server, summary));
    }
    pages::page(
        "Connections",
        Some(&session),
        html! {
            h1 { "Connections" }
            p { "Servers that need your own accounts or credentials. Servers that use the developer's keys need nothing from you." }
            @if rows.is_empty() {
                p { "No server asks for your accounts or credentials." }
            } @else {
                ul.list {
                    @for (server, summary) in &rows {
                        li {
                            a href={ "/connections/" (server.slug) } { (server.name) }
                            " — " (summary)
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

pub(super) async fn oauth_server(
    state: &AppState,
    user: &User,
    slug: &str,
) -> Result<Server, Response> {
    match state.visible_server(user, slug).await {
        Ok(server)
            if server.auth_type == AuthType::Oauth && server.enabled && server.slug == slug =>
        {
            Ok(server)
        }
        Ok(_) => Err((
            StatusCode::NOT_FOUND,
            pages::message_page("Not found", "This server connects no accounts."),
        )
            .into_response()),
        Err(e) => Err(PageError::from(e).into_response()),
    }
}

/// Scopes a tool needs from one provider that the user's account was not granted
/// (docs/PROTOCOL.md §3): the page asks to connect again for them.
#[derive(Debug, Clone)]
pub(super) struct StepUp {
    pub(super) provider: String,
    pub(super) scopes: Vec<String>,
}

impl StepUp {
    /// From a page's `provider` and `scope` query parameters; `None` without both, an error
    /// for a scope list that is not one.
    pub(super) fn of(provider: Option<&str>, scope: Option<&str>) -> Result<Option<Self>, String> {
        let (Some(provider), Some(scope)) = (provider, scope) else {
            return Ok(None);
        };
        let scopes = gumstack_protocol::scopes::parse_requested(scope)?;
        Ok((!scopes.is_empty()).then(|| Self {
            provider: provider.to_owned(),
            scopes,
        }))
    }
}

/// A problem to show above the accounts of a server.
pub(super) enum Problem {
    /// The developer has not given the provider's settings yet.
    NotConfigured {
        provider: String,
        missing_env: Vec<String>,
    },
    Message(String),
    /// Not a problem: news for the person (e.g. an account just connected).
    Note(String),
}

/// One account: its names, whether it is the default, its state, and what can be done with it.
fn account_card(
    session: &SessionUser,
    server: &Server,
    provider: &str,
    account: &ConnectionView,
    several: bool,
) -> maud::Markup {
    let action = |what: &str| format!("/connections/{}/{provider}/{what}", server.slug);
    let id = account.id.to_string();
    html! {
        @match account.status {
            ConnectionStatus::Active => {
                p {
                    "Connected as " strong.nickname { (account.nickname) }
                    @if let Some(label) = &account.label { " (" span.label { (label) } ")" }
                    "."
                    @if account.is_default && several { " " span.badge { "default" } }
                }
                @if let (Some(FailureKind::Integration), Some(message)) = (account.failure_kind, &account.failure_message) {
                    p.error role="alert" { (message) }
                }
            }
            ConnectionStatus::NeedsReauth => {
                p.error role="alert" {
                    "The connection of " strong.nickname { (account.nickname) }
                    @if let Some(label) = &account.label { " (" span.label { (label) } ")" }
                    " has expired or was revoked. Connect it again to keep using " (server.name) "."
                    @if account.is_default && several { " " span.badge { "default" } }
                }
                form.inline method="post" action=(action("connect")) {
                    input type="hidden" name="csrf" value=(session.csrf);
                    button type="submit" { "Reconnect" }
                }
            }
        }
        @if several && !account.is_default {
            form.inline method="post" action=(action("default")) {
                input type="hidden" name="csrf" value=(session.csrf);
                input type="hidden" name="account" value=(id);
                button type="submit" { "Make default" }
            }
        }
        form.inline method="post" action=(action("rename")) {
            input type="hidden" name="csrf" value=(session.csrf);
            input type="hidden" name="account" value=(id);
            label { "Label "
                input type="text" name="label" maxlength=(crate::connections::MAX_LABEL_CHARS)
                    value=(account.label.as_deref().unwrap_or_default()) placeholder=(account.nickname);
            }
            " "
            button type="submit" { "Rename" }
        }
        form.inline method="post" action=(action("disconnect")) {
            input type="hidden" name="csrf" value=(session.csrf);
            input type="hidden" name="account" value=(id);
            button type="submit" { "Disconnect" }
        }
    }
}

/// The accounts of an `oauth` server: one card per provider listing the accounts connected
/// (Make default / Rename / Disconnect each) with Connect.
pub(super) async fn accounts_page(
    state: &AppState,
    session: &SessionUser,
    server: &Server,
    problem: Option<Problem>,
    step_up: Option<&StepUp>,
    status: StatusCode,
) -> Response {
    let providers = match declared_providers(server) {
        Ok(p) => p,
        Err(e) => return PageError::from(e).into_response(),
    };
    let accounts = match state.connections.views(session.user.id).await {
        Ok(views) => views,
        Err(e) => return PageError::from(e).into_response(),
    };
    let markup = pages::page(
        &server.name,
        Some(session),
        html! {
            h1 { "Accounts for " (server.name) }
            @if !server.description.is_empty() { p { (server.description) } }
            @match &problem {
                Some(Problem::NotConfigured { provider, missing_env }) => {
                    div.error role="alert" {
                        p { (server.name) " cannot connect " (provider) " accounts yet: its developer has not configured the provider." }
                        @if !missing_env.is_empty() {
                            p { "The developer must set these environment variables on the server, then redeploy it:" }
                            ul { @for name in missing_env { li { code { (name) } } } }
                        }
                        p { "The redirect URI to register with the provider is " code { (state.connections.redirect_uri()) } "." }
                    }
                }
                Some(Problem::Message(message)) => { p.error role="alert" { (message) } }
                Some(Problem::Note(note)) => { p.notice role="status" { (note) } }
                None => {}
            }
            @for provider in &providers {
                @let mine: Vec<&ConnectionView> = accounts.iter().filter(|a| a.server_id == server.id && &a.provider == provider).collect();
                section.card aria-labelledby={ "provider-" (provider) } {
                    h2 id={ "provider-" (provider) } { (provider) }
                    @if mine.is_empty() {
                        p { "Not connected." }
                    } @else {
                        @if mine.len() > 1 {
                            p { "Tools use the default account unless you ask for another by name." }
                        }
                        ul.accounts {
                            @for account in &mine {
                                li.account data-account=(account.nickname) {
                                    (account_card(session, server, provider, account, mine.len() > 1))
                                }
                            }
                        }
                    }
                    @let more = step_up.filter(|s| &s.provider == provider).map(|s| s.scopes.join(" "));
                    @if let Some(more) = &more {
                        p.notice role="status" {
                            "A tool of " (server.name) " needs more access to your " (provider) " account: "
                            code { (more) } ". Connect it again (signing in as the same account) and allow it."
                        }
                    }
                    form.inline method="post" action={ "/connections/" (server.slug) "/" (provider) "/connect" } {
                        input type="hidden" name="csrf" value=(session.csrf);
                        @if let Some(more) = &more {
                            input type="hidden" name="scope" value=(more);
                        }
                        button type="submit" {
                            @if more.is_some() { "Connect " (provider) " with the new access" }
                            @else if mine.is_empty() { "Connect " (provider) }
                            @else { "Connect another " (provider) " account" }
                        }
                    }
                    @if !mine.is_empty() {
                        p { small { "To connect another account, sign in to " (provider) " as that account when it asks; an account you connect again replaces its old connection." } }
                    }
                }
            }
            p { a href="/connections" { "All connections" } }
        },
    );
    (status, markup).into_response()
}

/// The Connect form.
#[derive(Debug, serde::Deserialize)]
pub(super) struct ConnectForm {
    /// Scopes to ask for beyond the provider's own (a tool needs them), space-separated.
    scope: Option<String>,
}

/// `POST /connections/{slug}/{provider}/connect`: starts the flow and sends the browser to the
/// provider.
pub(super) async fn connect(
    State(state): State<AppState>,
    Path((slug, provider)): Path<(String, String)>,
    VerifiedForm { session, form }: VerifiedForm<ConnectForm>,
) -> Response {
    let server = match oauth_server(&state, &session.user, &slug).await {
        Ok(server) => server,
        Err(response) => return response,
    };
    let scopes = match form
        .scope
        .as_deref()
        .map(gumstack_protocol::scopes::parse_requested)
        .transpose()
    {
        Ok(scopes) => scopes.unwrap_or_default(),
        Err(why) => {
            return pages::error_page(
                Some(&session),
                PageError::invalid("invalid_scope", format!("The scopes asked for: {why}.")),
            );
        }
    };
    match state
        .connections
        .start(session.user.id, &session.token, &server, &provider, &scopes)
        .await
    {
        Ok(url) => continue_to_provider(&server, &provider, url.as_str()),
        Err(ConnectError::NotConfigured { missing_env, .. }) => {
            let problem = Problem::NotConfigured {
                provider,
                missing_env,
            };
            accounts_page(
                &state,
                &session,
                &server,
                Some(problem),
                None,
                StatusCode::SERVICE_UNAVAILABLE,
            )
            .await
        }
        Err(ConnectError::Unavailable(message)) => {
            let problem = Problem::Message(format!(
                "{} cannot be reached right now ({message}). Try again in a moment.",
                server.name
            ));
            accounts_page(
                &state,
                &session,
                &server,
                Some(problem),
                None,
                StatusCode::SERVICE_UNAVAILABLE,
            )
            .await
        }
        Err(err @ ConnectError::UnknownProvider { .. }) => {
            pages::error_page(Some(&session), PageError::not_found(err.to_string()))
        }
        Err(ConnectError::Integration(message)) => {
            tracing::warn!(server = %server.slug, %provider, %message, "connect refused");
            let problem = Problem::Message(format!(
                "{} cannot connect {provider} accounts: {message}. Its developer has to fix this.",
                server.name
            ));
            accounts_page(
                &state,
                &session,
                &server,
                Some(problem),
                None,
                StatusCode::BAD_GATEWAY,
            )
            .await
        }
        Err(ConnectError::Internal(e)) => PageError::from(e).into_response(),
    }
}

/// The answer to Connect: a page that sends the browser on to the provider.
///
/// Not a 303 from the form post: browsers apply the page's CSP `form-action 'self'` to the
/// redirects that follow a form submission, so a redirect to the provider would be blocked.
/// A refresh (and a link, for browsers that do not follow it) is a plain navigation.
fn continue_to_provider(server: &Server, provider: &str, url: &str) -> Response {
    let markup = html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content={ "0;url=" (url) };
                title { "Connecting " (provider) " · Gumstack" }
                link rel="stylesheet" href="/assets/app.css";
            }
            body {
                main id="main" {
                    h1 { "Connecting your " (provider) " account" }
                    p { "Taking you to " (provider) " to connect it to " (server.name) "…" }
                    p { a id="continue" href=(url) { "Continue to " (provider) } }
                }
            }
        }
    };
    markup.into_response()
}

/// `GET /auth/callback`: where every provider sends the browser back.
pub(super) async fn callback(
    State(state): State<AppState>,
    session: SessionUser,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let error = match state
        .connections
        .finish(session.user.id, &session.token, query)
        .await
    {
        Ok(connected) => {
            return Redirect::to(&format!(
                "/connections/{}?connected=1",
                connected.server.slug
            ))
            .into_response();
        }
        Err(CallbackError::Internal(e)) => return PageError::from(e).into_response(),
        Err(error) => error,
    };
    let back = match &error {
        CallbackError::Denied { server, .. }
        | CallbackError::MissingCode { server }
        | CallbackError::ExchangeFailed { server, .. } => format!("/connections/{}", server.slug),
        _ => "/connections".to_owned(),
    };
    let markup = pages::page(
        "Account not connected",
        Some(&session),
        html! {
            h1 { "Account not connected" }
            p.error role="alert" { (error.to_string()) }
            p { a href=(back) { "Back to your connections" } }
        },
    );
    (StatusCode::BAD_REQUEST, markup).into_response()
}
