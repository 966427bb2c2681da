//! The user's connected MCP clients (`/clients`): every grant they gave a client through the
//! platform's authorization server (SPEC §7), with the client's name, the server and when, and
//! a Revoke button. Revoking ends the grant: its refresh tokens are refused and the gateway,
//! which reads the grant on every call, refuses its access tokens at once.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::csrf::VerifiedForm;
use super::error::PageError;
use super::pages;
use crate::audit::{Audit, AuditAction, AuditEvent, Target, TargetKind};
use crate::auth::SessionUser;
use crate::state::AppState;
use crate::store::StoreError;

#[derive(Debug, Default, Deserialize)]
pub(super) struct DoneQuery {
    done: Option<String>,
}

/// `GET /clients`.
pub(super) async fn list(
    State(state): State<AppState>,
    session: SessionUser,
    Query(query): Query<DoneQuery>,
) -> Response {
    let grants = match state.store.user_grants(session.user.id).await {
        Ok(grants) => grants,
        Err(e) => return pages::error_page(Some(&session), e),
    };
    let notice = match query.done.as_deref() {
        Some("revoked") => {
            Some("Access revoked. That client's tokens no longer work; it has to ask you again.")
        }
        _ => None,
    };
    let body = html! {
        h1 { "Connected MCP clients" }
        @if let Some(notice) = notice { p.notice role="status" { (notice) } }
        p { "The MCP clients (Claude, Cursor, scripts…) you allowed to call servers as you. Revoke one you no longer use or do not recognise." }
        @if grants.is_empty() {
            p { "No client has access to a server as you." }
        } @else {
            table {
                caption { (grants.len()) " authorizations" }
                thead { tr {
                    th scope="col" { "Client" } th scope="col" { "Server" }
                    th scope="col" { "Allowed" } th scope="col" { "Last token" } th scope="col" { "Access" }
                } }
                tbody {
                    @for item in &grants {
                        @let name = item.client_name.clone().unwrap_or_else(|| "Unnamed client".to_owned());
                        tr {
                            th scope="row" { (name) br; small { code { (item.grant.client_id) } } }
                            td { a href={ "/servers/" (item.server_slug) } { (item.server_name) } }
                            td { (pages::format_time(item.grant.created_at)) }
                            td { (item.last_token_at.map_or_else(|| "none yet".to_owned(), pages::format_time)) }
                            td {
                                form method="post" action={ "/clients/" (item.grant.id) "/revoke" } {
                                    input type="hidden" name="csrf" value=(session.csrf);
                                    button.secondary type="submit" aria-label={ "Revoke " (name) " for " (item.server_name) } { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    pages::page("MCP clients", Some(&session), body).into_response()
}

/// `POST /clients/{grant}/revoke`: revokes one of the user's own grants (another user's is a
/// 404, as if it did not exist).
pub(super) async fn revoke(
    State(state): State<AppState>,
    audit: Audit,
    Path(grant): Path<String>,
    VerifiedForm { session, .. }: VerifiedForm,
) -> Response {
    let not_found = || {
        pages::error_page(
            Some(&session),
            PageError::not_found("you have no such authorization".to_owned()),
        )
    };
    let Ok(id) = Uuid::parse_str(&grant) else {
        return not_found();
    };
    let grant = match state.store.grant_with_user(id).await {
        Ok((grant, _)) if grant.user_id == session.user.id => grant,
        Ok(_) | Err(StoreError::NotFound) => return not_found(),
        Err(e) => return pages::error_page(Some(&session), e),
    };
    match state.store.revoke_grant(id, state.clock.now()).await {
        Ok(()) => {
            tracing::info!(user = %session.user.id, grant = %id, "grant revoked from the dashboard");
            audit
                .record(
                    &session.user,
                    AuditEvent::new(
                        AuditAction::ClientRevoked,
                        Target::new(TargetKind::Client, grant.id, grant.client_id.clone()),
                    )
                    .with("client_id", grant.client_id)
                    .with("server_id", grant.server_id.to_string()),
                )
                .await;
            Redirect::to("/clients?done=revoked").into_response()
        }
        Err(e) => pages::error_page(Some(&session), e),
    }
}
