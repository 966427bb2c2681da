//! A server's Settings (admins and developers): name, description and icon; the auth type,
//! read-only with the reason; env vars, write-only (a saved value is never shown again, not
//! even masked to its length) with the prompt to redeploy; disable/enable; delete (in
//! `server_lifecycle`). Every action goes through [`Servers`](crate::servers::Servers), the same
//! operations as the API.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use super::csrf::VerifiedForm;
use super::error::PageError;
use super::server_page::{Tab, auth_explanation, icon, load, tabs};
use super::{access, maintainers, pages};
use crate::audit::{Audit, AuditAction, AuditEvent, Target};
use crate::auth::SessionUser;
use crate::servers::{AUTH_TYPE_IMMUTABLE, ServerPatch};
use crate::state::AppState;
use crate::store::{EnvVarMeta, Server};

/// What env var changes mean, said wherever they are made (SPEC §5).
const NEXT_DEPLOYMENT: &str = "Changes to environment variables take effect on the next \
     deployment: redeploy to apply them.";

/// The General form as shown: the server's values, or what the user typed.
#[derive(Debug, Default, Deserialize)]
pub(super) struct GeneralForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    icon: String,
}

impl GeneralForm {
    fn of(server: &Server) -> Self {
        Self {
            name: server.name.clone(),
            description: server.description.clone(),
            icon: server.icon.clone().unwrap_or_default(),
        }
    }
}

/// Everything the settings page shows besides the server itself.
struct View<'a> {
    general: GeneralForm,
    general_error: Option<&'a PageError>,
    /// The name typed into the add form (never the value: it is a secret).
    env_name: &'a str,
    env_error: Option<&'a PageError>,
    notice: Option<&'static str>,
    /// Show the redeploy prompt.
    prompt_redeploy: bool,
    /// The email typed into the Maintainers form and why it was refused.
    maintainer: Option<(&'a str, &'a PageError)>,
}

fn notice_of(done: Option<&str>) -> (Option<&'static str>, bool) {
    match done {
        Some("saved") => (Some("Settings saved."), false),
        Some("env") => (Some("Environment variable saved."), true),
        Some("env-removed") => (Some("Environment variable removed."), true),
        Some("redeploy") => (
            Some(
                "A new deployment was requested. It replaces the running one once it answers \
                 its health check.",
            ),
            false,
        ),
        Some("disabled") => (
            Some("The server is disabled: its MCP URL answers no calls until it is enabled."),
            false,
        ),
        Some("enabled") => (Some("The server is enabled."), false),
        Some("maintainer-added") => (Some("Maintainer added."), false),
        Some("maintainer-removed") => (Some("Maintainer removed."), false),
        _ => (None, false),
    }
}

/// Whether an env var changed after the latest deployment started.
async fn env_changed_since_deployment(
    state: &AppState,
    server: &Server,
    vars: &[EnvVarMeta],
) -> Result<bool, PageError> {
    let latest = state.store.list_deployments(server.id, 1).await?;
    let started = latest.first().map_or(i64::MIN, |d| d.created_at);
    Ok(vars.iter().any(|v| v.updated_at > started))
}

