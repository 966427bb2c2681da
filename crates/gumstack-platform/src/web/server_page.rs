//! A server's Overview (`/servers/{slug}`): the MCP URL to copy, how it runs (status of the
//! deployments), its auth type and the tools config.yaml lists. Every logged-in user may read
//! it; the Settings tab is for admins and developers.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use gumstack_config::Config;
use maud::{Markup, html};
use serde::Deserialize;

use super::pages;
use super::servers::run_status;
use crate::auth::SessionUser;
use crate::state::AppState;
use crate::store::{AuthType, DeploymentStatus, Server};

/// The server a page is about, or the error page (404 for an unknown slug).
pub(super) async fn load(
    state: &AppState,
    session: &SessionUser,
    slug: &str,
) -> Result<Server, Response> {
    state
        .servers
        .resolve(slug)
        .await
        .map_err(|e| pages::error_page(Some(session), e))
}

/// The tabs of a server's pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tab {
    Overview,
    Tools,
    Deployments,
    Settings,
}

pub(super) fn tabs(session: &SessionUser, server: &Server, current: Tab) -> Markup {
    let current_of = |tab: Tab| (tab == current).then_some("page");
    html! {
        nav.tabs aria-label="Server" {
            a href={ "/servers/" (server.slug) } aria-current=[current_of(Tab::Overview)] { "Overview" }
            a href={ "/servers/" (server.slug) "/tools" } aria-current=[current_of(Tab::Tools)] { "Tools" }
            @if session.user.role.manages_servers() {
                a href={ "/servers/" (server.slug) "/deployments" } aria-current=[current_of(Tab::Deployments)] { "Deployments" }
            }
            @if session.user.role.manages_servers() {
                a href={ "/servers/" (server.slug) "/settings" } aria-current=[current_of(Tab::Settings)] { "Settings" }
            }
        }
    }
}

/// The icon, when it is an inline image (the Content-Security-Policy loads no other origin).
pub(super) fn icon(server: &Server) -> Markup {
    html! {
        @if let Some(icon) = server.icon.as_deref().filter(|i| i.starts_with("data:image/")) {
            img.icon src=(icon) alt="" width="32" height="32";
        }
    }
}

/// What each auth type means for the people who use the server.
pub(super) fn auth_explanation(kind: AuthType) -> &'static str {
    match kind {
        AuthType::Oauth => "each user connects their own account with the service",
        AuthType::Cred => "each user enters their own credentials in a form on this platform",
        AuthType::None => "the server uses keys the developer set as environment variables",
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct OverviewQuery {
    done: Option<String>,
}

/// `GET /servers/{slug}`.
pub(super) async fn overview(
    State(state): State<AppState>,
    session: SessionUser,
    Path(slug): Path<String>,
    Query(query): Query<OverviewQuery>,
) -> Response {
    let server = match load(&state, &session, &slug).await {
        Ok(server) => server,
        Err(page) => return page,
    };
    let latest = match state.store.list_deployments(server.id, 1).await {
        Ok(list) => list.into_iter().next(),
        Err(e) => return pages::error_page(Some(&session), e),
    };
    let tools = Config::parse(&server.config_yaml)
        .map(|c| c.tools)
        .unwrap_or_default();
    let status = match (run_status(&state, &server), &latest) {
        ("not running", Some(d)) if d.status == DeploymentStatus::Deploying => "deploying",
        (status, _) => status,
    };
    let mcp_url = state.urls.mcp_url(&server.slug);
    let manager = session.user.role.manages_servers();
    let notice = match query.done.as_deref() {
        Some("created") => Some("The server was created. Its first deployment is starting."),
        _ => None,
    };
    let body = html! {
        div.title { (icon(&server)) h1 { (server.name) } }
        @if !server.description.is_empty() { p { (server.description) } }
        (tabs(&session, &server, Tab::Overview))
        @if let Some(notice) = notice { p.notice role="status" { (notice) } }
        section aria-labelledby="connect" {
            h2 id="connect" { "Connect" }
            label for="mcp-url" { "MCP URL" }
            input.copy id="mcp-url" type="text" readonly value=(mcp_url) aria-describedby="mcp-url-help";
            small id="mcp-url-help" {
                "Add this URL to your MCP client (Claude, Cursor, …). It signs you in to this platform the first time."
            }
            @if server.auth_type == AuthType::Cred && server.enabled {
                p { a href={ "/connections/" (server.slug) } { "Enter your credentials for this server" } }
            }
        }
        section aria-labelledby="status" {
            h2 id="status" { "Status" }
            dl {
                dt { "Status" } dd { (status) }
                dt { "Auth type" } dd { code { (server.auth_type.as_str()) } ": " (auth_explanation(server.auth_type)) }
                @if let Some(deployment) = &latest {
                    dt { "Latest deployment" }
                    dd {
                        "#" (deployment.generation) " · " (deployment.status.as_str())
                        " · " (pages::format_time(deployment.updated_at))
                    }
                    @if manager {
                        @if let Some(error) = &deployment.error {
                            dt { "Why it failed" } dd { pre.log { (error) } }
                        }
                    }
                } @else {
                    dt { "Latest deployment" } dd { "none yet" }
                }
                dt { "Created" } dd { (pages::format_time(server.created_at)) }
            }
        }
        @if !tools.is_empty() {
            section aria-labelledby="tools" {
                h2 id="tools" { "Tools" }
                ul.list {
                    @for tool in &tools {
                        li { code { (tool.name) } @if let Some(description) = &tool.description { " — " (description) } }
                    }
                }
            }
        }
    };
    pages::page(&server.name, Some(&session), body).into_response()
}
