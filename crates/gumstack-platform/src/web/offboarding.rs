//! Offboarding from the Users page (admins only): disable (with the report of what was ended
//! and revoked at the providers), enable, and delete after a confirmation step where the admin
//! types the account's email. Every action goes through
//! [`Offboarding`](crate::offboarding::Offboarding), like the API and the CLI.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::csrf::VerifiedForm;
use super::error::PageError;
use super::{access, pages, users};
use crate::audit::{Audit, AuditAction, AuditEvent, Target, offboarded};
use crate::auth::SessionUser;
use crate::connections::RevokeOutcome;
use crate::offboarding::{Action, OffboardReport};
use crate::state::AppState;
use crate::store::{StoreError, User};

/// The account named in the path, or the page to answer with.
async fn target(state: &AppState, session: &SessionUser, raw: &str) -> Result<User, Response> {
    if let Err(refused) = access::admin(session) {
        return Err(refused.page(session));
    }
    let not_found = || pages::error_page(Some(session), PageError::not_found("no such user"));
    let id = Uuid::parse_str(raw).map_err(|_| not_found())?;
    match state.store.user_by_id(id).await {
        Ok(user) => Ok(user),
        Err(StoreError::NotFound) => Err(not_found()),
        Err(e) => Err(pages::error_page(Some(session), e)),
    }
}

fn report_page(session: &SessionUser, report: &OffboardReport) -> Markup {
    let (title, verb) = match report.action {
        Action::Disabled => ("Account disabled", "disabled"),
        Action::Deleted => ("Account deleted", "deleted"),
    };
    let body = html! {
        h1 { (title) }
        div.notice role="status" {
            p { strong { (report.email) } " is " (verb) ". Ended now:" }
            ul.list id="ended" {
                li { (report.ended.sessions) " browser sessions" }
                li { (report.ended.api_tokens) " API tokens" }
                li { (report.ended.grants) " MCP client authorizations (their tokens no longer work)" }
            }
        }
        h2 { "Connections at providers" }
        @if report.connections.is_empty() {
            p { "The account had no OAuth connections." }
        } @else {
            @if report.failures() > 0 {
                p.error role="alert" {
                    (report.failures()) " of " (report.connections.len())
                    " connections could not be revoked at their provider. "
                    @match report.action {
                        Action::Disabled => "Their tokens are kept (unusable while the account is disabled): disable the account again to retry, or revoke the access at the provider.",
                        Action::Deleted => "Their tokens are deleted here: revoke the access at the provider.",
                    }
                }
            }
            table id="revocations" {
                caption { "What became of each connection" }
                thead { tr {
                    th scope="col" { "Server" } th scope="col" { "Provider" }
                    th scope="col" { "Account" } th scope="col" { "Result" }
                } }
                tbody {
                    @for c in &report.connections {
                        tr {
                            th scope="row" { (c.server_name) br; small { code { (c.server_slug) } } }
                            td { (c.provider) }
                            td { (c.nickname) }
                            td {
                                @match &c.outcome {
                                    RevokeOutcome::Revoked => { span.tag { "revoked" } }
                                    RevokeOutcome::Unsupported => {
                                        span.tag { "not revoked" } " the server cannot revoke at this provider; tokens deleted"
                                    }
                                    RevokeOutcome::Failed { why } => {
                                        span.tag { "failed" } " " (why)
                                        @if c.deleted { "; tokens deleted" } @else { "; tokens kept" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(removed) = &report.removed {
            h2 { "Removed" }
            ul.list id="removed" {
                li { (removed.credentials) " saved credentials" }
                li {
                    (removed.servers_reassigned.len()) " servers passed to you"
                    @for slug in &removed.servers_reassigned { " " code { (slug) } }
                }
            }
        }
        p { a href="/users" { "Back to the users" } }
    };
    pages::page(title, Some(session), body)
}

/// `POST /users/{id}/disable`: ends access at once, revokes connections, shows the report.
pub(super) async fn disable(
    State(state): State<AppState>,
    audit: Audit,
    Path(id): Path<String>,
    VerifiedForm { session, .. }: VerifiedForm,
) -> Response {
    let user = match target(&state, &session, &id).await {
        Ok(user) => user,
        Err(page) => return page,
    };
    match state
        .offboarding
        .disable(user.id, Some(session.user.id))
        .await
        .map_err(PageError::from)
    {
        Ok(report) => {
            audit
                .record(
                    &session.user,
                    offboarded(AuditAction::UserDisabled, &report),
                )
                .await;
            report_page(&session, &report).into_response()
        }
        Err(err) if err.is_input_error() => {
            users::page_with_row_error(&state, &session, user.id, &err).await
        }
        Err(err) => pages::error_page(Some(&session), err),
    }
}

/// `POST /users/{id}/enable`.
pub(super) async fn enable(
    State(state): State<AppState>,
    audit: Audit,
    Path(id): Path<String>,
    VerifiedForm { session, .. }: VerifiedForm,
) -> Response {
    let user = match target(&state, &session, &id).await {
        Ok(user) => user,
        Err(page) => return page,
    };
    match state.offboarding.enable(user.id).await {
        Ok(enabled) => {
            audit
                .record(
                    &session.user,
                    AuditEvent::new(AuditAction::UserEnabled, Target::user(&enabled)),
                )
                .await;
            Redirect::to("/users?done=enabled").into_response()
        }
        Err(err) => pages::error_page(Some(&session), err),
    }
}

fn confirm_page(session: &SessionUser, user: &User, typed: &str, error: bool) -> Markup {
    pages::TypeToConfirm {
        what: &user.email,
        consequences: html! {
            li { "ends its sessions, API tokens and MCP clients' access at once, and refuses its logins;" }
            li { "revokes its OAuth connections at their providers (the report says what failed);" }
            li { "removes its saved credentials and connections;" }
            li { "passes its servers to you." }
        },
        expected: &user.email,
        expected_is: "the account's email",
        action: &format!("/users/{}/delete", user.id),
        cancel: "/users",
    }
    .page(session, typed, error)
}

/// `GET /users/{id}/delete`: the confirmation step.
pub(super) async fn confirm_delete(
    State(state): State<AppState>,
    session: SessionUser,
    Path(id): Path<String>,
) -> Response {
    match target(&state, &session, &id).await {
        Ok(user) => confirm_page(&session, &user, "", false).into_response(),
        Err(page) => page,
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

/// `POST /users/{id}/delete`: deletes once the email was typed; shows the report.
pub(super) async fn delete(
    State(state): State<AppState>,
    audit: Audit,
    Path(id): Path<String>,
    VerifiedForm { session, form }: VerifiedForm<DeleteForm>,
) -> Response {
    let user = match target(&state, &session, &id).await {
        Ok(user) => user,
        Err(page) => return page,
    };
    if !form.confirm.trim().eq_ignore_ascii_case(&user.email) {
        return (
            StatusCode::BAD_REQUEST,
            confirm_page(&session, &user, &form.confirm, true),
        )
            .into_response();
    }
    match state
        .offboarding
        .delete(user.id, Some(session.user.id), &session.user)
        .await
        .map_err(PageError::from)
    {
        Ok(report) => {
            audit
                .record(&session.user, offboarded(AuditAction::UserDeleted, &report))
                .await;
            report_page(&session, &report).into_response()
        }
        Err(err) if err.is_input_error() => {
            users::page_with_row_error(&state, &session, user.id, &err).await
        }
        Err(err) => pages::error_page(Some(&session), err),
    }
}
