//! The servers list, which is the home page (search by name, show disabled, mine only), and
//! creating a server from a pasted config.yaml (SPEC §2, §10). Creation goes through
//! [`Servers::create`](crate::servers::Servers::create): the same validation as the API and
//! the CLI, so a config error names its line and column here too.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::csrf::VerifiedForm;
use super::error::PageError;
use super::{access, pages};
use crate::audit::{Audit, AuditAction, AuditEvent, Target};
use crate::auth::SessionUser;
use crate::servers::NewServer;
use crate::state::AppState;
use crate::store::{RuntimeSpec, Server, ServerLimits};

/// How a server runs right now, in a word or two.
pub(super) fn run_status(state: &AppState, server: &Server) -> &'static str {
    if !server.enabled {
        return "disabled";
    }
    if server.runtime.is_none() {
        return "no runtime";
    }
    match state.supervisor.live(server.id) {
        Some(live) if live.generation >= server.deploy_generation => "live",
        Some(_) => "live, new deployment pending",
        None => "not running",
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    q: String,
    /// Checkbox: present when ticked.
    disabled: Option<String>,
    /// Checkbox: present when ticked.
    mine: Option<String>,
    done: Option<String>,
}

/// `GET /`: the servers list.
pub(super) async fn list(
    State(state): State<AppState>,
    session: SessionUser,
    Query(query): Query<ListQuery>,
) -> Response {
    let servers = match state.visible_servers(&session.user).await {
        Ok(servers) => servers,
        Err(e) => return pages::error_page(Some(&session), e),
    };
    let total = servers.len();
    let needle = query.q.trim().to_lowercase();
    let show_disabled = query.disabled.is_some();
    let mine = query.mine.is_some();
    let shown: Vec<Server> = servers
        .into_iter()
        .filter(|s| show_disabled || s.enabled)
        .filter(|s| !mine || s.owner_id == Some(session.user.id))
        .filter(|s| {
            needle.is_empty() || s.name.to_lowercase().contains(&needle) || s.slug.contains(&needle)
        })
        .collect();
    let notice = match query.done.as_deref() {
        Some("deleted") => Some("The server was deleted."),
        _ => None,
    };
    let manager = session.user.role.manages_servers();
    let body = html! {
        h1 { "Servers" }
        @if let Some(notice) = notice { p.notice role="status" { (notice) } }
        @if manager {
            p { a.button href="/new" { "Create a server" } }
        }
        form.filters method="get" action="/" role="search" aria-label="Filter servers" {
            div.field {
                label for="q" { "Search by name" }
                input id="q" name="q" type="search" value=(query.q);
            }
            div.check {
                input id="disabled" name="disabled" type="checkbox" value="1" checked[show_disabled];
                label for="disabled" { "Show disabled servers" }
            }
            div.check {
                input id="mine" name="mine" type="checkbox" value="1" checked[mine];
                label for="mine" { "Only servers I created" }
            }
            button type="submit" { "Filter" }
        }
        @if shown.is_empty() {
            @if total == 0 {
                p { "No server is registered yet."
                    @if manager { " " a href="/new" { "Create the first one" } "." } }
            } @else {
                p { "No server matches these filters." }
            }
        } @else {
            table {
                caption { (shown.len()) " of " (total) " servers" }
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Auth" }
                    th scope="col" { "Status" } th scope="col" { "MCP URL" }
                } }
                tbody {
                    @for server in &shown {
                        tr {
                            td {
                                a href={ "/servers/" (server.slug) } { strong { (server.name) } }
                                @if server.owner_id == Some(session.user.id) { " " span.tag { "yours" } }
                                br; small { (server.description) }
                            }
                            td { (server.auth_type.as_str()) }
                            td { (run_status(&state, server)) }
                            td { code { (state.urls.mcp_url(&server.slug)) } }
                        }
                    }
                }
            }
        }
    };
    pages::page("Servers", Some(&session), body).into_response()
}

/// What the create form holds (kept when it is shown again with an error).
#[derive(Debug, Default, Deserialize)]
pub(super) struct CreateForm {
    #[serde(default)]
    config_yaml: String,
    #[serde(default)]
    command: String,
    /// One argument per line.
    #[serde(default)]
    args: String,
    #[serde(default)]
    working_dir: String,
    #[serde(default)]
    slug: String,
}

/// The form field an error belongs to, by the error's code.
fn field_of(err: &PageError) -> &'static str {
    match err.code() {
        "invalid_runtime" => "command",
        "invalid_slug" | "slug_taken" => "slug",
        _ => "config_yaml",
    }
}