async fn settings_page(
    state: &AppState,
    session: &SessionUser,
    server: &Server,
    view: View<'_>,
    status: StatusCode,
) -> Response {
    let vars = match state.servers.list_env(&server.id.to_string()).await {
        Ok(vars) => vars,
        Err(e) => return pages::error_page(Some(session), e),
    };
    let pending = match env_changed_since_deployment(state, server, &vars).await {
        Ok(pending) => pending,
        Err(e) => return pages::error_page(Some(session), e),
    };
    let (typed, maintainer_error) = view.maintainer.unzip();
    let maintainers = match maintainers::section(
        state,
        session,
        server,
        typed.unwrap_or(""),
        maintainer_error,
    )
    .await
    {
        Ok(section) => section,
        Err(e) => return pages::error_page(Some(session), e),
    };
    let base = format!("/servers/{}", server.slug);
    let csrf = html! { input type="hidden" name="csrf" value=(session.csrf); };
    let body = html! {
        div.title { (icon(server)) h1 { (server.name) " · settings" } }
        (tabs(server, Tab::Settings, true))
        @if let Some(notice) = view.notice { p.notice role="status" { (notice) } }

        section aria-labelledby="general" {
            h2 id="general" { "General" }
            @if let Some(err) = view.general_error {
                p.error role="alert" id="general-error" { (err.public_message()) }
            }
            form.card method="post" action={ (base) "/settings" } {
                (csrf)
                label for="name" { "Name (required)" }
                input id="name" name="name" type="text" required maxlength="100" value=(view.general.name)
                    aria-invalid=[view.general_error.map(|_| "true")]
                    aria-describedby=[view.general_error.map(|_| "general-error")];
                label for="description" { "Description" }
                textarea id="description" name="description" rows="3" { (view.general.description) }
                label for="icon" { "Icon" }
                small id="icon-help" { "A data:image URL is shown on the dashboard; other URLs or paths are kept for clients. Empty removes it." }
                input id="icon" name="icon" type="text" value=(view.general.icon) aria-describedby="icon-help";
                button type="submit" { "Save" }
            }
        }

        section aria-labelledby="auth" {
            h2 id="auth" { "Authentication" }
            dl {
                dt { "Auth type" }
                dd { code { (server.auth_type.as_str()) } ": " (auth_explanation(server.auth_type)) }
            }
            p { small { "Read-only: " (AUTH_TYPE_IMMUTABLE) "." } }
        }

        section aria-labelledby="env" {
            h2 id="env" { "Environment variables" }
            p { "Values are write-only: once saved they are never shown again. " (NEXT_DEPLOYMENT) }
            @if view.prompt_redeploy || pending {
                div.prompt role="status" {
                    p { strong { "Not live yet. " } "The running deployment still has the previous environment." }
                    form method="post" action={ (base) "/redeploy" } {
                        (csrf)
                        button type="submit" { "Redeploy now" }
                    }
                }
            }
            @if let Some(err) = view.env_error {
                p.error role="alert" id="env-error" { (err.public_message()) }
            }
            @if vars.is_empty() {
                p { "No environment variable is set." }
            } @else {
                table {
                    caption { "Set variables" }
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Value" } th scope="col" { "Updated" } th scope="col" { "Change" } } }
                    tbody {
                        @for var in &vars {
                            @let id = format!("replace-{}", var.name);
                            tr {
                                td { code { (var.name) } }
                                td { span aria-label="hidden value" { "••••••••" } }
                                td { (pages::format_time(var.updated_at)) }
                                td {
                                    form.row method="post" action={ (base) "/env" } {
                                        (csrf)
                                        input type="hidden" name="name" value=(var.name);
                                        label.visually-hidden for=(id) { "New value for " (var.name) }
                                        input id=(id) name="value" type="password" autocomplete="off" required placeholder="new value";
                                        button type="submit" { "Replace" }
                                    }
                                    form.row method="post" action={ (base) "/env/" (var.name) "/delete" } {
                                        (csrf)
                                        button.secondary type="submit" aria-label={ "Remove " (var.name) } { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form.card method="post" action={ (base) "/env" } {
                (csrf)
                h3 { "Add a variable" }
                label for="env-name" { "Name" }
                small id="env-name-help" { "Letters, digits and underscores; names starting with GUMSTACK_ or GUMLOOP_, PORT and ENVIRONMENT are the platform's." }
                input id="env-name" name="name" type="text" required value=(view.env_name)
                    pattern="[A-Za-z_][A-Za-z0-9_]*" aria-describedby="env-name-help"
                    aria-invalid=[view.env_error.map(|_| "true")];
                label for="env-value" { "Value" }
                input id="env-value" name="value" type="password" autocomplete="off" required;
                button type="submit" { "Save variable" }
            }
        }

        section aria-labelledby="deployments" {
            h2 id="deployments" { "Deployment" }
            p { "A redeploy starts the server again with the current settings and environment, and switches to it once it is healthy." }
            form method="post" action={ (base) "/redeploy" } {
                (csrf)
                button type="submit" { "Redeploy" }
            }
        }

        (maintainers)

        section aria-labelledby="availability" {
            h2 id="availability" { "Availability" }
            @if server.enabled {
                p { "The server is enabled. Disabling it stops it; users' credentials and settings are kept." }
                form method="post" action={ (base) "/disable" } {
                    (csrf)
                    button.secondary type="submit" { "Disable server" }
                }
            } @else {
                p { "The server is disabled." }
                form method="post" action={ (base) "/enable" } {
                    (csrf)
                    button type="submit" { "Enable server" }
                }
            }
        }

        section aria-labelledby="danger" {
            h2 id="danger" { "Delete" }
            p { "Deleting is permanent: the server's env vars, deployments, users' credentials and connections go with it." }
            p { a.button.danger href={ (base) "/delete" } { "Delete this server…" } }
        }
    };
    (
        status,
        pages::page(&format!("{} settings", server.name), Some(session), body),
    )
        .into_response()
}

/// Loads the server of an admin page, after the role check (403 before anything else), and
/// checks that the user manages this server (403 otherwise).
pub(super) async fn managed(
    state: &AppState,
    session: &SessionUser,
    slug: &str,
) -> Result<Server, Response> {
    access::manager(session).map_err(|denied| denied.page(session))?;
    let server = load(state, session, slug).await?;
    access::server_manager(state, session, &server).await?;
    Ok(server)
}

/// The settings page with the Maintainers form refused: what was typed and why.
pub(super) async fn with_maintainer_error(
    state: &AppState,
    session: &SessionUser,
    server: &Server,
    typed: &str,
    err: &PageError,
) -> Response {
    let view = View {
        general: GeneralForm::of(server),
        general_error: None,
        env_name: "",
        env_error: None,
        notice: None,
        prompt_redeploy: false,
        maintainer: Some((typed, err)),
    };
    settings_page(state, session, server, view, err.status()).await
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DoneQuery {
    done: Option<String>,
}

/// `GET /servers/{slug}/settings`.
pub(super) async fn show(
    State(state): State<AppState>,
    session: SessionUser,
    Path(slug): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Response {
    let server = match managed(&state, &session, &slug).await {
        Ok(server) => server,
        Err(page) => return page,
    };
    let (notice, prompt_redeploy) = notice_of(query.done.as_deref());
    let view = View {
        general: GeneralForm::of(&server),
        general_error: None,
        env_name: "",
        env_error: None,
        notice,
        prompt_redeploy,
        maintainer: None,
    };
    settings_page(&state, &session, &server, view, StatusCode::OK).await
}

pub(super) fn settings_done(server: &Server, done: &str, anchor: &str) -> Response {
    Redirect::to(&format!(
        "/servers/{}/settings?done={done}#{anchor}",
        server.slug
    ))
    .into_response()
}

/// `POST /servers/{slug}/settings`: name, description, icon.
pub(super) async fn save(
    State(state): State<AppState>,
    audit: Audit,
    Path(slug): Path<String>,
    VerifiedForm { session, form }: VerifiedForm<GeneralForm>,
) -> Response {
    let server = match managed(&state, &session, &slug).await {
        Ok(server) => server,
        Err(page) => return page,
    };
    let icon = form.icon.trim();
    let patch = ServerPatch {
        name: Some(form.name.clone()),
        description: Some(form.description.trim().to_owned()),
        icon: Some((!icon.is_empty()).then(|| icon.to_owned())),
        ..ServerPatch::default()
    };
    let fields = crate::audit::patched_fields(&patch);
    match state
        .servers
        .update(&server.id.to_string(), patch)
        .await
        .map_err(PageError::from)
    {
        Ok(updated) => {
            audit
                .record(
                    &session.user,
                    AuditEvent::new(AuditAction::ServerUpdated, Target::server(&updated))
                        .with("fields", fields),
                )
                .await;
            settings_done(&updated, "saved", "general")
        }
        Err(err) if err.is_input_error() => {
            let view = View {
                general: form,
                general_error: Some(&err),
                env_name: "",
                env_error: None,
                notice: None,
                prompt_redeploy: false,
                maintainer: None,
            };
            settings_page(&state, &session, &server, view, err.status()).await
        }
        Err(err) => pages::error_page(Some(&session), err),
    }
}

#[derive(Deserialize)]
pub(super) struct EnvForm {
    #[serde(default)]
    name: String,
    /// Write-only: never put back into a page.
    value: Option<SecretString>,
}

/// `POST /servers/{slug}/env`: adds or replaces an env var.
pub(super) async fn set_env(
    State(state): State<AppState>,
    audit: Audit,
    Path(slug): Path<String>,
    VerifiedForm { session, form }: VerifiedForm<EnvForm>,
) -> Response {
    let server = match managed(&state, &session, &slug).await {
        Ok(server) => server,
        Err(page) => return page,
    };
    let name = form.name.trim();
    let result = match &form.value {
        Some(value) if !value.expose_secret().is_empty() => state
            .servers
            .set_env(&server.id.to_string(), name, value)
            .await
            .map_err(PageError::from),
        _ => Err(PageError::invalid(
            "invalid_env_value",
            "enter a value for the variable",
        )),
    };
    match result {
        Ok(created) => {
            audit
                .record(
                    &session.user,
                    AuditEvent::new(AuditAction::EnvVarSet, Target::server(&server))
                        .with("name", name)
                        .with("created", created),
                )
                .await;
            settings_done(&server, "env", "env")
        }
        Err(err) if err.is_input_error() => {
            let view = View {
                general: GeneralForm::of(&server),
                general_error: None,
                env_name: name,
                env_error: Some(&err),
                notice: None,
                prompt_redeploy: false,
                maintainer: None,
            };
            settings_page(&state, &session, &server, view, err.status()).await
        }
        Err(err) => pages::error_page(Some(&session), err),
    }
}

/// `POST /servers/{slug}/env/{name}/delete`.
pub(super) async fn delete_env(
    State(state): State<AppState>,
    audit: Audit,
    Path((slug, name)): Path<(String, String)>,
    VerifiedForm { session, .. }: VerifiedForm,
) -> Response {
    let server = match managed(&state, &session, &slug).await {
        Ok(server) => server,
        Err(page) => return page,
    };
    match state
        .servers
        .delete_env(&server.id.to_string(), &name)
        .await
    {
        Ok(()) => {
            audit
                .record(
                    &session.user,
                    AuditEvent::new(AuditAction::EnvVarDeleted, Target::server(&server))
                        .with("name", name.as_str()),
                )
                .await;
            settings_done(&server, "env-removed", "env")
        }
        Err(err) => pages::error_page(Some(&session), err),
    }
}

/// `POST /servers/{slug}/redeploy`.
pub(super) async fn redeploy(
    State(state): State<AppState>,
    audit: Audit,
    Path(slug): Path<String>,
    VerifiedForm { session, .. }: VerifiedForm,
) -> Response {
    let server = match managed(&state, &session, &slug).await {
        Ok(server) => server,
        Err(page) => return page,
    };
    match state.servers.redeploy(&server.id.to_string()).await {
        Ok(generation) => {
            audit
                .record(
                    &session.user,
                    AuditEvent::new(AuditAction::ServerRedeployed, Target::server(&server))
                        .with("generation", generation),
                )
                .await;
            settings_done(&server, "redeploy", "deployments")
        }
        Err(err) => pages::error_page(Some(&session), err),
    }
}
