//! Taking a server out of service and back: disable/enable (reversible), and delete after a
//! confirmation step where the admin or developer types the slug. Every action goes through
//! [`Servers`](crate::servers::Servers), the same operations as the API.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::csrf::VerifiedForm;
use super::pages;
use super::server_settings::{managed, settings_done};
use crate::audit::{Audit, AuditAction, AuditEvent, Target};
use crate::auth::SessionUser;
use crate::state::AppState;
use crate::store::Server;

async fn set_enabled(
    state: &AppState,
    audit: &Audit,
    session: &SessionUser,
    slug: &str,
    enabled: bool,
) -> Response {
    let server = match managed(state, session, slug).await {
        Ok(server) => server,
        Err(page) => return page,
    };
    match state
        .servers
        .set_enabled(&server.id.to_string(), enabled)
        .await
    {
        Ok(server) => {
            let action = if enabled {
                AuditAction::ServerEnabled
            } else {
                AuditAction::ServerDisabled
            };
            audit
                .record(
                    &session.user,
                    AuditEvent::new(action, Target::server(&server)),
                )
                .await;
            settings_done(
                &server,
                if enabled { "enabled" } else { "disabled" },
                "availability",
            )
        }
        Err(err) => pages::error_page(Some(session), err),
    }
}

/// `POST /servers/{slug}/disable`.
pub(super) async fn disable(
    State(state): State<AppState>,
    audit: Audit,
    Path(slug): Path<String>,
    VerifiedForm { session, .. }: VerifiedForm,
) -> Response {
    set_enabled(&state, &audit, &session, &slug, false).await
}

/// `POST /servers/{slug}/enable`.
pub(super) async fn enable(
    State(state): State<AppState>,
    audit: Audit,
    Path(slug): Path<String>,
    VerifiedForm { session, .. }: VerifiedForm,
) -> Response {
    set_enabled(&state, &audit, &session, &slug, true).await
}

fn confirm_page(session: &SessionUser, server: &Server, typed: &str, error: bool) -> Markup {
    pages::TypeToConfirm {
        what: &server.name,
        consequences: html! {
            li { "removes its settings, environment variables and deployments (the process is stopped);" }
            li { "removes every user's credentials and connections for it, and the MCP clients' access to it;" }
            li { "ends its MCP URL " code { "/mcp/" (server.slug) } ", which stops answering." }
        },
        expected: &server.slug,
        expected_is: "the server's slug",
        action: &format!("/servers/{}/delete", server.slug),
        cancel: &format!("/servers/{}/settings", server.slug),
    }
    .page(session, typed, error)
}

/// `GET /servers/{slug}/delete`: the confirmation step.
pub(super) async fn confirm_delete(
    State(state): State<AppState>,
    session: SessionUser,
    Path(slug): Path<String>,
) -> Response {
    match managed(&state, &session, &slug).await {
        Ok(server) => confirm_page(&session, &server, "", false).into_response(),
        Err(page) => page,
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

/// `POST /servers/{slug}/delete`: deletes once the slug was typed.
pub(super) async fn delete(
    State(state): State<AppState>,
    audit: Audit,
    Path(slug): Path<String>,
    VerifiedForm { session, form }: VerifiedForm<DeleteForm>,
) -> Response {
    let server = match managed(&state, &session, &slug).await {
        Ok(server) => server,
        Err(page) => return page,
    };
    if form.confirm.trim() != server.slug {
        return (
            StatusCode::BAD_REQUEST,
            confirm_page(&session, &server, &form.confirm, true),
        )
            .into_response();
    }
    match state.servers.delete(&server.id.to_string()).await {
        Ok(deleted) => {
            audit
                .record(
                    &session.user,
                    AuditEvent::new(AuditAction::ServerDeleted, Target::server(&deleted)),
                )
                .await;
            Redirect::to("/?done=deleted").into_response()
        }
        Err(err) => pages::error_page(Some(&session), err),
    }
}
