//! The API tokens page (`/tokens`): everyone sees and revokes their own tokens, admins
//! everyone's; anyone makes a token for themselves here (shown once). Every action goes through
//! [`ApiTokens`](crate::api_tokens::ApiTokens), like the API and the CLI.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use uuid::Uuid;

use super::csrf::VerifiedForm;
use super::error::PageError;
use super::pages;
use crate::audit::Audit;
use crate::auth::SessionUser;
use crate::state::AppState;
use crate::store::{ApiToken, Role};

/// What the page shows besides the list.
#[derive(Default)]
struct View<'a> {
    notice: Option<Markup>,
    name: &'a str,
    days: &'a str,
    error: Option<&'a PageError>,
}

fn token_row(session: &SessionUser, token: &ApiToken, now: i64, all: bool) -> Markup {
    let expired = token.expires_at <= now;
    html! {
        tr {
            th scope="row" { (token.name) }
            @if all { td { (token.user_email) } }
            td { (token.role.as_str()) }
            td { (pages::format_time(token.created_at)) }
            td {
                @match token.last_used_at {
                    Some(at) => (pages::format_time(at)),
                    None => "never",
                }
            }
            td {
                @if expired { span.tag { "expired" } " " }
                (pages::format_time(token.expires_at))
            }
            td {
                form.inline method="post" action={ "/tokens/" (token.id) "/revoke" } {
                    input type="hidden" name="csrf" value=(session.csrf);
                    button.danger type="submit" aria-label={ "Revoke " (token.name) } { "Revoke" }
                }
            }
        }
    }
}

async fn tokens_page(
    state: &AppState,
    session: &SessionUser,
    view: View<'_>,
    status: StatusCode,
) -> Response {
    let tokens = match state.api_tokens.visible_to(&session.user).await {
        Ok(tokens) => tokens,
        Err(e) => return pages::error_page(Some(session), e),
    };
    let all = session.user.role == Role::Admin;
    let settings = state.api_tokens.settings();
    let now = state.clock.now();
    let body = html! {
        h1 { "API tokens" }
        @if let Some(notice) = &view.notice { div.notice role="status" { (notice) } }
        p {
            "Scripts call the JSON API with " code { "Authorization: Bearer gsk_…" } ". A token acts with its user's current role, expires, and ends when its user's password is reset, when the user is demoted below the role it was made under, or when the user is disabled."
        }
        @if tokens.is_empty() {
            p { "No API tokens." }
        } @else {
            table {
                caption {
                    (tokens.len()) @if all { " tokens of every user" } @else { " tokens of yours" }
                }
                thead { tr {
                    th scope="col" { "Name" }
                    @if all { th scope="col" { "User" } }
                    th scope="col" { "Made as" }
                    th scope="col" { "Created" }
                    th scope="col" { "Last used" }
                    th scope="col" { "Expires" }
                    th scope="col" { span.visually-hidden { "Actions" } }
                } }
                tbody { @for token in &tokens { (token_row(session, token, now, all)) } }
            }
        }
        section aria-labelledby="new-token" {
            h2 id="new-token" { "New token" }
            @if let Some(err) = view.error {
                p.error role="alert" id="token-error" { (err.public_message()) }
            }
            form.card method="post" action="/tokens" {
                input type="hidden" name="csrf" value=(session.csrf);
                label for="token-name" { "Name (required)" }
                input id="token-name" name="name" type="text" required maxlength="100"
                    autocomplete="off" value=(view.name)
                    aria-invalid=[view.error.filter(|e| e.code() == "invalid_name").map(|_| "true")]
                    aria-describedby=[view.error.map(|_| "token-error")];
                label for="token-days" { "Expires in (days)" }
                small id="days-help" { "1 to " (settings.max_days) "; empty: " (settings.default_days) "." }
                input id="token-days" name="days" type="number" min="1" max=(settings.max_days)
                    value=(view.days) aria-describedby="days-help"
                    aria-invalid=[view.error.filter(|e| e.code() == "invalid_expiry").map(|_| "true")];
                button type="submit" { "Create token" }
            }
        }
    };
    (status, pages::page("API tokens", Some(session), body)).into_response()
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DoneQuery {
    done: Option<String>,
}

/// `GET /tokens`.
pub(super) async fn list(
    State(state): State<AppState>,
    session: SessionUser,
    Query(query): Query<DoneQuery>,
) -> Response {
    let notice = match query.done.as_deref() {
        Some("revoked") => Some(html! { "Token revoked." }),
        _ => None,
    };
    let view = View {
        notice,
        ..View::default()
    };
    tokens_page(&state, &session, view, StatusCode::OK).await
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    days: String,
}

/// `POST /tokens`: makes a token for the logged-in user and shows it once.
pub(super) async fn create(
    State(state): State<AppState>,
    audit: Audit,
    VerifiedForm { session, form }: VerifiedForm<CreateForm>,
) -> Response {
    let days = match form.days.trim() {
        "" => Ok(None),
        typed => typed.parse::<u32>().map(Some).map_err(|_| {
            let max = state.api_tokens.settings().max_days;
            PageError::invalid(
                "invalid_expiry",
                format!("the expiry is a whole number of days, 1 to {max}"),
            )
        }),
    };
    let result = match days {
        Ok(days) => state
            .api_tokens
            .create(&session.user, &form.name, days)
            .await
            .map_err(PageError::from),
        Err(err) => Err(err),
    };
    match result {
        Ok(created) => {
            audit
                .record(&session.user, crate::audit::token_created(&created.record))
                .await;
            let notice = html! {
                p { "Token " strong { (created.record.name) } " created; it expires "
                    (pages::format_time(created.record.expires_at)) "." }
                p { "Copy it now, it is shown only this once: "
                    code.secret id="new-token-value" { (created.token.expose_secret()) } }
            };
            let view = View {
                notice: Some(notice),
                ..View::default()
            };
            tokens_page(&state, &session, view, StatusCode::CREATED).await
        }
        Err(err) if err.is_input_error() => {
            let view = View {
                name: &form.name,
                days: &form.days,
                error: Some(&err),
                ..View::default()
            };
            tokens_page(&state, &session, view, err.status()).await
        }
        Err(err) => pages::error_page(Some(&session), err),
    }
}

/// `POST /tokens/{id}/revoke`: one's own token, or anyone's for an admin.
pub(super) async fn revoke(
    State(state): State<AppState>,
    audit: Audit,
    Path(id): Path<String>,
    VerifiedForm { session, .. }: VerifiedForm,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return pages::error_page(Some(&session), PageError::not_found("no such API token"));
    };
    match state.api_tokens.revoke(Some(&session.user), id).await {
        Ok(token) => {
            audit
                .record(&session.user, crate::audit::token_revoked(&token))
                .await;
            Redirect::to("/tokens?done=revoked").into_response()
        }
        Err(err) => pages::error_page(Some(&session), err),
    }
}
