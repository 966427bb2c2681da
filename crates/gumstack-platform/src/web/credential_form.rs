//! The credential form of a `cred` server (SPEC §4): the fields its config.yaml declares,
//! secrets write-only (a saved secret shows at most its last two characters), saved sealed
//! per user, and deleted on request.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use gumstack_config::CredentialField;
use maud::{Markup, html};

use serde::Deserialize;

use super::connections::{Problem, StepUp, accounts_page, oauth_server};
use super::csrf::VerifiedForm;
use super::error::PageError;
use super::pages;
use crate::auth::SessionUser;
use crate::credentials::{FieldErrors, SaveError, fields};
use crate::elicitation::Seal;
use crate::state::AppState;
use crate::store::{AuthType, Server, User};

async fn cred_server(state: &AppState, user: &User, slug: &str) -> Result<Server, Response> {
    match state.visible_server(user, slug).await {
        Ok(server)
            if server.auth_type == AuthType::Cred && server.enabled && server.slug == slug =>
        {
            Ok(server)
        }
        Ok(_) => Err((
            StatusCode::NOT_FOUND,
            pages::message_page("Not found", "This server takes no credentials from you."),
        )
            .into_response()),
        Err(e) => Err(PageError::from(e).into_response()),
    }
}

fn form_page(
    session: &SessionUser,
    server: &Server,
    fields: &[CredentialField],
    hints: &BTreeMap<String, String>,
    typed: &BTreeMap<String, String>,
    errors: &FieldErrors,
    notice: Option<&str>,
) -> Markup {
    pages::page(
        &server.name,
        Some(session),
        html! {
            h1 { "Credentials for " (server.name) }
            @if !server.description.is_empty() { p { (server.description) } }
            @if let Some(notice) = notice { p.notice role="status" { (notice) } }
            @if !errors.0.is_empty() {
                div.error role="alert" {
                    p { "Please correct the following:" }
                    ul { @for message in errors.0.values() { li { (message) } } }
                }
            }
            form.card method="post" action={ "/connections/" (server.slug) } {
                input type="hidden" name="csrf" value=(session.csrf);
                @for field in fields {
                    @let id = format!("field-{}", field.name);
                    @let hint = hints.get(&field.name);
                    label for=(id) {
                        (field.label)
                        @if field.required { " (required)" }
                    }
                    @if let Some(description) = &field.description {
                        small id={ (id) "-help" } { (description) }
                    }
                    @if field.secret {
                        input id=(id) name=(field.name) type="password" autocomplete="off"
                            placeholder=(hint.cloned().or_else(|| field.placeholder.clone()).unwrap_or_default())
                            aria-describedby={ (id) "-help" }
                            aria-invalid=[errors.0.contains_key(&field.name).then_some("true")];
                        @if let Some(hint) = hint { small { (hint) " — leave empty to keep it" } }
                    } @else {
                        input id=(id) name=(field.name) type="text"
                            value=(typed.get(&field.name).or(hint).cloned().unwrap_or_default())
                            placeholder=(field.placeholder.clone().unwrap_or_default())
                            aria-describedby={ (id) "-help" }
                            aria-invalid=[errors.0.contains_key(&field.name).then_some("true")];
                    }
                }
                button type="submit" { "Save" }
            }
            @if !hints.is_empty() {
                form.inline method="post" action={ "/connections/" (server.slug) "/delete" } {
                    input type="hidden" name="csrf" value=(session.csrf);
                    button type="submit" { "Delete my credentials" }
                }
            }
            p { a href="/connections" { "All connections" } }
        },
    )
}

/// What `GET /connections/{slug}` may be told.
#[derive(Debug, Deserialize)]
pub(super) struct ShowQuery {
    /// The link of a call that needs the user's input (docs/PROTOCOL.md §5): signed for the
    /// user it was made for.
    elicitation: Option<String>,
    /// An account was just connected.
    connected: Option<String>,
    /// The credentials were just saved.
    saved: Option<String>,
    /// `oauth`: a tool needs these scopes (space-separated) from `provider`, beyond what the
    /// user's account was granted.
    provider: Option<String>,
    scope: Option<String>,
}

/// Said when the person is done.
const RETURN_TO_CLIENT: &str =
    "If your MCP client sent you here, return to it now: it can go on with your request.";

