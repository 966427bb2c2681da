//! A server's Tools tab (`/servers/{slug}/tools`, SPEC §10): each known tool as a row, each
//! permission group as a column, the cell saying whether a member's call gets through. Admins
//! change a cell with its own small form (`POST /servers/{slug}/tools/access`); developers
//! read every column; a member reads only their own group's column. Changes go through the
//! permission groups service, so the next call follows them.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::csrf::VerifiedForm;
use super::error::PageError;
use super::server_page::{Tab, load, tabs};
use super::{access, pages};
use crate::audit::{Audit, access_changed};
use crate::auth::SessionUser;
use crate::server_tools::{GroupColumn, ToolMatrix, ToolSource, set_cell, tool_matrix};
use crate::state::AppState;
use crate::store::{Role, Server};

#[derive(Debug, Default, Deserialize)]
pub(super) struct DoneQuery {
    done: Option<String>,
}

/// `GET /servers/{slug}/tools`.
pub(super) async fn show(
    State(state): State<AppState>,
    session: SessionUser,
    Path(slug): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Response {
    let server = match load(&state, &session, &slug).await {
        Ok(server) => server,
        Err(page) => return page,
    };
    let manages = match state.servers.can_manage(&session.user, &server).await {
        Ok(manages) => manages,
        Err(e) => return pages::error_page(Some(&session), e),
    };
    let only = (!session.user.role.manages_servers()).then_some(session.user.group_id);
    let matrix = match tool_matrix(&*state.store, &state.permissions, &server, only).await {
        Ok(matrix) => matrix,
        Err(e) => return pages::error_page(Some(&session), e),
    };
    let editable = session.user.role == Role::Admin;
    let notice = (query.done.as_deref() == Some("saved"))
        .then_some("Saved. The next call of every member of that group follows it.");
    let body = html! {
        div.title { (super::server_page::icon(&server)) h1 { (server.name) } }
        (tabs(&server, Tab::Tools, manages))
        @if let Some(notice) = notice { p.notice role="status" { (notice) } }
        @if only.is_some() {
            p { "The tools of this server, and whether your group may call them." }
        } @else {
            p {
                "Each tool of this server, and whether the members of each permission group may call it. "
                "Tools come from config.yaml and from the list the server gave when it was last deployed."
                @if editable {
                    " A tool without its own decision follows the group's default for this server; "
                    a href="/groups" { "Permission groups" } " sets the defaults."
                }
            }
        }
        (matrix_table(&session, &server, &matrix, editable))
    };
    pages::page(&format!("{} · Tools", server.name), Some(&session), body).into_response()
}

fn source_text(source: Option<ToolSource>) -> &'static str {
    match source {
        Some(ToolSource::Both) => "config.yaml and the server",
        Some(ToolSource::Config) => "config.yaml only (the server did not list it)",
        Some(ToolSource::Discovered) => "listed by the server",
        None => "a decision only (not listed)",
    }
}

fn matrix_table(
    session: &SessionUser,
    server: &Server,
    matrix: &ToolMatrix,
    editable: bool,
) -> Markup {
    html! {
        @if matrix.rows.is_empty() {
            p { "No tools known yet: config.yaml names none and the server has not listed any. They appear after the next deployment that answers tools/list." }
        } @else {
            table.matrix {
                caption { (matrix.rows.len()) " tools × " (matrix.columns.len()) " groups" }
                thead {
                    tr {
                        th scope="col" { "Tool" }
                        @for column in &matrix.columns {
                            th scope="col" {
                                (column.group.group.name)
                                br;
                                small {
                                    @if !column.access.enabled { "server off for this group" }
                                    @else if column.access.default_allow { "default: allowed" }
                                    @else { "default: denied" }
                                }
                            }
                        }
                    }
                }
                tbody {
                    @for row in &matrix.rows {
                        tr {
                            th scope="row" {
                                code { (row.name) }
                                @if let Some(description) = row.known.as_ref().and_then(|k| k.description.as_deref()) {
                                    br; small { (description) }
                                }
                                br; small.source { "From " (source_text(row.known.as_ref().map(|k| k.source))) }
                            }
                            @for column in &matrix.columns {
                                (cell(session, server, column, &row.name, editable))
                            }
                        }
                    }
                }
            }
        }
    }
}

fn cell(
    session: &SessionUser,
    server: &Server,
    column: &GroupColumn,
    tool: &str,
    editable: bool,
) -> Markup {
    let cell = column.cell(tool);
    let group = &column.group.group;
    let state = if cell.allowed { "allowed" } else { "denied" };
    html! {
        td data-group=(group.id) data-tool=(tool) {
            span class={ "decision " (state) } { @if cell.allowed { "Allowed" } @else { "Denied" } }
            @if !cell.server_enabled { " " small { "(server off)" } }
            @else if !cell.own_decision { " " small { "(default)" } }
            @if editable {
                form.cell method="post" action={ "/servers/" (server.slug) "/tools/access" } {
                    input type="hidden" name="csrf" value=(session.csrf);
                    input type="hidden" name="group" value=(group.id);
                    input type="hidden" name="tool" value=(tool);
                    @if cell.own_decision {
                        button.secondary type="submit" name="decision" value="default"
                            aria-label={ "Follow the default for " (tool) " in " (group.name) } { "Use default" }
                    }
                    @if cell.allowed || !cell.server_enabled {
                        button.secondary type="submit" name="decision" value="deny"
                            aria-label={ "Deny " (tool) " to " (group.name) } { "Deny" }
                    }
                    @if !cell.allowed {
                        button.secondary type="submit" name="decision" value="allow"
                            aria-label={ "Allow " (tool) " to " (group.name) } { "Allow" }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub(super) struct CellForm {
    #[serde(default)]
    group: String,
    #[serde(default)]
    tool: String,
    #[serde(default)]
    decision: String,
}

/// `POST /servers/{slug}/tools/access` (admins): one cell's decision.
pub(super) async fn set_access(
    State(state): State<AppState>,
    audit: Audit,
    Path(slug): Path<String>,
    VerifiedForm { session, form }: VerifiedForm<CellForm>,
) -> Response {
    if let Err(refused) = access::admin(&session) {
        return refused.page(&session);
    }
    let result = async {
        let server = state.servers.resolve(&slug).await?;
        let group = Uuid::parse_str(&form.group)
            .map_err(|_| PageError::not_found("there is no such group"))?;
        let decision = match form.decision.as_str() {
            "allow" => Some(true),
            "deny" => Some(false),
            "default" => None,
            _ => {
                return Err(PageError::invalid(
                    "invalid_decision",
                    "choose allow, deny or the default",
                ));
            }
        };
        let stored = set_cell(
            &*state.store,
            &state.permissions,
            &server,
            group,
            &form.tool,
            decision,
        )
        .await?;
        Ok::<_, PageError>((group, server, stored))
    }
    .await;
    match result {
        Ok((group, server, stored)) => {
            if let Ok(summary) = state.permissions.group(group).await {
                audit
                    .record(
                        &session.user,
                        access_changed(summary.group.id, &summary.group.name, &server, &stored),
                    )
                    .await;
            }
            Redirect::to(&format!("/servers/{}/tools?done=saved", server.slug)).into_response()
        }
        Err(e) => pages::error_page(Some(&session), e),
    }
}