fn create_page(session: &SessionUser, form: &CreateForm, error: Option<&PageError>) -> Markup {
    let error_in = |field: &str| error.filter(|e| field_of(e) == field);
    let invalid = |field: &str| error_in(field).map(|_| "true");
    let described = |field: &str, help: &str| match error_in(field) {
        Some(_) => format!("{field}-error {help}"),
        None => help.to_owned(),
    };
    let field_error = |field: &str| {
        html! {
            @if let Some(err) = error_in(field) {
                p.field-error id={ (field) "-error" } { (err.public_message()) }
            }
        }
    };
    let body = html! {
        h1 { "Create a server" }
        @if let Some(err) = error {
            div.error role="alert" {
                p { "The server was not created: " (err.public_message()) }
            }
        }
        form.card.wide method="post" action="/new" {
            input type="hidden" name="csrf" value=(session.csrf);
            label for="config_yaml" { "config.yaml (required)" }
            small id="config_yaml-help" {
                "Paste the server's config.yaml: its name, description and auth type come from it. "
                "The auth type can never change once the server exists."
            }
            (field_error("config_yaml"))
            textarea id="config_yaml" name="config_yaml" rows="16" required spellcheck="false"
                aria-describedby=(described("config_yaml", "config_yaml-help"))
                aria-invalid=[invalid("config_yaml")] { (form.config_yaml) }
            label for="command" { "Command (required)" }
            small id="command-help" { "The program that starts the server, e.g. /srv/linear/server." }
            (field_error("command"))
            input id="command" name="command" type="text" required value=(form.command)
                aria-describedby=(described("command", "command-help"))
                aria-invalid=[invalid("command")];
            label for="args" { "Arguments" }
            small id="args-help" { "One per line." }
            textarea id="args" name="args" rows="3" spellcheck="false" aria-describedby="args-help" { (form.args) }
            label for="working_dir" { "Working directory" }
            input id="working_dir" name="working_dir" type="text" value=(form.working_dir);
            label for="slug" { "URL slug" }
            small id="slug-help" { "Lower-case letters, digits and dashes; derived from the name when empty." }
            (field_error("slug"))
            input id="slug" name="slug" type="text" value=(form.slug)
                aria-describedby=(described("slug", "slug-help"))
                aria-invalid=[invalid("slug")];
            button type="submit" { "Create server" }
        }
    };
    pages::page("Create a server", Some(session), body)
}

/// `GET /new`: the create form (admins and developers).
pub(super) async fn new_form(session: SessionUser) -> Response {
    if let Err(refused) = access::manager(&session) {
        return refused.page(&session);
    }
    create_page(&session, &CreateForm::default(), None).into_response()
}

fn non_empty(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// `POST /new`: creates the server, or shows the form again with the error and what was typed.
pub(super) async fn create(
    State(state): State<AppState>,
    audit: Audit,
    VerifiedForm { session, form }: VerifiedForm<CreateForm>,
) -> Response {
    if let Err(refused) = access::manager(&session) {
        return refused.page(&session);
    }
    let new = NewServer {
        config_yaml: form.config_yaml.clone(),
        runtime: Some(RuntimeSpec {
            command: form.command.trim().to_owned(),
            args: form
                .args
                .lines()
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect(),
            working_dir: non_empty(&form.working_dir),
            limits: ServerLimits::default(),
        }),
        slug: non_empty(&form.slug),
        owner_id: Some(session.user.id),
        ..NewServer::default()
    };
    match state.servers.create(new).await.map_err(PageError::from) {
        Ok(server) => {
            audit
                .record(
                    &session.user,
                    AuditEvent::new(AuditAction::ServerCreated, Target::server(&server))
                        .with("auth_type", server.auth_type.as_str()),
                )
                .await;
            Redirect::to(&format!("/servers/{}?done=created", server.slug)).into_response()
        }
        Err(err) if err.is_input_error() => {
            (err.status(), create_page(&session, &form, Some(&err))).into_response()
        }
        Err(err) => pages::error_page(Some(&session), err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn errors_point_at_their_field() {
        let config = PageError::invalid("invalid_config", "config.yaml (line 2, column 1): x");
        assert_eq!(field_of(&config), "config_yaml");
        assert_eq!(
            field_of(&PageError::invalid("invalid_runtime", "x")),
            "command"
        );
        let taken = PageError::from(crate::servers::ServerError::SlugTaken("x".into()));
        assert_eq!(field_of(&taken), "slug");
        assert_eq!(taken.status(), StatusCode::CONFLICT);
        assert_eq!(config.status(), StatusCode::BAD_REQUEST);
    }
}