impl ShowQuery {
    /// What the page says above the form; or the refusal of a link made for someone else.
    fn note(
        &self,
        state: &AppState,
        session: &SessionUser,
        server: &Server,
    ) -> Result<Option<String>, Box<Response>> {
        if let Some(link) = &self.elicitation {
            let user = Seal::of(state).link_user(server.id, link).map_err(|why| {
                Box::new(
                (
                    StatusCode::BAD_REQUEST,
                    pages::page(
                        "Link not usable",
                        Some(session),
                        html! {
                            h1 { "Link not usable" }
                            p.error role="alert" { (why) " Call the tool again from your MCP client for a new link." }
                        },
                    ),
                )
                    .into_response(),
                )
            })?;
            if user != session.user.id {
                tracing::warn!(server = %server.slug, user = %session.user.id, "an elicitation link made for another user was opened");
                return Err(Box::new((
                    StatusCode::FORBIDDEN,
                    pages::page(
                        "Link made for someone else",
                        Some(session),
                        html! {
                            h1 { "This link was made for someone else" }
                            p.error role="alert" {
                                "You are signed in as " strong { (session.user.email) } ", but this link was made for another user of this platform. Nothing was connected and nothing was saved."
                            }
                            p { "If the link is yours, sign out and open it again signed in as the user your MCP client signed in as." }
                        },
                    ),
                )
                    .into_response()));
            }
            let what = match server.auth_type {
                AuthType::Oauth => "Connect your account below",
                _ => "Enter your credentials below",
            };
            return Ok(Some(format!(
                "Your MCP client asked for this. {what}, then return to your MCP client: it can go on with your request."
            )));
        }
        if self.connected.is_some() {
            return Ok(Some(format!("Account connected. {RETURN_TO_CLIENT}")));
        }
        if self.saved.is_some() {
            return Ok(Some(format!("Credentials saved. {RETURN_TO_CLIENT}")));
        }
        Ok(None)
    }
}

/// `GET /connections/{slug}`.
pub(super) async fn show(
    State(state): State<AppState>,
    session: SessionUser,
    Path(slug): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Response {
    if let Ok(server) = oauth_server(&state, &session.user, &slug).await {
        let note = match query.note(&state, &session, &server) {
            Ok(note) => note,
            Err(refusal) => return *refusal,
        };
        let step_up = match StepUp::of(query.provider.as_deref(), query.scope.as_deref()) {
            Ok(step_up) => step_up,
            Err(why) => {
                return pages::error_page(
                    Some(&session),
                    PageError::invalid("invalid_scope", format!("The scopes asked for: {why}.")),
                );
            }
        };
        return accounts_page(
            &state,
            &session,
            &server,
            note.map(Problem::Note),
            step_up.as_ref(),
            StatusCode::OK,
        )
        .await;
    }
    let server = match cred_server(&state, &session.user, &slug).await {
        Ok(server) => server,
        Err(response) => return response,
    };
    let note = match query.note(&state, &session, &server) {
        Ok(note) => note,
        Err(refusal) => return *refusal,
    };
    let fields = match fields(&server) {
        Ok(f) => f,
        Err(e) => return PageError::from(e).into_response(),
    };
    let hints = match state.credentials.hints(session.user.id, &server).await {
        Ok(h) => h,
        Err(e) => return PageError::from(e).into_response(),
    };
    form_page(
        &session,
        &server,
        &fields,
        &hints,
        &BTreeMap::new(),
        &FieldErrors::default(),
        note.as_deref(),
    )
    .into_response()
}

/// `POST /connections/{slug}`.
pub(super) async fn save(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    VerifiedForm { session, form }: VerifiedForm<BTreeMap<String, String>>,
) -> Response {
    let server = match cred_server(&state, &session.user, &slug).await {
        Ok(server) => server,
        Err(response) => return response,
    };
    match state
        .credentials
        .save(session.user.id, &server, &form)
        .await
    {
        Ok(()) => Redirect::to(&format!("/connections/{}?saved=1", server.slug)).into_response(),
        Err(SaveError::Invalid(errors)) => {
            let fields = match fields(&server) {
                Ok(f) => f,
                Err(e) => return PageError::from(e).into_response(),
            };
            let hints = state
                .credentials
                .hints(session.user.id, &server)
                .await
                .unwrap_or_default();
            // Keep what the user typed, except secrets.
            let typed: BTreeMap<String, String> = fields
                .iter()
                .filter(|f| !f.secret)
                .filter_map(|f| form.get(&f.name).map(|v| (f.name.clone(), v.clone())))
                .collect();
            (
                StatusCode::BAD_REQUEST,
                form_page(&session, &server, &fields, &hints, &typed, &errors, None),
            )
                .into_response()
        }
        Err(SaveError::Internal(e)) => PageError::from(e).into_response(),
    }
}

/// `POST /connections/{slug}/delete`.
pub(super) async fn delete(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    VerifiedForm { session, .. }: VerifiedForm,
) -> Response {
    let server = match cred_server(&state, &session.user, &slug).await {
        Ok(server) => server,
        Err(response) => return response,
    };
    match state.credentials.delete(session.user.id, server.id).await {
        Ok(_) => Redirect::to("/connections").into_response(),
        Err(e) => PageError::from(e).into_response(),
    }
}
